"""The stall watch (moments/stalls.py) against the journeys' reference (journeys/reference.py,
the one plain statement of what a run is): over generated journeys and event streams, a
stall fires exactly when the reference says the run was still open at that step at its
deadline; and what the watch holds stays bounded as customers come and go."""

from __future__ import annotations

from collections import Counter
from typing import Any

import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from treatment_engine import plan_from_texts
from treatment_engine.compile import CompiledPlan
from treatment_engine.durations import seconds
from treatment_engine.journeys.reference import JourneyEvent, customer_runs
from treatment_engine.moments.events import Event
from treatment_engine.moments.stalls import StallWatch

from .journey_plans import Raw, histories, journeys

END = float("inf")
Stall = tuple[str, str, float]  # stall id, customer, deadline


def with_stalls(entry: dict[str, Any], chosen: list[bool], afters: list[float]) -> dict[str, Any]:
    """``entry`` with an on_stall on each chosen step but the last, ``after`` a share of the
    longest it may be (what the next steps' windows and the journey's allow)."""
    steps = entry["steps"]
    whole = seconds(entry["within"])
    for index in range(len(steps) - 1):
        if not chosen[index]:
            continue
        longest = 0
        for step in steps[index + 1:]:
            longest = max(longest, seconds(step["within"]) if "within" in step else whole)
            if not step.get("optional"):
                break
        after = max(1, round(afters[index] * min(longest, whole)))
        steps[index] = {**steps[index], "on_stall": {"after": f"{after}s", "set": {"m": index}}}
    return entry


def plan_of(entry: dict[str, Any]) -> CompiledPlan:
    return plan_from_texts({"rules/j.yaml": yaml.safe_dump({"journeys": [{"id": "j", "owner": "t", **entry}]})})


def fields_of(item: Raw) -> dict[str, Any]:
    return {"customer_id": item[0], "type": item[1], **(item[3] if len(item) > 3 else {})}  # type: ignore[misc]


def watched(plan: CompiledPlan, raw: list[Raw]) -> tuple[Counter[Stall], StallWatch]:
    """What the watch fires over ``raw`` taken as the correlator takes events: in time order
    (input order among equal times), each first letting time pass up to it, exclusively."""
    watch = StallWatch(plan)
    fired: Counter[Stall] = Counter()
    ordered = sorted(enumerate(raw), key=lambda pair: (pair[1][2], pair[0]))
    for index, item in ordered:
        fired.update((s.id, cid, when) for s, cid, when, _ in watch.pass_time(0, float(item[2]), inclusive=False))
        watch.observe(Event(item[0], item[1], float(item[2]), fields_of(item), index), 0)
    fired.update((s.id, cid, when) for s, cid, when, _ in watch.pass_time(0, END, inclusive=True))
    return fired, watch


def expected(plan: CompiledPlan, raw: list[Raw]) -> Counter[Stall]:
    """Per run and stalled step it reached: at the deadline, with the customer's events up to
    it (those at the deadline included: they come first), is the run still the customer's
    latest, still at that step, and in progress? Times are on a half-second grid, so
    ``as_of`` a quarter second before the deadline is "a step could still come at it"."""
    journey = plan.journeys[0]
    found: Counter[Stall] = Counter()
    for customer in sorted({item[0] for item in raw}):
        history = [JourneyEvent(customer, float(item[2]), index, journey.flags(item[1], fields_of(item), float(item[2])))
                   for index, item in enumerate(raw) if item[0] == customer]
        history.sort(key=lambda e: (e.timestamp, e.index))
        for run in customer_runs(journey, history, END):
            for stall in plan.stalls:
                reached = run.reached[stall.step]
                if reached is None:
                    continue
                deadline = reached + stall.after
                then = customer_runs(journey, [e for e in history if e.timestamp <= deadline], deadline - 0.25)
                latest = then[-1]
                if latest.number == run.number and latest.position == stall.step and latest.status == "in_progress":
                    found[(stall.id, customer, deadline)] += 1
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(  # consecutive: an event of a step type that is not the next step abandons the run
    {"within": "7s", "order": "consecutive", "steps": [
        {"event": "start"}, {"id": "s1", "event": "middle", "if": "v >= 1", "within": "4s"},
        {"id": "s2", "event": "end", "within": "4s"}]},
    [True, False, False, False], [1.0, 1.0, 1.0, 1.0], [("a", "start", 0.0, {}), ("a", "middle", 1.0, {"v": 0})])
