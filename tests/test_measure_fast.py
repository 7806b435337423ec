"""The shortcuts measurement's DuckDB query takes for speed (#15, bench_measure.py) change
no answer: the events' time read without ``trim`` in its common shape, and events kept
unfiltered until the join (an empty customer id, another type or no time counts nowhere)."""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from treatment_engine.measure.attribution import measure_python
from treatment_engine.measure.duckdb_stats import measure_duckdb, parsed_timestamp_sql, timestamp_sql
from treatment_engine.measure.inputs import read_decision_file, read_event_file
from treatment_engine.moments.events import iso, parse_timestamp
from treatment_engine.plan import plan_from_texts

from .test_measure import PLAN, T0

STAMP = "2026-11-01T09:30:00Z"
# What a timestamp may look like next to the common shape: spaces of every kind at either
# end (trim strips some of them), a bare date, zones, fractions, a Z in the wrong place.
ODD_STAMPS = [STAMP, f" {STAMP}", f"{STAMP} ", f"\u3000{STAMP}", f"{STAMP}\u00a0", "2026-11-01", " 2026-11-01 ",
              "2026-11-01Z", "2026-11-0Z", "2026-11-01T09:30:00", "2026-11-01T09:30:00+01:00", "2026-11-01T09:30Z",
              "2026-11-01T09:30:00.250Z", "2026-11-01 09:30:00Z", "2026-13-01T09:30:00Z", "2026-11-01TZ9:30:00Z",
              "20261101T093000Z", "9Z", "Z", "", "soon", "2026-11-01T09:30:00ZZ", "\t2026-11-01T09:30:00Z"]
# Outside the grammar (moments.events.TIMESTAMP_SHAPE) though Python's fromisoformat or
# DuckDB's cast takes them: a date with a zone, the compact form, a one-digit day, hours only,
# seven decimals, a week date; the year 0000, which DuckDB's and Spark's casts take and
# Python's dates do not; an instant whose UTC day is in the year 0 or 10000 (the first day
# ahead of UTC, the last behind it), which Python cannot show. No engine reads them as times.
OUTSIDE_THE_GRAMMAR = ["2026-11-01Z", "20261101T093000Z", "2026-11-1T09:30:00Z", "2026-11-01T09Z",
                       "2026-11-01T09:30:00.1234567Z", "2026-W44-1", "20261101", "2026-11-01T09:30:00,5Z",
                       "0000-01-01", "0000-01-01T00:00:00Z", " 0000-12-31T23:59:59+01:00",
                       "0001-01-01T00:00:00+14:00", "0001-01-01T13:59:59.5+14:00", "9999-12-31T23:59:59-12:00",
                       "9999-12-31 12:00-12:00", "9999-12-31T23:59:59.999999Z"]
PIECES = st.lists(st.sampled_from(["2026", "-", "11", "01", "T", "09", ":", "30", "00", "Z", " ", "+", "01:00",
                                   ".5", "\u3000", "\u00a0", "\t", "1", "é"]), max_size=12).map("".join)


def _both(texts: list[str]) -> list[tuple[float | None, float | None]]:
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    found = connection.execute(f"SELECT {timestamp_sql('s')}, {parsed_timestamp_sql('s')} "
                               f"FROM unnest(CAST(? AS VARCHAR[])) WITH ORDINALITY AS t(s, i) ORDER BY i",
                               [texts]).fetchall()
    connection.close()
    return [(row[0], row[1]) for row in found]


def test_the_shortcut_reads_odd_timestamps_as_the_whole_rule_does() -> None:
    found = _both(ODD_STAMPS)
    assert all(fast == whole for fast, whole in found), list(zip(ODD_STAMPS, found, strict=True))
    assert found[0][0] == parse_timestamp(STAMP)
    # The rule itself: spaces Python strips, a bare date at 00:00 UTC, zones honoured.
    for text in (f" {STAMP}", f"{STAMP} ", "2026-11-01", "2026-11-01T09:30:00", "2026-11-01T09:30:00+01:00", "soon"):
        assert found[ODD_STAMPS.index(text)][0] == parse_timestamp(text), text


@settings(max_examples=30, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=40))
def test_the_shortcut_never_changes_a_time(texts: list[str]) -> None:
    assert all(fast == whole for fast, whole in _both(texts))


@settings(max_examples=30, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=40))
def test_sql_reads_a_time_exactly_where_python_does(texts: list[str]) -> None:
    """One grammar: the SQL rule gives a time for exactly the texts parse_timestamp reads,
    and the same time."""
    assert [fast for fast, _ in _both(texts)] == [parse_timestamp(text) for text in texts]


def test_texts_outside_the_grammar_are_no_time_in_any_engine() -> None:
    assert [parse_timestamp(text) for text in OUTSIDE_THE_GRAMMAR] == [None] * len(OUTSIDE_THE_GRAMMAR)
    assert _both(OUTSIDE_THE_GRAMMAR) == [(None, None)] * len(OUTSIDE_THE_GRAMMAR)


