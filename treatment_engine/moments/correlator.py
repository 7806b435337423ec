"""Correlate events into moments and decide a treatment for each moment that fires.

The clock is the events' own: an event at time T first lets every absence deadline
before T expire (a clock tick per deadline), then is posted. So a replay fires exactly
what a live run would have, window edges included, whatever the wall clock says.
Rules of time (docs/plan-format.md, appendix D): `within` includes its last instant;
an event older than the customer's latest one is refused as late; what the worker holds
is forgotten once the clock is two horizons past it (:func:`keeps`), so its memory stays
bounded however many customers come and go.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from ..compile import CompiledPlan
from ..contacts import ContactState
from ..decision import Decision, DecisionError
from ..engine import Engine
from .clock import Deadlines, Frontier, Held, Retention
from .events import Event, EventError, iso, parse_event
from .rulesets import TICK, deadline_key, spec_of
from .stalls import Stalled, StallWatch
from .worker import Post, Worker

BATCH = 2_000  # events per round trip to the worker
TICK_AFTER = 0.001  # a deadline's tick comes just after it: `within` includes its last instant


def keeps(plan: CompiledPlan) -> float:
    """Seconds behind the clock the correlator keeps an event: two horizons (the longest
    pattern of the plan, first event to last instant). One: no event of a customer later
    than that can complete a pattern with it. The other: a customer's events may arrive
    behind the clock (a source that lags); up to a horizon behind, they still meet every
    event they could complete a pattern with. A rebuilt partition reads as far back
    (moments/owner.py), so a restarted owner holds what a live one would."""
    return 2 * max((m.horizon for m in plan.moments), default=0)


def rebuild_span(plan: CompiledPlan) -> float:
    """Seconds behind the clock a rebuilt partition reads: what the worker keeps, and the
    whole of the longest journey with a stalled step (a run still open began at most its
    `within` ago; moments/stalls.py)."""
    return max([keeps(plan), *(plan.journeys[s.journey].within for s in plan.stalls)])


@dataclass
class Fired:
    moment: str
    customer_id: str
    fired_at: float
    events: tuple[int, ...]  # input positions of the matched events
    decision: Decision | DecisionError | None = None
    decision_id: str | None = None  # the decision log's id, where one is kept
    profile: dict[str, Any] | None = None  # what was decided: the customer's profile, the moment's fields set

    def to_record(self) -> dict[str, Any]:
        record = {"moment": self.moment, "customer_id": self.customer_id, "fired_at": iso(self.fired_at),
                  "events": list(self.events),
                  "decision": self.decision.to_record() if self.decision is not None else None}
        if self.decision_id is not None:
            record["decision_id"] = self.decision_id
        return record


@dataclass
class ReplaySummary:
    events: int = 0
    invalid: int = 0
    fired: Counter[str] = field(default_factory=Counter)
    treatments: Counter[tuple[str, str, str]] = field(default_factory=Counter)  # (moment, treatment, rule)
    seconds: float = 0.0


@dataclass(frozen=True)
class _Watch:
    """How events of one type concern one moment."""

    moment: int
    flags: tuple[tuple[int, Any], ...]  # (step, compiled if) for this type's steps with an `if`
    unconditional: bool  # some step of this type has no `if`: the event always matters
    arms: tuple[int, Any] | None  # (step, its if or None) when the event can start an absence's wait
    windows: tuple[tuple[str, int], ...]  # (message field, seconds) per step with a window


class ProfileSource(Protocol):
    """Where a fired moment's customer profile comes from (a dict will do)."""

    def get(self, customer_id: str, /) -> Mapping[str, Any] | None: ...


