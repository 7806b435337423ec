"""Stalled journeys are moments (docs/plan-format.md, appendix J, "Stalled runs"): a run
that sits at an `on_stall` step longer than `after` fires once, at its deadline, on the
moments' clock, and ordinary rules treat the customer; plan errors are located."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from treatment_engine import Decision, Engine, PlanError, plan_from_texts
from treatment_engine.cli import cli
from treatment_engine.moments.correlator import rebuild_span, replay

from .test_moments import CATALOG, DAY, SECOND, T0, at, event

STALL = {"after": "7d", "set": {"moment": "install_stalled", "stall_days": 7}}
INSTALL = {"id": "install", "owner": "Operations", "within": "30d", "steps": [
    {"event": "signed_up", "on_stall": STALL},
    {"event": "booked", "optional": True, "within": "10d",
     "on_stall": {"after": "5d", "set": {"moment": "booking_stalled"}}},
    {"event": "installed", "within": "14d"}]}
TREAT = [{"id": "stalled-install", "priority": 100, "when": {"if": 'moment == "install_stalled"'},
          "then": {"treatment": "delight", "actions": ["apology"], "channels": ["call"]}}]
FIRED_AS = "install.signed_up.stalled"


def plan_of(*journeys: dict, moments: list | None = None) -> Engine:
    return Engine.from_texts({
        "rules/catalog.yaml": yaml.safe_dump(CATALOG),
        "rules/journeys.yaml": yaml.safe_dump({"journeys": list(journeys), "moments": moments, "rules": TREAT}),
        "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]})})


def stalls_of(engine: Engine, events: list[dict], until: timedelta | None = None) -> list[tuple[str, str, str]]:
    limit = (T0 + until).timestamp() if until is not None else None
    fired, errors, _ = replay(engine.plan, events, until=limit)
    assert errors == []
    return sorted((f.moment, f.customer_id, at(timedelta(seconds=f.fired_at - T0.timestamp()))) for f in fired)


ENGINE = plan_of(INSTALL)


@pytest.mark.parametrize(("until", "fires"), [(7 * DAY, True), (7 * DAY - SECOND, False), (29 * DAY, True)])
def test_a_stalled_run_fires_once_exactly_at_its_deadline(until: timedelta, fires: bool) -> None:
    got = stalls_of(ENGINE, [event("a", "signed_up")], until=until)
    assert got == ([(FIRED_AS, "a", at(7 * DAY))] if fires else [])


def test_the_set_fields_reach_the_decision_and_an_ordinary_rule_treats_the_customer() -> None:
    fired, _, summary = replay(ENGINE.plan, [event("a", "signed_up")], {"a": {"tenure_months": 3}},
                               until=(T0 + 8 * DAY).timestamp())
    (item,) = fired
    assert isinstance(item.decision, Decision)
    assert (item.decision.rule, item.decision.treatment) == ("stalled-install", "delight")
    assert item.profile == {"tenure_months": 3, "customer_id": "a", "moment": "install_stalled", "stall_days": 7}
    assert item.events == (0,) and summary.fired == {FIRED_AS: 1}
    assert datetime.fromtimestamp(item.fired_at, UTC).date().isoformat() == item.decision.to_record()["as_of"]


@pytest.mark.parametrize(("moves_on", "fires"), [
    (7 * DAY - SECOND, False),  # installed before the deadline
    (7 * DAY, False),           # exactly at it: in time, and it comes first
    (7 * DAY + SECOND, True),   # after it: the stall has fired already
])
def test_a_run_that_moves_on_before_its_deadline_does_not_fire(moves_on: timedelta, fires: bool) -> None:
    got = stalls_of(ENGINE, [event("a", "signed_up"), event("a", "installed", moves_on)], until=20 * DAY)
    assert got == ([(FIRED_AS, "a", at(7 * DAY))] if fires else [])


def test_each_step_stalls_on_its_own_clock_once_per_run() -> None:
    # Booked on day 2: the run sits at `booked` now; 5 days later that step's stall fires.
    got = stalls_of(ENGINE, [event("a", "signed_up"), event("a", "booked", 2 * DAY)], until=29 * DAY)
    assert got == [("install.booked.stalled", "a", at(7 * DAY))]


def test_a_run_abandoned_before_its_deadline_does_not_fire() -> None:
    short = {"id": "short", "owner": "o", "within": "12d", "steps": [
        {"event": "signed_up"}, {"event": "booked", "within": "10d", "on_stall": {"after": "5d", "set": {"m": 1}}},
        {"event": "installed", "within": "10d"}]}
    engine = plan_of(short)
    # Booked on day 8: its stall would be on day 13, past the journey's 12 days: the run is
    # abandoned on day 12 and never fires. Booked on day 7: it fires on day 12, the last
    # instant an installation would still have been in time.
    late = stalls_of(engine, [event("a", "signed_up"), event("a", "booked", 8 * DAY)], until=60 * DAY)
    edge = stalls_of(engine, [event("b", "signed_up"), event("b", "booked", 7 * DAY)], until=60 * DAY)
    assert late == [] and edge == [("short.booked.stalled", "b", at(12 * DAY))]


def test_a_consecutive_run_broken_before_its_deadline_does_not_fire() -> None:
    strict = {**INSTALL, "order": "consecutive"}
    # A second booking cannot follow `booked`: the run is broken on day 3.
    events = [event("a", "signed_up"), event("a", "booked", DAY), event("a", "booked", 3 * DAY)]
    assert stalls_of(plan_of(strict), events, until=20 * DAY) == []
    assert stalls_of(ENGINE, events, until=20 * DAY) == [("install.booked.stalled", "a", at(6 * DAY))]


def test_a_repeated_run_fires_again_and_a_new_run_retracts_the_old_ones_deadline() -> None:
    events = [event("a", "signed_up"), event("a", "signed_up", 10 * DAY),  # fired on day 7, again on 17
              event("b", "signed_up"), event("b", "signed_up", 5 * DAY)]   # the first run ends on day 5
    assert stalls_of(ENGINE, events, until=29 * DAY) == [
        (FIRED_AS, "a", at(7 * DAY)), (FIRED_AS, "a", at(17 * DAY)), (FIRED_AS, "b", at(12 * DAY))]


def test_stalls_fire_beside_moments_in_time_order_and_the_rebuild_reads_a_whole_run_back() -> None:
    repeat = {"id": "repeat", "pattern": [{"event": "complaint"}, {"event": "complaint", "within": "2d"}],
              "set": {"moment": "repeat"}}
    engine = plan_of(INSTALL, moments=[repeat])
    events = [event("a", "signed_up"), event("a", "complaint", 8 * DAY), event("a", "complaint", 9 * DAY)]
    fired, _, _ = replay(engine.plan, events)
    assert [(f.moment, f.fired_at) for f in fired] == [(FIRED_AS, (T0 + 7 * DAY).timestamp()),
                                                       ("repeat", (T0 + 9 * DAY).timestamp())]
    # A rebuilt partition must see a still-open run's first step: the journey's 30 days,
    # more than the moments' two horizons of 2 days.
    assert rebuild_span(engine.plan) == 30 * DAY.total_seconds()
    assert rebuild_span(Engine.from_texts({"rules/m.yaml": yaml.safe_dump({"moments": [repeat]})}).plan) \
        == 4 * DAY.total_seconds()  # without stalls: the two horizons the worker keeps


def test_a_plan_whose_only_moments_are_stalls_replays_from_the_cli(tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    for name, text in {"rules/catalog.yaml": yaml.safe_dump(CATALOG),
                       "rules/journeys.yaml": yaml.safe_dump({"journeys": [INSTALL], "rules": TREAT}),
                       "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]})}.items():
        (plan / name).parent.mkdir(parents=True, exist_ok=True)
        (plan / name).write_text(text)
    (tmp_path / "e.jsonl").write_text(json.dumps(event("a", "signed_up")) + "\n")
    out = tmp_path / "fired.jsonl"
    result = CliRunner().invoke(cli, ["events", "replay", str(tmp_path / "e.jsonl"), "--plan", str(plan),
                                      "--until", at(7 * DAY), "-o", str(out)])
    assert result.exit_code == 0, result.output
    (fired,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (fired["moment"], fired["fired_at"], fired["decision"]["rule"]) == (FIRED_AS, at(7 * DAY), "stalled-install")


# -- plan errors ---------------------------------------------------------------------------

def errors(*steps: str) -> list[str]:
    text = "journeys:\n  - id: j\n    owner: o\n    within: 30d\n    steps:\n" + "".join(f"      - {s}\n" for s in steps)
    with pytest.raises(PlanError) as raised:
        plan_from_texts({"rules/j.yaml": text})
    return [str(issue) for issue in raised.value.issues]


@pytest.mark.parametrize(("steps", "expected"), [
    (("{event: a, on_stall: {after: 7d, set: {m: 1}, sett: 1}}", "{event: b}"),
     "rules/j.yaml:6:55: extra-forbidden: unknown key 'sett' (did you mean 'set'?)"),
    (("{event: a, on_stall: {after: 7 days, set: {m: 1}}}", "{event: b}"),
     "rules/j.yaml:6:31: string-pattern-mismatch: 'after' must be a duration, a whole number above 0 and its unit"),
    (("{event: a, on_stall: {after: 400d, set: {m: 1}}}", "{event: b}"),
     "rules/j.yaml:6:31: out-of-range: 'after' must be at most 366d (in any unit), got 400d"),
    (("{event: a, on_stall: {after: 7d, set: {}}}", "{event: b}"), "rules/j.yaml:6:42: too-short: 'set'"),
    (("{event: a, on_stall: {after: 7d}}", "{event: b}"), "rules/j.yaml:6:20: missing: 'set'"),
    (("{event: a, on_stall: {after: 31d, set: {m: 1}}}", "{event: b}"),
     "rules/j.yaml:6:31: stall-never-fires: journey 'j': a run at step 'a' is abandoned after at most 30d"
     " without a next step, so 'after: 31d' would never fire"),
    (("{event: a, on_stall: {after: 3d, set: {m: 1}}}", "{event: b, optional: true, within: 2d}",
      "{event: c, within: 2d}"),
     "rules/j.yaml:6:31: stall-never-fires: journey 'j': a run at step 'a' is abandoned after at most 2d"),
    (("{event: a}", "{event: b, on_stall: {after: 1d, set: {m: 1}}}"),
     "rules/j.yaml:7:20: stall-at-last-step: journey 'j': the last step cannot stall"),
])
def test_a_bad_on_stall_is_refused_at_its_place(steps: tuple[str, ...], expected: str) -> None:
    got = errors(*steps)
    assert any(line.startswith(expected) for line in got), got


def test_after_may_be_as_long_as_the_next_steps_window() -> None:
    plan = plan_from_texts({"rules/j.yaml": yaml.safe_dump({"journeys": [{"id": "j", "owner": "o", "within": "30d", "steps": [
        {"event": "a", "on_stall": {"after": "3d", "set": {"m": 1}}},
        {"event": "b", "optional": True, "within": "2d"}, {"event": "c", "within": "3d"}]}]})})
    (stall,) = plan.stalls
    assert (stall.id, stall.after, dict(stall.sets)) == ("j.a.stalled", 3 * 86_400, {"m": 1})


def test_a_stall_may_not_fire_under_a_moments_id() -> None:
    with pytest.raises(PlanError) as raised:
        plan_of(INSTALL, moments=[{"id": FIRED_AS, "pattern": [{"event": "x"}], "set": {"m": 1}}])
    (issue,) = raised.value.issues
    assert str(issue).startswith("rules/journeys.yaml:") and issue.code == "duplicate-id"
    assert f"stalls as the moment '{FIRED_AS}', which is a moment's id" in issue.message


def test_the_worked_example_of_appendix_j_stalled_runs_holds() -> None:
    """The plan and table under "Stalled runs are moments" in appendix J."""
    import re

    from .conftest import REPO

    section = (REPO / "docs" / "plan-format.md").read_text(encoding="utf-8").split(
        "**Stalled runs are moments.**")[1].split("## Appendix K")[0]
    (written,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    engine = Engine.from_texts({"rules/catalog.yaml": yaml.safe_dump(CATALOG), "rules/j.yaml": written,
                                "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]})})
    start = "2026-01-01T09:00:00Z"
    then = {"bob": [("installed", "2026-01-08T09:00:00Z")], "cat": [("installed", "2026-01-08T09:00:01Z")],
            "dan": [("booked", "2026-01-03T00:00:00Z")], "eve": [("signed_up", "2026-01-05T00:00:00Z")],
            "fay": [("signed_up", "2026-01-10T09:00:00Z")]}
    events = [{"customer_id": c, "type": "signed_up", "timestamp": start} for c in ("ann", *then)]
    events += [{"customer_id": c, "type": t, "timestamp": when} for c, later in then.items() for t, when in later]

    def fired_by(until: str) -> list[tuple[str, str, str]]:  # the events up to ``until``, the clock at it
        clock = datetime.fromisoformat(until).timestamp()
        known = [e for e in events if datetime.fromisoformat(e["timestamp"]).timestamp() <= clock]
        fired, errors, _ = replay(engine.plan, known, until=clock)
        assert errors == []
        return sorted((f.customer_id, f.to_record()["fired_at"], f.decision.rule) for f in fired
                      if isinstance(f.decision, Decision))

    assert fired_by("2026-01-31T00:00:00+00:00") == [
        ("ann", "2026-01-08T09:00:00Z", "stalled-install"), ("cat", "2026-01-08T09:00:00Z", "stalled-install"),
        ("eve", "2026-01-12T00:00:00Z", "stalled-install"), ("fay", "2026-01-08T09:00:00Z", "stalled-install"),
        ("fay", "2026-01-17T09:00:00Z", "stalled-install")]
    assert ("ann", "2026-01-08T09:00:00Z", "stalled-install") not in fired_by("2026-01-08T08:59:59+00:00")