def test_events_left_unfiltered_still_count_only_where_they_belong(tmp_path: Path) -> None:
    """A decided customer with an empty id, events without an id, of other types, with a
    time in another shape or none: the join must leave out exactly what the reference does."""
    plan = plan_from_texts(PLAN)
    decided = [{"customer_id": cid, "treatment": "none", "rule": "r", "actions": [], "channels": [], "cost": 1.0,
                "plan_version": "v1", "as_of": "2026-11-01", "arm": arm, "experiment": "r"}
               for cid, arm in (("", "champion"), ("a", "champion"), ("b", "holdout"), ("c", "holdout"))]
    happened: list[dict[str, object]] = []
    for cid in ("", "a", "b", "c", None, 7):
        for stamp in (*ODD_STAMPS, *OUTSIDE_THE_GRAMMAR, None, 1_798_000_000):
            for kind in ("churned", "payment", "complaint", None):
                happened.append({"customer_id": cid, "type": kind, "timestamp": stamp, "amount": 10})
    happened.append({"customer_id": "a", "type": "payment", "amount": 5})  # no time at all
    decisions_path, events_path = tmp_path / "d.jsonl", tmp_path / "e.jsonl"
    decisions_path.write_text("".join(json.dumps(row) + "\n" for row in decided))
    events_path.write_text("".join(json.dumps(row) + "\n" for row in happened))
    as_of = T0 + 400 * 86_400
    duck = measure_duckdb(plan, str(decisions_path), str(events_path), as_of)
    python = measure_python(plan, read_decision_file(str(decisions_path)), read_event_file(str(events_path)), as_of)
    assert duck == python
    revenue = {g.arm: g.sum for g in duck.groups if g.metric == "revenue"}
    # a and b: every payment that parses inside the window; the empty id none of its own.
    assert revenue["holdout"] > 0 and revenue["champion"] > 0


def test_the_log_is_read_a_batch_at_a_time_and_measures_the_same(tmp_path: Path) -> None:
    """`measure --decisions URL` and GET /v1/results stream the log into DuckDB in batches
    (memory bounded by a batch, not the log): the same rows, in order, the same answer."""
    from treatment_engine import Engine
    from treatment_engine.measure.inputs import decisions_table, log_decision_reader, log_decisions
    from treatment_engine.store import DecisionLog

    texts = {**PLAN, "rules/plan.yaml": "rules:\n  - {id: r, then: {treatment: none, holdout: 0.5}}\n"}
    engine = Engine.from_texts(texts)
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        log.decisions.record(engine.plan, [(p, engine.decide(p)) for p in ({"customer_id": f"c{i}"} for i in range(40))])
        database = log.database.engine
        whole = decisions_table(log_decisions(database))
        batches = list(log_decision_reader(database, size=7))
        assert [b.num_rows for b in batches] == [7, 7, 7, 7, 7, 5]
        assert whole.to_pylist() == [row for b in batches for row in b.to_pylist()]
        assert whole.column("seq").to_pylist() == list(range(40))
        events = tmp_path / "e.jsonl"
        events.write_text("".join(json.dumps({"customer_id": f"c{i}", "type": "payment", "amount": i,
                                              "timestamp": iso(time.time() + 3600)}) + "\n" for i in range(40)))
        as_of = time.time() + 11 * 86_400  # the log's decisions are timed now
        streamed = measure_duckdb(engine.plan, log_decision_reader(database, size=7), str(events), as_of)
        assert streamed == measure_duckdb(engine.plan, whole, str(events), as_of)
        revenue = [g for g in streamed.groups if g.metric == "revenue" and g.experiment == "r"]
        assert (sum(g.customers for g in revenue), sum(g.sum for g in revenue)) == (40, sum(range(40)))
    finally:
        log.close()


def test_the_strptime_shortcut_reads_no_text_the_grammar_refuses() -> None:
    """The shortcut's strptime is lenient (whitespace before a number, a one-digit second):
    every text made from the common shape by changing one or two characters, to digits,
    separators, whitespace, signs or letters, reads as parse_timestamp reads it."""
    base = STAMP
    swaps = [" ", "\t", "+", "-", "0", "9", "1", "a", ".", ":", "T", "Z", "\u3000", "\u0660"]
    texts = [base[:p] + a + base[p + 1:] for p in range(len(base)) for a in swaps]
    for p, q in itertools.combinations(range(len(base)), 2):
        for a, b in itertools.product(swaps, repeat=2):
            texts.append(base[:p] + a + base[p + 1:q] + b + base[q + 1:])
    found = [fast for fast, _ in _both(texts)]
    assert [(t, f) for t, f in zip(texts, found, strict=True) if f != parse_timestamp(t)] == []
