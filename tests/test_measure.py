"""Results measurement (#15 items 1-3): outcome events, metrics in the plan, attribution.

Attribution is checked on both back ends (the Python reference and DuckDB) with small
hand-made logs whose answer is worked out in each test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from treatment_engine import PlanError
from treatment_engine.measure.attribution import TREATED, Measured, measure_python
from treatment_engine.measure.duckdb_stats import measure_duckdb
from treatment_engine.measure.inputs import day_start, read_decision_file, read_event_file
from treatment_engine.moments.events import EventError, parse_event
from treatment_engine.plan import plan_from_texts

from .conftest import REPO

METRICS = """
metrics:
  - {id: churn, event: churned, compute: rate, within: 10d, higher_is_better: false, value: 100}
  - {id: revenue, event: payment, compute: sum, field: amount, within: 10d, value: 1}
  - {id: big, event: payment, if: "amount >= 50", compute: count, within: 10d}
  - {id: nps, event: survey_response, compute: last, field: score, within: 10d}
  - {id: avg_pay, event: payment, compute: mean, field: amount, within: 10d}
"""
PLAN = {"rules/plan.yaml": "rules:\n  - {id: r, then: {treatment: none}}\n", "rules/metrics.yaml": METRICS}
DAY = "2026-11-01"
T0 = day_start(DAY)
TEN_DAYS = 10 * 86_400


def _plan() -> Any:
    return plan_from_texts(PLAN)


def _errors(text: str) -> list[str]:
    with pytest.raises(PlanError) as raised:
        plan_from_texts({"rules/plan.yaml": "rules:\n  - {id: r, then: {treatment: none}}\n", "rules/m.yaml": text})
    return [str(issue) for issue in raised.value.issues]


# -- items 1-2: outcome events and metrics in the plan ---------------------------------

def test_the_default_plan_measures_the_five_example_metrics() -> None:
    from treatment_engine.plan import load_plan

    plan = load_plan(REPO)
    assert [m.id for m in plan.metrics] == ["churned_90d", "revenue_90d", "nps_60d", "offer_accepted_14d",
                                            "complaints_30d"]
    churn = plan.metrics[0]
    assert (churn.compute, churn.within, churn.higher_is_better) == ("rate", 90 * 86_400, False)
    # Outcome events are events the service stores and `treatment events` reads.
    assert {"churned", "payment", "offer_accepted", "survey_response", "complaint"} <= plan.event_types


def test_outcome_events_are_events_of_the_plan() -> None:
    types = _plan().event_types
    good = parse_event({"customer_id": "c1", "type": "payment", "timestamp": DAY, "amount": 12.5}, 0, types)
    assert not isinstance(good, EventError) and good.fields["amount"] == 12.5
    unknown = parse_event({"customer_id": "c1", "type": "refund", "timestamp": DAY}, 0, types)
    assert isinstance(unknown, EventError) and "the plan's moments, metrics and journeys read: " in unknown.error
    assert "churned, payment" in unknown.error


@pytest.mark.parametrize(("text", "expected"), [
    ("metrics:\n  - {id: m, event: e, compute: sum, within: 1d}\n",
     "rules/m.yaml:2:5: value-error: 'compute: sum' needs 'field'"),
    ("metrics:\n  - {id: m, event: e, compute: rate, field: amount, within: 1d}\n",
     "rules/m.yaml:2:5: value-error: 'compute: rate' counts events and reads no field"),
    ("metrics:\n  - {id: m, event: e, compute: median, within: 1d}\n",
     "rules/m.yaml:2:23: literal-error: 'compute' must be 'rate', 'count', 'sum', 'mean' or 'last'"),
    ("metrics:\n  - {id: m, event: e, compute: rate, within: 90 days}\n", "rules/m.yaml:2:38: string-pattern-mismatch: 'within'"),
    ("metrics:\n  - {id: m, event: e, compute: rate, within: 1d, value: -1}\n", "rules/m.yaml:2:50: greater-than-equal: 'value' must be greater than or equal to 0"),
    ("metrics:\n  - {id: m, event: e, compute: rate, within: 1d, highr_is_better: false}\n",
     "rules/m.yaml:2:50: extra-forbidden: unknown key 'highr_is_better' (did you mean 'higher_is_better'?)"),
    ("metrics:\n  - {id: m, event: e, if: 'amount >', compute: rate, within: 1d}\n",
     "rules/m.yaml:2:36: bad-expression: invalid expression: the expression ends too early"),
    ("metrics:\n  - {id: m, event: e, if: 'days_since(at) > 3', compute: rate, within: 1d}\n",
     "rules/m.yaml:2:27: bad-expression: metric 'm': days_since has no as_of"),
    ("metrics:\n  - {id: m, event: e, compute: rate, within: 1d}\n  - {id: m, event: f, compute: rate, within: 1d}\n",
     "rules/m.yaml:3:6: duplicate-id: duplicate metric id 'm' (first defined at rules/m.yaml:2:5)"),
])
def test_metric_errors_are_located(text: str, expected: str) -> None:
    errors = _errors(text)
    assert any(error.startswith(expected) for error in errors), errors


def test_a_metric_if_is_section_6_over_the_event() -> None:
    big = _plan().metrics[2]
    assert big.matches({"amount": 50}) and not big.matches({"amount": 49.9})
    assert not big.matches({"amount": "60"}) and not big.matches({})  # null is not true


# -- item 3: attribution ----------------------------------------------------------------

def _decision(cid: str, arm: str = "champion", *, day: str = DAY, experiment: str | None = "r",
              rule: str = "r", version: str = "v1", cost: float = 1.0, would_have: str | None = None) -> dict:
    row: dict[str, Any] = {"customer_id": cid, "treatment": "none", "rule": rule, "actions": [], "channels": [],
                           "cost": cost, "plan_version": version, "as_of": day, "arm": arm}
    if experiment is not None:
        row["experiment"] = experiment
    if would_have is not None:
        row["would_have"] = {"rule": would_have, "treatment": "delight", "actions": [], "channels": [], "cost": 5.0}
    return row


def _event(cid: str, kind: str, seconds_after: float, **fields: Any) -> dict:
    from treatment_engine.moments.events import iso

    return {"customer_id": cid, "type": kind, "timestamp": iso(T0 + seconds_after), **fields}


def _write(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def _measure(backend: str, tmp_path: Path, decisions: list[dict], events: list[dict],
             as_of: float = T0 + 365 * 86_400) -> Measured:
    plan = _plan()
    decided, happened = _write(tmp_path / "d.jsonl", decisions), _write(tmp_path / "e.jsonl", events)
    if backend == "python":
        return measure_python(plan, read_decision_file(decided), read_event_file(happened), as_of)
    return measure_duckdb(plan, decided, happened, as_of)


def _stats(measured: Measured, metric: str, arm: str, experiment: str = "r",
           version: str = "v1", rule: str = "r") -> tuple[int, int, float]:
    for group in measured.groups:
        if group.key == (version, experiment, rule, "", arm, metric):
            return group.customers, group.n, group.sum
    return (0, 0, 0.0)


BACKENDS = pytest.mark.parametrize("backend", ["python", "duckdb"])


@BACKENDS
def test_the_window_starts_at_the_decision_and_its_edge_is_inside(backend: str, tmp_path: Path) -> None:
    events = [_event("a", "churned", TEN_DAYS),  # exactly at the edge: inside
              _event("b", "churned", TEN_DAYS + 1),  # one second after: outside
              _event("c", "churned", -1),  # before the decision: not caused by it
              _event("d", "churned", 0)]  # at the decision itself: inside
    measured = _measure(backend, tmp_path, [_decision(c) for c in "abcd"], events)
    assert _stats(measured, "churn", "champion") == (4, 4, 2.0)


@BACKENDS
def test_a_customer_counts_once_from_their_first_decision_in_the_arm_it_assigned(backend: str, tmp_path: Path) -> None:
    decisions = [_decision("a", "holdout", rule="other"),  # intent to treat: the holdout, whatever decided
                 _decision("a", "champion", day="2026-11-05"),  # later: ignored, the window stays at day 1
                 _decision("b", "champion")]
    events = [_event("a", "churned", TEN_DAYS + 3600), _event("b", "payment", 5, amount=30)]
    measured = _measure(backend, tmp_path, decisions, events)
    assert _stats(measured, "churn", "holdout") == (1, 1, 0.0)  # the day-5 window would have held it
    assert measured.assigned == {("v1", "r", "r", "", "holdout"): 1, ("v1", "r", "r", "", "champion"): 1}
    assert _stats(measured, "revenue", "champion") == (1, 1, 30.0)


@BACKENDS
def test_a_customer_whose_window_is_open_is_left_out_not_counted_as_no_event(backend: str, tmp_path: Path) -> None:
    decisions = [_decision("a"), _decision("b", day="2026-11-03")]
    # As of 2026-11-12: a's window (to 11-11) has closed, b's (to 11-13) has not.
    measured = _measure(backend, tmp_path, decisions, [], as_of=day_start("2026-11-12"))
    assert _stats(measured, "churn", "champion") == (1, 1, 0.0)
    assert measured.assigned[("v1", "r", "r", "", "champion")] == 2  # both assigned: the ratio check counts them


@BACKENDS
def test_plan_versions_are_measured_apart(backend: str, tmp_path: Path) -> None:
    decisions = [_decision("a", version="v1"), _decision("b", version="v2"), _decision("a", version="v2")]
    events = [_event("a", "churned", 10)]
    measured = _measure(backend, tmp_path, decisions, events)
    assert _stats(measured, "churn", "champion", version="v1") == (1, 1, 1.0)
    # In v2 the same customer is decided again: their v2 window starts there too.
    assert _stats(measured, "churn", "champion", version="v2") == (2, 2, 1.0)


@BACKENDS
def test_the_universal_holdout_compares_each_rule_with_doing_nothing(backend: str, tmp_path: Path) -> None:
    decisions = [_decision("a", "universal_holdout", experiment="universal_holdout", rule="holdout",
                           would_have="r", cost=0.0),
                 _decision("b", "champion", experiment=None),  # no rule experiment: counted in the holdout's only
                 _decision("c", "holdout", rule="next", would_have="r")]
    events = [_event("a", "churned", 10), _event("c", "churned", 10)]
    measured = _measure(backend, tmp_path, decisions, events)
    assert _stats(measured, "churn", "universal_holdout", experiment="universal_holdout") == (1, 1, 1.0)
    assert _stats(measured, "churn", TREATED, experiment="universal_holdout") == (2, 2, 1.0)
    assert _stats(measured, "churn", "holdout") == (1, 1, 1.0)  # c is in r's own experiment too


@BACKENDS
def test_each_compute_kind(backend: str, tmp_path: Path) -> None:
    events = [_event("a", "payment", 10, amount=20), _event("a", "payment", 20, amount=60),
              _event("a", "payment", 30, amount="lots"),  # not a number: an event, but adds to no sum
              _event("a", "survey_response", 40, score=3), _event("a", "survey_response", 50, score=9),
              _event("b", "payment", 10)]  # no amount: counts, adds nothing
    measured = _measure(backend, tmp_path, [_decision("a"), _decision("b")], events)
    assert _stats(measured, "revenue", "champion") == (2, 2, 80.0)
    assert _stats(measured, "big", "champion") == (2, 2, 1.0)  # "lots" >= 50 is null, not true
    assert _stats(measured, "nps", "champion") == (2, 1, 9.0)  # the last; b has none, so no value
    assert _stats(measured, "avg_pay", "champion") == (2, 1, 40.0)


@BACKENDS
def test_by_splits_customers_by_the_cell_of_their_first_decision(backend: str, tmp_path: Path) -> None:
    decisions = [{**_decision("a"), "segment": "young", "value_tier": "gold"},
                 {**_decision("a", day="2026-11-02"), "segment": "old", "value_tier": "gold"},  # later: not its cell
                 {**_decision("b"), "segment": "old"}]
    plan = _plan()
    decided, happened = _write(tmp_path / "d.jsonl", decisions), _write(tmp_path / "e.jsonl", [])
    as_of, by = T0 + 1e8, ("segment", "value_tier")
    measured = (measure_python(plan, read_decision_file(decided), read_event_file(happened), as_of, by)
                if backend == "python" else measure_duckdb(plan, decided, happened, as_of, by=by))
    assert measured.assigned == {("v1", "r", "r", "segment=old, value_tier=-", "champion"): 1,
                                 ("v1", "r", "r", "segment=young, value_tier=gold", "champion"): 1}


def test_decision_files_in_every_format_measure_alike(tmp_path: Path) -> None:
    from treatment_engine.outputs import DecisionWriter

    rows = [_decision("a", "holdout", would_have="r"), _decision("b"), _decision("c", "x", cost=2.5)]
    events = _write(tmp_path / "e.jsonl", [_event("a", "payment", 1, amount=5), _event("c", "churned", 3)])
    results = []
    for suffix in ("jsonl", "csv", "parquet"):
        path = tmp_path / f"d.{suffix}"
        with DecisionWriter(path, {}) as writer:
            for row in rows:
                writer.write(row)
        for measured in (measure_duckdb(_plan(), str(path), events, T0 + 1e8),
                         measure_python(_plan(), read_decision_file(str(path)), read_event_file(events), T0 + 1e8)):
            results.append(measured)
    assert all(r == results[0] for r in results)
    assert _stats(results[0], "revenue", "holdout") == (1, 1, 5.0)


@BACKENDS
def test_appendix_i_worked_example(backend: str, tmp_path: Path) -> None:
    """The example in docs/plan-format.md, appendix I, measures as the appendix says."""
    text = (REPO / "docs" / "plan-format.md").read_text().split("## Appendix I")[1]
    blocks = [block.split("\n", 1)[1] for block in text.split("```")[1::2]]
    plan = plan_from_texts({"rules/example.yaml": blocks[0]})
    (tmp_path / "d.jsonl").write_text(blocks[1])
    (tmp_path / "e.jsonl").write_text(blocks[2])
    as_of = day_start("2026-12-01")
    if backend == "python":
        measured = measure_python(plan, read_decision_file(str(tmp_path / "d.jsonl")),
                                  read_event_file(str(tmp_path / "e.jsonl")), as_of)
    else:
        measured = measure_duckdb(plan, str(tmp_path / "d.jsonl"), str(tmp_path / "e.jsonl"), as_of)
    rows = {(g.arm, g.metric): (g.customers, g.n, g.sum, g.sum_squares, g.cost) for g in measured.groups}
    assert rows == {("champion", "churned_90d"): (1, 1, 0.0, 0.0, 5.0),
                    ("champion", "revenue_90d"): (1, 1, 50.0, 2500.0, 5.0),
                    ("holdout", "churned_90d"): (2, 2, 1.0, 1.0, 0.0),
                    ("holdout", "revenue_90d"): (2, 2, 0.0, 0.0, 0.0)}
    assert measured.assigned == {("v1", "gift-rule", "gift-rule", "", "champion"): 2,
                                 ("v1", "gift-rule", "gift-rule", "", "holdout"): 2}
    from treatment_engine.measure.results import compare

    assert all(c.verdict.startswith("not enough data yet") for c in compare(plan, measured))


def test_the_decision_log_and_its_stored_events_are_read_directly(tmp_path: Path) -> None:
    """--decisions URL and --db URL: decisions from the log (timed by created_at) and the
    outcome events the service stored, on both back ends."""
    import time

    from click.testing import CliRunner

    from treatment_engine import Engine
    from treatment_engine.cli import cli
    from treatment_engine.measure.inputs import decisions_table, log_events_file, read_log_decisions
    from treatment_engine.store import DecisionLog
    from treatment_engine.store.events import Incoming

    texts = {**PLAN, "rules/plan.yaml": "rules:\n  - {id: r, then: {treatment: none, holdout: 0.5}}\n"}
    engine = Engine.from_texts(texts)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    log = DecisionLog(url)
    profiles = [{"customer_id": f"c{i}"} for i in range(40)]
    log.decisions.record(engine.plan, [(p, engine.decide(p)) for p in profiles])
    later = time.time() + 60
    log.events.accept([Incoming(f"c{i}", "payment", later, {"customer_id": f"c{i}", "type": "payment",
                                                            "timestamp": iso_of(later), "amount": i}, 0)
                       for i in range(0, 40, 2)])
    log.close()
    decisions = read_log_decisions(url)
    arms = {d.customer_id: d.arm for d in decisions}
    decided = {p["customer_id"]: engine.decide(p) for p in profiles}
    assert {d.customer_id: (d.segment, d.lifecycle_stage, d.value_tier) for d in decisions} == {
        cid: (d.segment, d.lifecycle_stage, d.value_tier) for cid, d in decided.items()}  # the log keeps cells
    as_of = later + TEN_DAYS
    events_file = log_events_file(url, engine.plan.event_types)
    try:
        python = measure_python(engine.plan, decisions, read_event_file(events_file), as_of)
        duck = measure_duckdb(engine.plan, decisions_table(decisions), events_file, as_of)
    finally:
        Path(events_file).unlink()
    for arm in ("holdout", "champion"):
        paid = sum(i for i in range(0, 40, 2) if arms[f"c{i}"] == arm)
        version = engine.plan.version
        assert _stats(python, "revenue", arm, version=version) == _stats(duck, "revenue", arm, version=version) == (
            sum(1 for a in arms.values() if a == arm), sum(1 for a in arms.values() if a == arm), float(paid))
    result = CliRunner().invoke(cli, ["measure", "--decisions", url, "--db", url, "--format", "csv",
                                      "--as-of", iso_of(as_of), "--plan", str(_write_plan(tmp_path, texts))])
    assert result.exit_code == 0, result.output
    assert f"{engine.plan.version},r,r,,champion,holdout,revenue," in result.stdout
    by_cell = CliRunner().invoke(cli, ["measure", "--decisions", url, "--db", url, "--format", "csv", "--by",
                                       "segment", "--as-of", iso_of(as_of), "--plan", str(tmp_path / "plan"),
                                       "--report", str(tmp_path / "results.html")])
    assert by_cell.exit_code == 0, by_cell.output
    # The log's stream, read once, serves the curves too (curves_sql.measure_with_curves_duckdb).
    assert 'data-chart="curve-revenue-r' in (tmp_path / "results.html").read_text(encoding="utf-8")
    segments = {d.segment or "-" for d in decisions}
    assert {f"segment={s}" for s in segments} <= set(by_cell.stdout.replace('"', "").split(","))


def iso_of(seconds: float) -> str:
    from treatment_engine.moments.events import iso

    return iso(seconds)


def _write_plan(folder: Path, texts: dict[str, str]) -> Path:
    root = folder / "plan"
    for name, text in texts.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_treatment_events_reads_outcome_events(tmp_path: Path) -> None:
    """Outcome events are events of the plan: replay (and the service, which checks the same
    types) takes them instead of refusing an unknown type."""
    from click.testing import CliRunner

    from treatment_engine.cli import cli

    path = _write(tmp_path / "outcomes.jsonl", [_event("c1", "churned", 5), _event("c1", "payment", 9, amount=20),
                                                 _event("c2", "offer_accepted", 12), _event("c2", "refund", 13)])
    result = CliRunner().invoke(cli, ["events", "replay", path, "--plan", str(REPO)])
    assert result.exit_code == 0, result.output
    assert "4 events (1 refused)" in result.output
    assert "unknown event type 'refund'" in result.output


UNREADABLE_DECISIONS = [  # (file, its text, what the refusal must name)
    ("d.jsonl", json.dumps(_decision("a")) + "\ngarbage\n", "JSON"),
    ("d.jsonl", json.dumps(_decision("a")) + "\n[1]\n", "object"),
    ("d.jsonl", json.dumps(_decision("a")) + "\n" + json.dumps({**_decision("b"), "cost": "abc"}) + "\n", "cost"),
    ("d.jsonl", json.dumps(_decision("a")) + "\n" + json.dumps({**_decision("b"), "as_of": "soon"}) + "\n", "as_of"),
    # a cost that is no finite number: DuckDB measured it (an extra cost of "-"), the reference refused its JSON
    *(("d.csv", "customer_id,plan_version,as_of,rule,arm,experiment,cost,would_have,error,segment,lifecycle_stage,"
        f"value_tier\na,v1,2026-11-01,r,champion,r,{cost},,,,,\n", f"d.csv:2: cost {cost!r} is not a number")
      for cost in ("nan", "inf")),
    # a decision's as_of is its day: DuckDB's CAST took a time of day, the reference's fromisoformat 20261101
    *(("d.jsonl", json.dumps(_decision("a")) + "\n" + json.dumps({**_decision("b"), "as_of": day}) + "\n",
       f"d.jsonl:2: as_of '{day}' is not a day (YYYY-MM-DD)") for day in ("2026-11-01T10:00:00", "20261101")),
    ("d.csv", "customer_id,rule,cost,as_of,arm,experiment\na,r,1,2026-11-01,champion,r\n", "plan_version"),
    ("d.jsonl", json.dumps(_decision("a")) + "\n" + json.dumps({**_decision("b"), "plan_version": None}) + "\n",
     "d.jsonl:2: a decision has no plan_version"),
    # a customer id or version that is no text: the reference kept the number 1000 (matching no event's
    # "1000"), DuckDB and Spark read it as the text "1000" (matching it), and 1e3 as "1000.0" and "1e3"
    *(("d.jsonl", json.dumps(_decision("a")) + "\n" + json.dumps({**_decision("b"), key: value}) + "\n",
       f"d.jsonl:2: a decision's {key} {value!r} is not text")
      for key, value in (("customer_id", 1000), ("customer_id", 1e3), ("customer_id", True), ("plan_version", 2))),
]


@BACKENDS
@pytest.mark.parametrize(("name", "text", "named"), UNREADABLE_DECISIONS)
def test_a_decisions_file_that_cannot_be_read_is_refused_in_words_by_every_back_end(
        backend: str, name: str, text: str, named: str, tmp_path: Path) -> None:
    """`measure --backend python` used to end in a traceback (KeyError, ValueError,
    orjson's error) where DuckDB refused the file; a CSV short of a column DuckDB reads
    got DuckDB's binder error, naming no file. Each back end now refuses the file by name
    and says what is wrong with it."""
    from click.testing import CliRunner

    from treatment_engine.cli import cli

    decisions = tmp_path / name
    decisions.write_text(text)
    events = _write(tmp_path / "e.jsonl", [_event("a", "payment", 5, amount=3)])
    result = CliRunner().invoke(cli, ["measure", "--plan", str(_write_plan(tmp_path, PLAN)), "--decisions",
                                      str(decisions), "--events", events, "--as-of", "2027-03-01",
                                      "--backend", backend])
    assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.output
    assert str(decisions) in result.output and named in result.output, result.output


def test_a_would_have_that_is_no_object_is_none_in_every_back_end(tmp_path: Path) -> None:
    """DuckDB reads a `would_have` that is no JSON object as none; the reference used to
    stop with orjson's error."""
    rows = [_decision(c, "holdout" if c in "ab" else "champion") for c in "abcd"]
    rows[0]["would_have"] = "not json"
    decided = _write(tmp_path / "d.jsonl", rows)
    events = _write(tmp_path / "e.jsonl", [_event(c, "payment", 5, amount=3) for c in "abcd"])
    python = measure_python(_plan(), read_decision_file(decided), read_event_file(events), T0 + 1e8)
    assert python == measure_duckdb(_plan(), decided, events, T0 + 1e8)
    assert _stats(python, "revenue", "holdout") == (2, 2, 6.0)



def test_an_outcome_line_that_is_no_event_is_passed_over_by_every_back_end(tmp_path: Path) -> None:
    """A line of an events file that is not JSON, or not an object, is no event: the
    reference passed it over and measured the rest, DuckDB refused the whole file ("Malformed
    JSON", "Expected OBJECT, but got ARRAY"). DuckDB now reads such a file again line by
    line as the reference does, for the measurement and the report's curves alike."""
    from treatment_engine.measure.curves import curves
    from treatment_engine.measure.curves_sql import curves_duckdb, measure_with_curves_duckdb

    decided = _write(tmp_path / "d.jsonl", [_decision(c, "holdout" if c in "ab" else "champion") for c in "abcd"])
    good = [json.dumps(_event(c, "payment", 5, amount=i + 1)) for i, c in enumerate("abcd")]
    events = tmp_path / "e.jsonl"
    events.write_text("\n".join([good[0], "garbage", good[1], "[1]", "42", good[2], "null", good[3]]) + "\n")
    as_of = T0 + 1e8
    python = measure_python(_plan(), read_decision_file(decided), read_event_file(str(events)), as_of)
    assert _stats(python, "revenue", "holdout") == (2, 2, 3.0) and _stats(python, "revenue", "champion") == (2, 2, 7.0)
    assert measure_duckdb(_plan(), decided, str(events), as_of) == python
    measured, drawn = measure_with_curves_duckdb(_plan(), decided, str(events), as_of)
    assert measured == python
    assert drawn == curves_duckdb(_plan(), decided, str(events), as_of) == curves(
        _plan(), read_decision_file(decided), read_event_file(str(events)), as_of)


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_decisions_file_with_a_byte_order_mark_is_read_by_every_back_end(suffix: str, tmp_path: Path) -> None:
    """Spreadsheets and Windows tools write a byte-order mark: DuckDB read past it; the
    reference took it for part of the first CSV column's name (a KeyError, then "no column
    customer_id"), and for a first JSON line that is not JSON."""
    from treatment_engine.outputs import DecisionWriter

    plain, marked = tmp_path / f"d.{suffix}", tmp_path / f"marked.{suffix}"
    with DecisionWriter(plain, {}) as writer:
        for row in (_decision("a", "holdout"), _decision("b")):
            writer.write(row)
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    events = _write(tmp_path / "e.jsonl", [_event("a", "payment", 1, amount=5), _event("b", "payment", 2, amount=7)])
    python = measure_python(_plan(), read_decision_file(str(marked)), read_event_file(events), T0 + 1e8)
    assert python == measure_duckdb(_plan(), str(marked), events, T0 + 1e8) == measure_duckdb(
        _plan(), str(plain), events, T0 + 1e8)
    assert _stats(python, "revenue", "holdout") == (1, 1, 5.0)


def test_a_dimension_named_twice_in_by_splits_once(tmp_path: Path) -> None:
    """`--by segment,segment` named every cell "segment=young, segment=young" (journeys --by
    reads the same list once)."""
    from click.testing import CliRunner

    from treatment_engine.cli import cli

    decided = _write(tmp_path / "d.jsonl", [{**_decision(c, "holdout" if c in "ab" else "champion"), "segment": "young"}
                                            for c in "abcd"])
    events = _write(tmp_path / "e.jsonl", [_event(c, "payment", 5, amount=3) for c in "abcd"])
    plan = str(_write_plan(tmp_path, PLAN))
    shown = [CliRunner().invoke(cli, ["measure", "--plan", plan, "--decisions", decided, "--events", events,
                                      "--as-of", "2027-03-01", "--format", "csv", "--by", by]) for by in
             ("segment", "segment,segment", " segment , segment ")]
    assert all(result.exit_code == 0 for result in shown), [result.output for result in shown]
    assert ",segment=young," in shown[0].stdout
    assert shown[1].stdout == shown[2].stdout == shown[0].stdout


@pytest.mark.parametrize("backend", ["python", "duckdb"])
def test_a_universal_holdout_no_decision_landed_in_is_still_measured_and_flagged(backend: str,
                                                                                   tmp_path: Path) -> None:
    """The plan holds half its customers out of every rule; of 60 decided under its
    version, none is in the universal holdout (held-out decisions lost before the log).
    The universal holdout was an experiment only where some decision was in it, so this
    one vanished: no comparison, no sample-ratio flag."""
    from treatment_engine.measure.duckdb_stats import measure_duckdb as duck
    from treatment_engine.measure.results import compare

    plan = plan_from_texts({**PLAN, "rules/policy.yaml": "policy:\n  holdout: {share: 0.5}\n"})
    v = plan.version
    decided = _write(tmp_path / "d.jsonl", [_decision(f"c{i}", experiment=None, version=v) for i in range(60)])
    happened = _write(tmp_path / "e.jsonl", [_event("c1", "churned", 60)])
    as_of = T0 + 365 * 86_400
    measured = (measure_python(plan, read_decision_file(decided), read_event_file(happened), as_of)
                if backend == "python" else duck(plan, decided, happened, as_of))
    assert measured.assigned == {(v, "universal_holdout", "r", "", TREATED): 60}
    found = [c for c in compare(plan, measured) if c.metric == "churn"]
    assert [(c.arm, c.control, c.baseline.n, c.srm) for c in found] == [(TREATED, "universal_holdout", 0, True)]
