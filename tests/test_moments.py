"""Moments of truth: each pattern kind fires exactly when it should, on the events' clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treatment_engine import Decision, Engine, plan_from_texts
from treatment_engine.cli import cli
from treatment_engine.errors import PlanError
from treatment_engine.moments.correlator import Correlator, replay
from treatment_engine.moments.events import parse_event

from .conftest import REPO

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
CATALOG = {"channels": {"email": {"cost": 0.02}, "call": {"cost": 4.0}},
           "actions": {"apology": {"kind": "delight", "cost": 5}, "nudge": {"kind": "contain"}},
           "default": {"treatment": "contain", "actions": ["nudge"], "channels": ["email"]}}


def plan_with(*moments: dict, rules: list | None = None) -> Engine:
    return Engine.from_texts({
        "rules/catalog.yaml": yaml.safe_dump(CATALOG),
        "rules/moments.yaml": yaml.safe_dump({"moments": list(moments), "rules": rules or []}),
        "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]})})


REPEAT = {"id": "repeat", "pattern": [{"event": "complaint"}, {"event": "complaint", "within": "30d"}],
          "set": {"moment": "repeat"}}
THREE = {"id": "three", "pattern": [{"event": "complaint", "count": 3, "within": "7d"}], "set": {"moment": "three"}}
DETRACTOR = {"id": "detractor", "pattern": [{"event": "survey", "if": "score <= 6"}], "set": {"moment": "detractor"}}
STALLED = {"id": "stalled", "pattern": [{"event": "order"}, {"not": {"event": "installed"}, "within": "14d"}],
           "set": {"moment": "stalled"}}


def at(offset: timedelta) -> str:
    return (T0 + offset).isoformat().replace("+00:00", "Z")


def event(cid: str, kind: str, offset: timedelta = timedelta(0), **fields: object) -> dict:
    return {"customer_id": cid, "type": kind, "timestamp": at(offset), **fields}


def fired_of(engine: Engine, events: list[dict], until: timedelta | None = None) -> list[tuple[str, str, str]]:
    limit = (T0 + until).timestamp() if until is not None else None
    fired, errors, _ = replay(engine.plan, events, until=limit)
    assert errors == []
    return sorted((f.moment, f.customer_id, datetime.fromtimestamp(f.fired_at, UTC).isoformat()) for f in fired)


DAY, SECOND = timedelta(days=1), timedelta(seconds=1)


@pytest.mark.parametrize(("gap", "fires"), [(30 * DAY, True), (30 * DAY + SECOND, False), (SECOND, True),
                                            (timedelta(0), True)])
def test_a_sequence_fires_within_its_window_and_the_edge_is_inside(gap: timedelta, fires: bool) -> None:
    engine = plan_with(REPEAT)
    got = fired_of(engine, [event("a", "complaint"), event("a", "complaint", gap)])
    assert got == ([("repeat", "a", (T0 + gap).isoformat())] if fires else [])


@pytest.mark.parametrize(("offsets", "fires"), [
    ((0, 3, 7), True),            # the third exactly 7 days after the first
    ((0, 3, 7.0001), False),      # a moment later: outside
    ((0, 8, 9, 10), True),        # the first is too old, the next three make it
    ((0, 1), False),
])
def test_a_count_fires_on_the_nth_event_inside_the_window(offsets: tuple[float, ...], fires: bool) -> None:
    engine = plan_with(THREE)
    got = fired_of(engine, [event("a", "complaint", timedelta(days=d)) for d in offsets])
    assert len(got) == (1 if fires else 0)
    if fires:
        assert got[0][2] == (T0 + timedelta(days=offsets[-1])).isoformat()


@pytest.mark.parametrize(("fields", "fires"), [({"score": 6}, True), ({"score": 7}, False), ({}, False),
                                               ({"score": "3"}, False), ({"score": 0.5}, True)])
def test_an_if_reads_the_events_own_fields_with_the_spec_semantics(fields: dict, fires: bool) -> None:
    got = fired_of(plan_with(DETRACTOR), [event("a", "survey", **fields)])
    assert len(got) == (1 if fires else 0)


@pytest.mark.parametrize(("installed_after", "fires"), [(None, True), (14 * DAY, False), (14 * DAY + SECOND, True),
                                                        (DAY, False)])
def test_an_absence_fires_at_its_deadline_unless_the_event_came(installed_after: timedelta | None,
                                                                fires: bool) -> None:
    events = [event("a", "order")]
    if installed_after is not None:
        events.append(event("a", "installed", installed_after))
    events.append(event("other", "order", 20 * DAY))  # moves the clock on past the deadline
    got = [f for f in fired_of(plan_with(STALLED), events) if f[1] == "a"]
    assert got == ([("stalled", "a", (T0 + 14 * DAY).isoformat())] if fires else [])


def test_an_absence_waits_for_the_clock_and_until_moves_it() -> None:
    engine = plan_with(STALLED)
    assert fired_of(engine, [event("a", "order")]) == []  # the clock never passed the deadline
    assert fired_of(engine, [event("a", "order")], until=14 * DAY - SECOND) == []
    assert fired_of(engine, [event("a", "order")], until=14 * DAY) == [("stalled", "a", (T0 + 14 * DAY).isoformat())]


def test_one_event_fires_every_moment_it_completes() -> None:
    survey_complaint = {"id": "complaint-after-survey", "set": {"moment": "x"},
                        "pattern": [{"event": "survey"}, {"event": "complaint", "within": "10d"}]}
    got = fired_of(plan_with(REPEAT, survey_complaint, THREE),
                   [event("a", "complaint"), event("a", "survey", DAY), event("a", "complaint", 2 * DAY),
                    event("a", "complaint", 3 * DAY)])
    assert [m for m, _, _ in got] == ["complaint-after-survey", "repeat", "three"]


def test_customers_never_see_each_others_events() -> None:
    got = fired_of(plan_with(REPEAT, THREE), [event(c, "complaint", i * SECOND) for i, c in enumerate("abcab")])
    assert got == [("repeat", "a", at(3 * SECOND).replace("Z", "+00:00")),
                   ("repeat", "b", at(4 * SECOND).replace("Z", "+00:00"))]


def test_a_fired_moment_decides_with_its_fields_set_and_the_customers_profile() -> None:
    engine = plan_with(REPEAT, rules=[{"id": "answer", "priority": 5, "when": {"if": "moment == 'repeat' and vip"},
                                       "then": {"treatment": "delight", "actions": ["apology"],
                                                "channels": ["call"]}}])
    events = [event(c, "complaint") for c in "ab"] + [event(c, "complaint", DAY) for c in "ab"]
    fired, _, summary = replay(engine.plan, events, {"a": {"customer_id": "a", "vip": True}})
    decided = {f.customer_id: f.decision for f in fired}
    assert isinstance(decided["a"], Decision) and decided["a"].rule == "answer"
    assert decided["a"].as_of == "2026-11-02"
    assert isinstance(decided["b"], Decision) and decided["b"].rule == "default"  # no profile: not vip
    assert summary.treatments[("repeat", "delight", "answer")] == 1


def test_bad_events_are_refused_one_by_one_and_the_rest_go_on() -> None:
    engine = plan_with(REPEAT)
    raw = [event("a", "complaint"), {"type": "complaint", "timestamp": at(DAY)}, event("a", "refund"),
           {"customer_id": "a", "type": "complaint", "timestamp": "last tuesday"}, [1, 2],
           event("a", "complaint", DAY)]
    fired, errors, summary = replay(engine.plan, raw)
    assert [f.moment for f in fired] == ["repeat"]
    assert [(e.index, e.error.split(" (")[0]) for e in errors] == [
        (1, "the event has no customer_id"), (2, "unknown event type 'refund'"),
        (3, "the event has no valid timestamp"), (4, "an event must be a JSON object")]
    assert summary.events == 6 and summary.invalid == 4


def test_a_late_event_is_refused_with_the_reason() -> None:
    engine = plan_with(REPEAT)
    with Correlator(engine.plan) as moments:
        first = parse_event(event("a", "complaint", DAY), 0, engine.plan.event_types)
        late = parse_event(event("a", "complaint"), 1, engine.plan.event_types)
        other = parse_event(event("b", "complaint"), 2, engine.plan.event_types)
        assert not isinstance(first, Exception) and moments.check(first) is None  # type: ignore[arg-type]
        problem = moments.check(late)  # type: ignore[arg-type]
        assert problem is not None and problem.error.startswith("late event: 2026-11-01T09:00:00Z is before")
        assert moments.check(other) is None  # type: ignore[arg-type]  # another customer's clock


@pytest.mark.parametrize(("pattern", "message"), [
    ([{"event": "a"}, {"event": "b"}], "every step after the first needs 'within'"),
    ([{"not": {"event": "a"}, "within": "1d"}], "cannot start with an absence"),
    ([{"event": "a"}, {"not": {"event": "b"}, "within": "1d"}, {"event": "c", "within": "1d"}],
     "can only be the last step"),
    ([{"event": "a", "count": 2}], "'count' needs 'within'"),
    ([{"event": "a", "within": "1d"}], "'within' on the first step needs 'count'"),
    ([{"event": "a", "if": "score <="}], "invalid expression"),
    ([{"event": "a"}, {"event": "b", "within": "3 days"}], "'within' must be a duration, a whole number above 0 "
     "and its unit (s, m, h or d: 90s, 15m, 12h, 30d), got '3 days'"),
])
def test_malformed_moments_are_plan_errors_at_their_place(pattern: list, message: str) -> None:
    with pytest.raises(PlanError) as raised:
        plan_with({"id": "m", "pattern": pattern, "set": {"moment": "m"}})
    assert message in str(raised.value)
    assert "rules/moments.yaml:" in str(raised.value)


def _greedy_pairs(times: list[tuple[str, int]], window: int) -> list[tuple[str, int]]:
    """An independent reading of a two-step sequence: each event pairs with its customer's
    earliest unpaired earlier event within the window, else waits to be paired itself."""
    waiting: dict[str, list[int]] = {}
    fired = []
    for customer, t in times:
        pending = [p for p in waiting.get(customer, []) if t - p <= window]
        if pending:
            waiting[customer].remove(pending[0])
            fired.append((customer, t))
        else:
            waiting.setdefault(customer, []).append(t)
    return sorted(fired)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from("abc"), st.integers(0, 120)), min_size=1, max_size=25))
def test_sequences_agree_with_an_independent_reading(raw: list[tuple[str, int]]) -> None:
    times = sorted(raw, key=lambda item: item[1])
    engine = plan_with(REPEAT)
    events = [event(c, "complaint", timedelta(days=d)) for c, d in times]
    got = sorted((f.customer_id, round((f.fired_at - T0.timestamp()) / 86400))
                 for f in replay(engine.plan, events)[0])
    assert got == _greedy_pairs(times, 30)


def test_a_refused_event_prints_its_own_text_on_one_line(tmp_path: Path) -> None:
    """A refused event's customer id and type were printed as rich markup: an id '[/red]'
    stopped `events replay` with rich's MarkupError; a newline in it split the line."""
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps({"customer_id": "[/red]\nx", "type": "[bold]nope[/x]",
                                "timestamp": "2026-10-01T00:00:00Z"}) + "\n")
    result = CliRunner().invoke(cli, ["events", "replay", str(path), "--profiles",
                                      str(REPO / "examples" / "customers.jsonl"), "--until", "2026-11-01"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{path}:1 ([/red]\\nx): unknown event type '[bold]nope[/x]'" in result.output, result.output


def test_the_cli_replays_a_file_with_profiles(tmp_path: Path) -> None:
    profiles = [json.loads(x) for x in (REPO / "examples" / "customers.jsonl").read_text().splitlines()[:5]]
    cids = [p["customer_id"] for p in profiles]
    lines = [event(cids[0], "complaint"), event(cids[0], "complaint", 2 * DAY), event(cids[1], "order_placed"),
             event(cids[2], "survey_response", DAY, score=2), event(cids[3], "payment_failed"),
             event(cids[3], "payment_failed", 3 * DAY), {"customer_id": cids[4], "type": "nope"}]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n")
    out, refused = tmp_path / "fired.jsonl", tmp_path / "refused.jsonl"
    result = CliRunner().invoke(cli, ["events", "replay", str(path), "--profiles", str(REPO / "examples" / "customers.jsonl"),
                                      "--until", "2026-12-01", "-o", str(out), "--errors", str(refused)])
    assert result.exit_code == 0, result.output
    fired = [json.loads(x) for x in out.read_text().splitlines()]
    assert sorted(f["moment"] for f in fired) == ["detractor", "payment-trouble", "repeat-complaint", "stalled-install"]
    assert all(f["decision"]["rule"].startswith("moment-") or f["decision"]["rule"] for f in fired)
    assert {f["decision"]["customer_id"] for f in fired} == set(cids[:4])
    assert [(json.loads(x)["index"], json.loads(x)["line"]) for x in refused.read_text().splitlines()] == [(6, 7), (7, 8)]
    assert "4 moments fired" in result.output
    bad = CliRunner().invoke(cli, ["events", "replay", str(path), "--until", "soon"])
    assert bad.exit_code == 2 and "not an ISO 8601" in bad.output


def test_the_default_plan_without_moments_is_told_so(tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    for name, text in {"rules/catalog.yaml": yaml.safe_dump(CATALOG),
                       "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]})}.items():
        (plan / name).parent.mkdir(parents=True, exist_ok=True)
        (plan / name).write_text(text)
    (tmp_path / "e.jsonl").write_text("")
    result = CliRunner().invoke(cli, ["events", "replay", str(tmp_path / "e.jsonl"), "--plan", str(plan)])
    assert result.exit_code == 1 and "defines no moments" in result.output


def test_sample_events_sorted_in_runs_are_the_events_sorted_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """iter_events sorts its events a run at a time and merges the runs (kept in temporary
    files): with runs of 7 events, 1,000 events over two days (many in one second, so the
    order among equal times counts) are exactly those one sort of all of them gives."""
    from datetime import date

    from treatment_engine import sample

    at_once = sample.generate_events(1000, 50, seed=3, days=2, until=date(2026, 11, 1))
    monkeypatch.setattr(sample, "EVENT_RUN", 7)
    assert sample.generate_events(1000, 50, seed=3, days=2, until=date(2026, 11, 1)) == at_once
    assert [e["timestamp"] for e in at_once] == sorted(e["timestamp"] for e in at_once)
    assert len({e["timestamp"] for e in at_once}) < 1000  # ties were there to keep in order


def test_sample_events_stream_in_the_memory_of_one_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """`events sample --n` writes events as they are merged: the memory held is one run's,
    not every event's (a list of them all took about 400 MB a million)."""
    import tracemalloc
    from datetime import date

    from treatment_engine import sample

    monkeypatch.setattr(sample, "EVENT_RUN", 1_000)
    tracemalloc.start()
    try:
        written = sum(1 for _ in sample.iter_events(30_000, 1000, seed=7, until=date(2026, 11, 1)))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written == 30_000
    assert peak < 2_000_000, f"{peak:,} bytes held for 30,000 events"  # all of them: about 10 MB


def test_plan_from_texts_keeps_moment_locations() -> None:
    plan = plan_from_texts({"rules/m.yaml": yaml.safe_dump({"moments": [REPEAT]}),
                            "segments/s.yaml": yaml.safe_dump({"segments": [{"id": "x"}]})})
    assert str(plan.moments[0].location).startswith("rules/m.yaml:")
    assert plan.moments[0].horizon == 30 * 86400


def test_bundled_events_are_what_the_seeded_generator_makes() -> None:
    from datetime import date

    from treatment_engine.sample import generate_events
    bundled = [json.loads(x) for x in (REPO / "examples" / "events.jsonl").read_text().splitlines()]
    assert bundled == generate_events(len(bundled), 1000, seed=7, until=date(2026, 11, 1))
    fired, errors, _ = replay(Engine.load(REPO).plan, bundled, until=T0.timestamp())
    assert errors == [] and {f.moment for f in fired} == {"repeat-complaint", "detractor", "stalled-install",
                                                           "payment-trouble"}


def test_moments_decisions_carry_the_experiment_arms(default_engine: Engine) -> None:
    """A fired moment is decided like any profile (appendix H): a customer in the bundled
    plan's universal holdout (salt uh-2026, 3%) gets no treatment, and only they do."""
    from treatment_engine.experiments import bucket

    lines = (REPO / "examples" / "customers.jsonl").read_text(encoding="utf-8").splitlines()
    profiles = {p["customer_id"]: p for p in map(json.loads, lines)}
    with (REPO / "examples" / "events.jsonl").open() as stream:
        fired, _, _ = replay(default_engine.plan, map(json.loads, stream), profiles,
                             datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    decided = [f.decision for f in fired if isinstance(f.decision, Decision)]
    held = [d for d in decided if bucket("uh-2026", d.customer_id) < 300]
    assert held and all((d.arm, d.treatment, d.rule) == ("universal_holdout", "none", "holdout") for d in held)
    assert all(d.arm != "universal_holdout" for d in decided if d not in held)