@given(journeys(), st.lists(st.booleans(), min_size=4, max_size=4),
       st.lists(st.sampled_from([0.25, 0.5, 1.0]), min_size=4, max_size=4), histories())
def test_a_stall_fires_exactly_when_the_reference_says_its_run_sat_there(
        entry: dict[str, Any], chosen: list[bool], afters: list[float], raw: list[Raw]) -> None:
    plan = plan_of(with_stalls(entry, chosen, afters))
    fired, watch = watched(plan, raw)
    assert fired == expected(plan, raw)
    assert all(count == 1 for count in fired.values())  # once per run and step
    assert watch.held() == (0, 0)  # once every window closed, nothing is left


def test_the_watch_holds_only_open_runs_and_sweeps_retracted_timers() -> None:
    plan = plan_of({"within": "10d", "steps": [
        {"event": "start", "on_stall": {"after": "9d", "set": {"m": 1}}},
        {"event": "middle", "within": "9d"}, {"event": "end", "within": "5d"}]})
    watch = StallWatch(plan)
    day = 86_400.0
    for n in range(2_000):  # a customer an hour for 83 days, each moving on within the hour
        start = n * 3_600.0
        watch.pass_time(0, start, inclusive=False)
        watch.observe(Event(f"c{n}", "start", start, {}, 3 * n), 0)
        watch.observe(Event(f"c{n}", "middle", start + 60, {}, 3 * n + 1), 0)  # retracts the stall
        runs, timers = watch.held()
        # One timer per open run, and retracted ones until they are the most: then swept
        # (unswept, the retracted stalls of the last 9 days would be 216 more).
        assert timers <= 2 * runs + 65
    # Runs stay open until 5 days after their middle step: the last 120 hours' customers
    # and the current one. Without forgetting, 2,000.
    assert watch.held()[0] == 5 * 24 + 1
    watch.pass_time(0, 2_000 * 3_600.0 + 10 * day, inclusive=True)
    assert watch.held() == (0, 0)


def test_the_correlators_stalls_stay_bounded_and_fire_once_per_idle_run() -> None:
    """Through the correlator, as replay and the partition owners feed it: a customer an hour
    for 200 days. One in four signs up and does nothing (a stall 7 days on; the run is
    forgotten 14 days on), one books within the hour (the sign-up's stall retracted, the
    booking's 5 days on; forgotten 14 days after booking), two are installed (completed:
    forgotten at once)."""
    from treatment_engine.moments.correlator import Correlator

    from .test_journey_stalls import INSTALL

    plan = plan_of({key: value for key, value in INSTALL.items() if key not in ("id", "owner")})
    stream = []
    for n in range(24 * 200):
        start = n * 3_600.0
        stream.append(Event(f"c{n}", "signed_up", start, {}, len(stream)))
        if n % 4 == 1:
            stream.append(Event(f"c{n}", "booked", start + 60, {}, len(stream)))
        elif n % 4 > 1:
            stream.append(Event(f"c{n}", "installed", start + 60, {}, len(stream)))
    with Correlator(plan) as correlator:
        fired = correlator.feed(stream, decide=False)
        runs, timers = correlator.stalls.held()
    clock = stream[-1].timestamp
    idle = [("j.signed_up.stalled", n) for n in range(0, 24 * 200, 4) if n * 3_600.0 + 7 * 86_400 < clock]
    booked = [("j.booked.stalled", n) for n in range(1, 24 * 200, 4) if n * 3_600.0 + 60 + 5 * 86_400 < clock]
    assert sorted((f.moment, int(f.customer_id[1:])) for f in fired) == sorted(idle + booked)
    # Open: the idle and the booked runs of the last 14 days, 2 x 84 of the 4,800; one
    # timer each, and retracted ones within as many again.
    assert runs == 168 and timers <= 2 * runs + 65
