"""The correlator forgets what can no longer matter: its worker's memory stays bounded
under an endless stream of new customers, and what fires does not change
(docs/plan-format.md, appendix D, "Memory")."""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import timedelta

import pytest

from treatment_engine import Engine
from treatment_engine.moments.correlator import Correlator, Fired, keeps
from treatment_engine.moments.events import Event, parse_event
from treatment_engine.moments.rulesets import TICK, spec_of
from treatment_engine.moments.worker import Worker

from .test_moments import DAY, REPEAT, STALLED, T0, THREE, plan_with

HOUR = timedelta(hours=1)
PLAN = plan_with(REPEAT, STALLED, THREE).plan  # longest pattern: 30 days, so kept 60 days


def events(raw: Iterable[tuple[str, str, timedelta]]) -> list[Event]:
    return [Event(cid, kind, (T0 + offset).timestamp(), {}, index) for index, (cid, kind, offset) in enumerate(raw)]


def keys(fired: list[Fired]) -> list[tuple[str, str, float]]:
    return sorted((f.moment, f.customer_id, f.fired_at) for f in fired)


def test_the_plan_keeps_two_of_its_longest_patterns() -> None:
    assert keeps(PLAN) == 2 * 30 * DAY.total_seconds()
    assert keeps(plan_with({"id": "now", "pattern": [{"event": "survey"}], "set": {"m": 1}}).plan) == 0


def one_time_customers(count: int) -> list[tuple[str, str, timedelta]]:
    """A new customer an hour, each leaving three messages behind for good: a complaint
    never repeated, an order whose absence an installation blocked, and that absence's tick."""
    stream = []
    for n in range(count):
        start = n * HOUR
        stream += [(f"c{n}", "complaint", start), (f"c{n}", "order", start), (f"c{n}", "installed", start + HOUR)]
    return stream


def test_the_workers_state_stays_bounded_as_customers_pass_their_windows() -> None:
    hours = 24 * 200  # 200 days of customers; only the last 60 days' can still matter
    with Correlator(PLAN) as correlator:
        fired = correlator.feed(events(one_time_customers(hours)), decide=False)
        held = correlator.start().held()
        tracked = len(correlator.retention)
    assert fired == []  # every absence was blocked: forgetting the blocker fired none of them
    # The clock ends at hour 4,800 and keeps 1,440 hours: what is at hour 3,360 or later.
    # That is 1,440 customers' complaint, order and installation, the installation of the
    # customer before them (at 3,359 + 1), and 1,440 ticks (those at 14 days + 1 ms after
    # the orders of hours 3,024 to 4,463). The worker holds each complaint twice (the
    # repeat and the three-in-a-week moments). Without expiry it would hold about 23,000.
    assert tracked == 4 * 1_440 + 1
    assert held == tracked + 1_440


def test_a_moment_inside_its_window_still_fires_among_forgotten_customers() -> None:
    stream = one_time_customers(24 * 100)
    # A customer whose two complaints are exactly the window apart, late in the stream.
    stream += [("keeper", "complaint", 60 * DAY), ("keeper", "complaint", 90 * DAY)]
    stream += [("stalls", "order", 70 * DAY)]  # nothing installed: fires 14 days on
    stream.sort(key=lambda item: item[2])
    with Correlator(PLAN) as correlator:
        fired = keys(correlator.feed(events(stream), decide=False))
    assert fired == [("repeat", "keeper", (T0 + 90 * DAY).timestamp()),
                     ("stalled", "stalls", (T0 + 84 * DAY).timestamp())]


@pytest.mark.parametrize(("clock_ahead", "fires"), [(45 * DAY, True), (60 * DAY, True), (61 * DAY, False)])
def test_an_event_behind_the_clock_meets_what_two_horizons_keep(clock_ahead: timedelta, fires: bool) -> None:
    # a's second complaint comes 29 days after their first, but only once another customer
    # moved the clock ``clock_ahead`` past the first: within two horizons, still a match.
    stream = [("a", "complaint", timedelta(0)), ("b", "complaint", clock_ahead), ("a", "complaint", 29 * DAY)]
    with Correlator(PLAN) as correlator:
        fired = keys(correlator.feed(events(stream), decide=False))
    assert fired == ([("repeat", "a", (T0 + 29 * DAY).timestamp())] if fires else [])


