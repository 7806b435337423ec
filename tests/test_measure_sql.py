"""DuckDB's sufficient statistics equal the plain Python reference's over generated logs
(#15: the SQL paths against the reference, hypothesis)."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treatment_engine.measure.attribution import Measured, measure_python
from treatment_engine.measure.duckdb_stats import measure_duckdb
from treatment_engine.measure.inputs import read_decision_file, read_event_file
from treatment_engine.moments.events import iso
from treatment_engine.plan import plan_from_texts

from .test_measure import PLAN, T0, TEN_DAYS

CUSTOMERS = ["a", "b", "c", "d", "é"]
DAYS = ["2026-11-01", "2026-11-02", "2026-11-05"]
# Seconds after 2026-11-01 00:00: the window edges of every decision day, and either side.
OFFSETS = [d * 86_400 + e for d in (0, 1, 4) for e in (-1, 0, 1, TEN_DAYS - 1, TEN_DAYS, TEN_DAYS + 1)]
AMOUNTS = st.one_of(st.none(), st.integers(-5, 100), st.floats(-10, 100, allow_nan=False), st.just("12"),
                    st.booleans())


@st.composite
def decisions(draw: st.DrawFn) -> dict:
    arm, experiment, would_have = draw(st.sampled_from([
        ("champion", None, None), ("champion", "r", None), ("holdout", "r", "r"), ("x", "r", "r"),
        ("universal_holdout", "universal_holdout", "r"), ("universal_holdout", "universal_holdout", "s"),
        ("champion", "s", None)]))
    row = {"customer_id": draw(st.sampled_from(CUSTOMERS)), "treatment": "none",
           "rule": draw(st.sampled_from(["r", "s", "holdout", "default"])), "actions": [], "channels": [],
           "cost": draw(st.sampled_from([0.0, 1.5, 7.25])), "plan_version": draw(st.sampled_from(["v1", "v2"])),
           "as_of": draw(st.sampled_from(DAYS)), "arm": arm}
    for name, values in (("segment", ["young", "old"]), ("value_tier", ["gold", "o'neil"])):
        value = draw(st.sampled_from([None, *values]))
        if value is not None:
            row[name] = value
    if experiment is not None:
        row["experiment"] = experiment
    if would_have is not None:
        row["would_have"] = {"rule": would_have, "treatment": "delight", "actions": [], "channels": [], "cost": 2.0}
    return row


@st.composite
def events(draw: st.DrawFn) -> dict:
    event = {"customer_id": draw(st.sampled_from(CUSTOMERS)),
             "type": draw(st.sampled_from(["churned", "payment", "survey_response", "other"])),
             "timestamp": iso(T0 + draw(st.sampled_from(OFFSETS)))}
    for name in ("amount", "score"):
        value = draw(AMOUNTS)
        if value is not None or draw(st.booleans()):
            event[name] = value
    return event


def _same(duck: Measured, python: Measured) -> bool:
    if duck.assigned != python.assigned or len(duck.groups) != len(python.groups):
        return False
    for ours, theirs in zip(duck.groups, python.groups, strict=True):
        if (ours.key, ours.customers, ours.n) != (theirs.key, theirs.customers, theirs.n):
            return False
        for a, b in ((ours.sum, theirs.sum), (ours.sum_squares, theirs.sum_squares), (ours.cost, theirs.cost)):
            if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9):
                return False
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(decisions(), max_size=12), st.lists(events(), max_size=25),
       st.sampled_from([T0 + 10 * 86_400, T0 + 12 * 86_400, T0 + 15 * 86_400, T0 + 400 * 86_400]),
       st.sampled_from([(), ("segment",), ("segment", "value_tier")]))
def test_duckdb_matches_the_python_reference(decided: list[dict], happened: list[dict], as_of: float,
                                             by: tuple[str, ...]) -> None:
    plan = plan_from_texts(PLAN)
    with tempfile.TemporaryDirectory() as folder:
        decisions_path, events_path = Path(folder) / "d.jsonl", Path(folder) / "e.jsonl"
        decisions_path.write_text("".join(json.dumps(row) + "\n" for row in decided))
        events_path.write_text("".join(json.dumps(row) + "\n" for row in happened))
        duck = measure_duckdb(plan, str(decisions_path), str(events_path), as_of, by=by)
        python = measure_python(plan, read_decision_file(str(decisions_path)), read_event_file(str(events_path)),
                                as_of, by)
    assert _same(duck, python), (duck, python)