class Correlator:
    """Feeds events to a durable-rules worker for one plan and decides what fires."""

    def __init__(self, plan: CompiledPlan, profiles: ProfileSource | Mapping[str, Mapping[str, Any]] | None = None,
                 limits: Callable[[str, date], ContactState] | None = None,
                 domain_of: Callable[[str], int] | None = None) -> None:
        """``limits`` gives a customer's contact limits on a day (from a decision log), so a
        moment's decision respects the plan's caps and cooldown like any other.
        ``domain_of`` splits customers into clock domains (moments/clock.py): a customer's
        events move only their own domain's clock; without it, one clock for everyone."""
        self.plan = plan
        self._domain_of = domain_of
        self._deciding = Engine(plan)
        self._sets = {m.id: m.sets for m in plan.moments} | {s.id: s.sets for s in plan.stalls}
        self.stalls = StallWatch(plan)
        self._stalled: list[Stalled] = []  # stalls whose deadline passed, fired with the next batch
        self.profiles = profiles or {}
        self.limits = limits
        self.known_types = plan.event_types
        self._watches: dict[str, list[_Watch]] = {}
        for index, moment in enumerate(plan.moments):
            absence = moment.steps[-1] if moment.steps[-1].absent else None
            last_positive = len(moment.steps) - (2 if absence else 1)
            for kind in {s.event for s in moment.steps}:
                steps = [(i, s) for i, s in enumerate(moment.steps) if s.event == kind]
                arms = None
                if absence is not None and moment.steps[last_positive].event == kind:
                    arms = (last_positive, moment.steps[last_positive].test)
                self._watches.setdefault(kind, []).append(_Watch(
                    index, tuple((i, s.test) for i, s in steps if s.test is not None),
                    any(s.test is None for _, s in steps), arms,
                    tuple((deadline_key(i), s.within) for i, s in enumerate(moment.steps) if s.within)))
        self._worker: Worker | None = None
        self._seq = 0
        self._positions: dict[int, int] = {}  # seq -> input position, while the worker holds it
        self._latest: dict[str, float] = {}  # customer -> their latest event's time (replay's late check)
        self._deadlines = Deadlines()
        self.retention = Retention(keeps(plan))
        self._forgetting: list[Post] = []  # sent with the next batch: a dropped domain's messages
        self._forgotten: list[int] = []  # seqs forgotten in the batch being built

    # -- feeding ---------------------------------------------------------------------

    def feed(self, events: Iterable[Event], decide: bool = True) -> list[Fired]:
        """Correlate events in the order given; the moments they complete, decided (unless
        ``decide`` is False: a rebuild, whose firings were decided when they first came)."""
        fired: list[Fired] = []
        posts: list[Post] = []
        domain_of = self._domain_of
        for event in events:
            domain = domain_of(event.customer_id) if domain_of is not None else 0
            self._advance(domain, event.timestamp, posts, inclusive=False)
            self._post(event, domain, posts)
            self.stalls.observe(event, domain)
            if len(posts) >= BATCH:
                fired += self._send(posts, decide)
                posts = []
        fired += self._send(posts, decide)
        return fired

    def check(self, event: Event) -> EventError | None:
        """The late-event rule: a customer's events arrive in time order."""
        latest = self._latest.get(event.customer_id)
        if latest is not None and event.timestamp < latest:
            return EventError(event.index, event.customer_id,
                              f"late event: {iso(event.timestamp)} is before this customer's latest "
                              f"event ({iso(latest)}); events of a customer must arrive in time order")
        self._latest[event.customer_id] = event.timestamp
        return None

    def advance_to(self, until: float, *, inclusive: bool = True, decide: bool = True,
                   domain: int | None = None) -> list[Fired]:
        """Let the clock reach ``until`` (every domain's, or one's): absences whose deadline
        passed fire (decided unless ``decide`` is False)."""
        posts: list[Post] = []
        for each in self._deadlines.domains() if domain is None else [domain]:
            self._advance(each, until, posts, inclusive)
        return self._send(posts, decide)

    def frontier(self, domain: int = 0) -> Frontier:
        """How far ``domain``'s clock has gone (moments/clock.py)."""
        return self._deadlines.frontier(domain)

    def drop_domain(self, domain: int) -> None:
        """Stop keeping time for ``domain`` and forget what the worker holds of its customers
        (with the next batch). Their events must never be fed to this correlator again: what
        they fired and consumed is not undone."""
        self._deadlines.drop(domain)
        self.stalls.drop(domain)
        self._forget(self.retention.drop(domain), self._forgetting)

    def decide(self, fired: Fired) -> Fired:
        """Decide a moment that fired undecided (``decide=False``)."""
        return self._decide(fired)

    def start(self) -> Worker:
        """Start the durable-rules worker now, not with the first event (about a second)."""
        if self._worker is None:
            self._worker = Worker([spec_of(m) for m in self.plan.moments], self.plan.version)
        return self._worker

    def close(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def __enter__(self) -> Correlator:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals -------------------------------------------------------------------

    def _advance(self, domain: int, until: float, posts: list[Post], inclusive: bool) -> None:
        for deadline, _, moment, customer in self._deadlines.pass_time(domain, until, inclusive):
            self._seq += 1
            tick = deadline + TICK_AFTER
            posts.append((moment, {"sid": "0", "id": self._seq, "cid": customer, "t": TICK, "seq": self._seq,
                                   "ts": tick}))
            # A blocked absence leaves its tick behind: forgotten like an event.
            self.retention.add(domain, (tick, self._seq, (moment,)))
        self._stalled += self.stalls.pass_time(domain, until, inclusive)
        self._forget(self.retention.expired(domain, self._deadlines.frontier(domain)[0]), posts)

    def _forget(self, held: Iterable[Held], posts: list[Post]) -> None:
        """Retract messages from the worker, oldest first: an arming event goes before the
        event that blocked its absence (and the worker drops whatever a retraction fires)."""
        for _, seq, moments in held:
            posts += [(moment, seq) for moment in moments]
            self._forgotten.append(seq)

    def _post(self, event: Event, domain: int, posts: list[Post]) -> None:
        watches = self._watches.get(event.type)
        if not watches:
            return
        self._seq += 1
        seq = self._seq
        day = datetime.fromtimestamp(event.timestamp, UTC).date().toordinal()
        env = (None, None, None, day)
        fields = event.fields
        posted: list[int] = []
        for watch in watches:
            # An explicit id: without one durable-rules names a message by a hash of its
            # content and, past about 100,000 messages, takes a collision for a duplicate.
            message: dict[str, Any] = {"sid": "0", "id": seq, "cid": event.customer_id, "t": event.type, "seq": seq,
                                       "ts": event.timestamp}
            for key, within in watch.windows:
                message[key] = event.timestamp + within
            holding = False
            for step, test in watch.flags:
                if test(fields, env) is True:
                    message[f"i{step}"] = True
                    holding = True
            if holding or watch.unconditional:
                posts.append((watch.moment, message))
                posted.append(watch.moment)
            if watch.arms is not None:
                step, test = watch.arms
                if test is None or message.get(f"i{step}"):
                    within = self.plan.moments[watch.moment].steps[-1].within or 0
                    self._deadlines.add(domain, (event.timestamp + within, seq, watch.moment, event.customer_id))
        if posted:
            self._positions[seq] = event.index
            self.retention.add(domain, (event.timestamp, seq, tuple(posted)))

    def _send(self, posts: list[Post], decide: bool = True) -> list[Fired]:
        if self._forgetting:
            posts, self._forgetting = self._forgetting + posts, []
        found = []
        for moment, customer, when, seqs in self.start().run(posts) if posts else ():
            compiled = self.plan.moments[moment]
            if compiled.steps[-1].absent:  # fired by the deadline's tick: report the deadline
                when -= TICK_AFTER
            found.append(Fired(compiled.id, customer, when, tuple(self._positions.get(s, -1) for s in seqs)))
        if self._stalled:
            found += [Fired(stall.id, customer, when, events) for stall, customer, when, events in self._stalled]
            self._stalled.clear()
            # In time order, as the worker's are: a customer's firings are decided in order.
            found.sort(key=lambda item: item.fired_at)
        if decide:
            found = [self._decide(item) for item in found]
        # Only now: an event may fire and be forgotten in the same batch.
        for seq in self._forgotten:
            self._positions.pop(seq, None)
        self._forgotten.clear()
        return found

    def _decide(self, fired: Fired) -> Fired:
        profile = {**(self.profiles.get(fired.customer_id) or {}), "customer_id": fired.customer_id,
                   **self._sets[fired.moment]}
        day = datetime.fromtimestamp(fired.fired_at, UTC).date()
        fired.profile = profile
        limits = self.limits(fired.customer_id, day) if self.limits is not None else None
        fired.decision = self._deciding.decide_or_error(profile, day, limits=limits)
        return fired


def replay(plan: CompiledPlan, raw_events: Iterable[Any], profiles: ProfileSource | Mapping[str, Mapping[str, Any]] | None = None,
           until: float | None = None) -> tuple[list[Fired], list[EventError], ReplaySummary]:
    """Replay a file's events in time order (input order among equal times)."""
    started = time.perf_counter()
    summary = ReplaySummary()
    errors: list[EventError] = []
    valid: list[Event] = []
    for index, raw in enumerate(raw_events):
        summary.events += 1
        parsed = parse_event(raw, index, plan.event_types)
        if isinstance(parsed, EventError):
            errors.append(parsed)
        else:
            valid.append(parsed)
    valid.sort(key=lambda e: (e.timestamp, e.index))
    with Correlator(plan, profiles) as correlator:
        accepted = []
        for event in valid:
            problem = correlator.check(event)
            if problem is None:
                accepted.append(event)
            else:  # pragma: no cover - sorted input is never late
                errors.append(problem)
        fired = correlator.feed(accepted)
        if until is not None:
            fired += correlator.advance_to(until)
    summary.invalid = len(errors)
    for item in fired:
        summary.fired[item.moment] += 1
        if isinstance(item.decision, Decision):
            summary.treatments[(item.moment, item.decision.treatment, item.decision.rule)] += 1
    summary.seconds = time.perf_counter() - started
    errors.sort(key=lambda e: e.index)
    return fired, errors, summary