def random_stream(seed: int) -> list[tuple[str, str, timedelta]]:
    """Customers coming over 300 days, each with a few events within about 40 days."""
    rng = random.Random(seed)
    stream = []
    for n in range(1_500):
        start = timedelta(days=rng.uniform(0, 300))
        for _ in range(rng.randrange(1, 5)):
            kind = rng.choice(["complaint", "order", "installed"])
            stream.append((f"c{n}", kind, start + timedelta(days=rng.uniform(0, 40))))
    stream.sort(key=lambda item: item[2])
    return stream


def test_forgetting_never_changes_what_fires() -> None:
    stream = events(random_stream(7))
    with Correlator(PLAN) as forgetting, Correlator(PLAN) as remembering:
        remembering.retention.keep = float("inf")
        forgot = keys(forgetting.feed(stream, decide=False) + forgetting.advance_to(stream[-1].timestamp + 1e8))
        remembered = keys(remembering.feed(stream, decide=False)
                          + remembering.advance_to(stream[-1].timestamp + 1e8))
        assert forgetting.start().held() < remembering.start().held() / 2
    assert len(forgot) > 500
    assert forgot == remembered


def test_a_dropped_domain_is_forgotten_with_the_next_batch() -> None:
    stream = events([(f"{side}{n}", "complaint", n * HOUR) for n in range(50) for side in "ab"])
    with Correlator(PLAN, domain_of=lambda cid: 0 if cid.startswith("a") else 1) as correlator:
        correlator.feed(stream, decide=False)
        assert correlator.start().held() == 2 * 100  # each complaint in two moments
        correlator.drop_domain(1)
        correlator.feed(events([("a-later", "complaint", 50 * HOUR)]), decide=False)
        assert correlator.start().held() == 2 * 51
        assert len(correlator.retention) == 51


def test_forgetting_the_event_that_blocked_an_absence_fires_nothing() -> None:
    # durable-rules re-checks a `none` when the event that blocked it is retracted: the
    # order and the deadline's tick would fire. The correlator retracts the order first;
    # the worker also drops whatever a retraction fires, which this checks on its own.
    worker = Worker([spec_of(moment) for moment in plan_with(STALLED).plan.moments], "memory")
    try:
        order = {"sid": "0", "id": 1, "cid": "a", "t": "order", "seq": 1, "ts": 0.0, "d1": 14 * 86_400.0}
        installed = {"sid": "0", "id": 2, "cid": "a", "t": "installed", "seq": 2, "ts": 60.0, "d1": 14 * 86_460.0}
        tick = {"sid": "0", "id": 3, "cid": "a", "t": TICK, "seq": 3, "ts": 14 * 86_400.001}
        assert worker.run([(0, order), (0, installed), (0, tick)]) == []  # blocked
        assert worker.held() == 3
        assert worker.run([(0, 2)]) == []  # the installation alone: the absence matched, unreported
        assert worker.held() == 0  # (and took the order and the tick with it)
    finally:
        worker.stop()


@pytest.mark.parametrize(("clock", "fires"), [("2026-11-25T00:00:00Z", True), ("2026-12-20T00:00:00Z", True),
                                              ("2026-12-31T09:00:00Z", True), ("2026-12-31T09:00:01Z", False),
                                              ("2027-01-02T00:00:00Z", False)])
def test_appendix_ds_worked_example(default_engine: Engine, clock: str, fires: bool) -> None:
    plan = default_engine.plan  # the appendix's moments: kept 60 days behind the clock
    raw = [{"customer_id": "c1", "type": "complaint", "timestamp": "2026-11-01T09:00:00Z"},
           {"customer_id": "c2", "type": "survey_response", "timestamp": clock, "score": 9},
           {"customer_id": "c1", "type": "complaint", "timestamp": "2026-11-25T00:00:00Z"}]
    parsed = [parse_event(item, index, plan.event_types) for index, item in enumerate(raw)]
    with Correlator(plan) as correlator:
        fired = correlator.feed([item for item in parsed if isinstance(item, Event)], decide=False)
    assert [(f.moment, f.customer_id) for f in fired] == ([("repeat-complaint", "c1")] if fires else [])
