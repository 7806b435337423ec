"""Stalled journey runs, fired as moments on the moments' clock (docs/plan-format.md,
appendix J, "Stalled runs").

The correlator hands every event to :class:`StallWatch`, which follows each customer's
current run of every journey with an ``on_stall`` step, by the rules of
journeys/reference.py taken one event at a time. A run has one pending timer: at its
step's stall deadline (when it reached the step plus ``after``) if a next step could
still come then, else when the run's last window closes. Whatever moves the run on
(a next step, a first step starting a new run, the last step, a broken consecutive run)
retracts that timer; when time passes a stall deadline the moment fires and the run
waits for its window to close; when it closes the run is forgotten. So what is held is
one run and one timer per customer with a run still open: memory stays bounded like the
rest of the correlation state, and each run fires each stalled step at most once.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from ..compile import CompiledPlan
from ..journeys.compiled import CompiledJourney
from ..journeys.stalls import CompiledStall
from .events import Event

# (when, token, journey slot, customer, a stall deadline (else: the run's window closes))
Timer = tuple[float, int, int, str, bool]
Stalled = tuple[CompiledStall, str, float, tuple[int, ...]]  # the stall, customer, deadline, its run's events


@dataclass(slots=True)
class _Run:
    start: float  # when its first step was reached
    since: float  # when its current step was
    at: int  # its current step
    events: list[int]  # input positions of the events of the steps reached
    token: int = 0  # its pending timer's: a timer with another token was retracted


class StallWatch:
    """The open runs of one plan's stalling journeys, per clock domain, and their timers."""

    def __init__(self, plan: CompiledPlan) -> None:
        slots: dict[int, dict[int, CompiledStall]] = {}
        for stall in plan.stalls:
            slots.setdefault(stall.journey, {})[stall.step] = stall
        self._journeys = [(plan.journeys[j], by_step) for j, by_step in sorted(slots.items())]
        self._by_type: dict[str, list[int]] = {}
        for slot, (journey, _) in enumerate(self._journeys):
            for kind in journey.step_types:
                self._by_type.setdefault(kind, []).append(slot)
        self._runs: dict[int, dict[tuple[int, str], _Run]] = {}
        self._timers: dict[int, list[Timer]] = {}
        self._retracted: dict[int, int] = {}  # per domain: timers in the heap no run waits for
        self._token = 0

    def observe(self, event: Event, domain: int) -> None:
        """Follow ``event`` (the customer's latest) in each stalling journey that names its type."""
        for slot in self._by_type.get(event.type, ()):
            journey = self._journeys[slot][0]
            flags = journey.flags(event.type, event.fields, event.timestamp)
            key = (slot, event.customer_id)
            runs = self._runs.setdefault(domain, {})
            if flags.steps[0]:  # a new run; one still going is abandoned
                going = key in runs
                runs[key] = _Run(event.timestamp, event.timestamp, 0, [event.index])
                self._schedule(domain, key)
                if going:
                    self._retract(domain)
                continue
            run = runs.get(key)
            if run is None:
                continue
            step = _next_step(journey, run, flags.steps, event.timestamp)
            if step is None:
                if journey.consecutive:  # another step's event came between: abandoned
                    self._end(domain, key)
                continue
            run.at, run.since = step, event.timestamp
            run.events.append(event.index)
            if step == len(journey.steps) - 1:
                self._end(domain, key)  # completed
            else:
                self._schedule(domain, key)
                self._retract(domain)

    def pass_time(self, domain: int, until: float, inclusive: bool) -> list[Stalled]:
        """Move ``domain``'s timers to ``until``: the stalls whose deadline passed, in time order."""
        heap = self._timers.get(domain)
        runs = self._runs.get(domain, {})
        stalled: list[Stalled] = []
        while heap and (heap[0][0] < until or (inclusive and heap[0][0] <= until)):
            when, token, slot, customer, stalls = heapq.heappop(heap)
            key = (slot, customer)
            run = runs.get(key)
            if run is None or run.token != token:
                self._retracted[domain] -= 1
                continue
            if not stalls:  # its window closed: nothing can move it on
                del runs[key]
                continue
            stall = self._journeys[slot][1][run.at]
            stalled.append((stall, customer, when, tuple(run.events)))
            self._schedule(domain, key, stalled=True)
        return stalled

    def drop(self, domain: int) -> None:
        """Forget a domain (its partition went to another owner)."""
        for held in (self._runs, self._timers, self._retracted):
            held.pop(domain, None)

    def held(self) -> tuple[int, int]:
        """How many runs are followed and how many timers wait (tests, diagnostics)."""
        return sum(map(len, self._runs.values())), sum(map(len, self._timers.values()))

    # -- internals -------------------------------------------------------------------

    def _schedule(self, domain: int, key: tuple[int, str], stalled: bool = False) -> None:
        journey, stalls = self._journeys[key[0]]
        run = self._runs[domain][key]
        closes = _closes(journey, run)
        stall = None if stalled else stalls.get(run.at)
        # Exactly at the deadline a next step is still in time (and would have come first).
        fires = stall is not None and run.since + stall.after <= closes
        self._token += 1
        run.token = self._token
        when = run.since + stall.after if fires and stall is not None else closes
        heapq.heappush(self._timers.setdefault(domain, []), (when, self._token, key[0], key[1], fires))

    def _retract(self, domain: int) -> None:
        """Count a timer no run waits for any more (its run moved on, so its token is stale):
        it stays in the heap until time passes it, or until retracted ones are the most
        and they are swept out, so the heap stays within twice the runs it times."""
        retracted = self._retracted[domain] = self._retracted.get(domain, 0) + 1
        heap = self._timers[domain]
        if retracted > 64 and retracted * 2 > len(heap):  # mostly retracted: sweep
            runs = self._runs[domain]
            heap[:] = [t for t in heap if (run := runs.get((t[2], t[3]))) is not None and run.token == t[1]]
            heapq.heapify(heap)
            self._retracted[domain] = 0

    def _end(self, domain: int, key: tuple[int, str]) -> None:
        del self._runs[domain][key]
        self._retract(domain)


def _next_step(journey: CompiledJourney, run: _Run, matches: tuple[bool, ...], timestamp: float) -> int | None:
    """The step an event takes the run to, if any (journeys/reference.py, ``_next_step``)."""
    if timestamp - run.start > journey.within:
        return None
    for step in journey.candidates(run.at):
        within = journey.steps[step].within
        if matches[step] and (within is None or timestamp - run.since <= within):
            return step
    return None


def _closes(journey: CompiledJourney, run: _Run) -> float:
    """The last instant a next step can come in time (appendix J: the edge is in time)."""
    windows = [journey.steps[step].within for step in journey.candidates(run.at)]
    latest = run.start + journey.within
    if all(within is not None for within in windows):
        latest = min(latest, run.since + max(w for w in windows if w is not None))
    return latest
