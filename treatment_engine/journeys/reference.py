"""What a run of a journey is, stated once in plain Python (appendix J). The SQL back ends
must give exactly these runs; the differential tests hold them to it.

One customer's events are taken in time order (input order among equal times). Only
events of a type the journey's steps name take part in runs:

- an event matching the first step starts a run, and ends one still going (abandoned);
- a run at step k goes on with the first later event that matches one of the steps it may
  take next (the optional steps after k and the first required one; the earliest of them
  when an event matches several) in time: at most the step's ``within`` after step k and
  the journey's ``within`` after the first step (exactly at the limit is in time);
- ``in_order``: other events between steps are passed over; ``consecutive``: the next
  event of a step type must be the next step, anything else abandons the run;
- reaching the last step completes the run; a run not completed is *in progress* while
  a step could still come in time (at ``as_of``, its window not yet closed) and is the
  customer's latest run, and *abandoned* otherwise.

A completed run succeeds when, within ``after.within`` of its last step, no ``none`` event
and every ``require`` event came (events after the last step in the same order); until
that window closes its success is undecided (None), as is an in-progress run's.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from .compiled import CompiledJourney, EventFlags

Status = Literal["completed", "abandoned", "in_progress"]


@dataclass(frozen=True, slots=True)
class JourneyEvent:
    """One customer's event as one journey sees it."""

    customer_id: str
    timestamp: float  # seconds since the epoch, UTC
    index: int  # position in its input: the order among equal times
    flags: EventFlags


@dataclass(frozen=True, slots=True)
class Run:
    journey: str
    customer_id: str
    number: int  # the customer's first run of this journey is 1
    reached: tuple[float | None, ...]  # when each step was reached
    status: Status
    success: bool | None  # None: not decided yet

    @property
    def position(self) -> int:
        """The last step reached."""
        return max(i for i, t in enumerate(self.reached) if t is not None)


def runs(journey: CompiledJourney, events: Iterable[JourneyEvent], as_of: float) -> list[Run]:
    """Every run of ``journey`` in ``events`` (any customers, any order; those after
    ``as_of`` must already be left out), by customer and run number."""
    by_customer: dict[str, list[JourneyEvent]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)
    found: list[Run] = []
    for customer in sorted(by_customer):
        history = sorted(by_customer[customer], key=lambda e: (e.timestamp, e.index))
        found.extend(customer_runs(journey, history, as_of))
    return found


@dataclass
class _Going:
    number: int
    reached: list[float | None]
    start: float  # when the first step was reached
    since: float  # when the step reached last was
    at: int  # the step reached last
    where: int  # the position (in the customer's history) of its latest step's event
    broken: bool = False  # consecutive: another event came between steps


def customer_runs(journey: CompiledJourney, history: Sequence[JourneyEvent], as_of: float) -> list[Run]:
    """The runs in one customer's history, already in time order."""
    finished: list[Run] = []
    going: _Going | None = None
    started = 0
    last = len(journey.steps) - 1
    for position, event in enumerate(history):
        flags = event.flags
        if not flags.relevant:
            continue
        if flags.steps[0]:
            if going is not None:
                finished.append(_finish(journey, going, history, as_of, superseded=True))
            started += 1
            going = _Going(started, [event.timestamp] + [None] * last, event.timestamp, event.timestamp, 0, position)
            continue
        if going is None or going.broken or going.at == last:
            continue
        step = _next_step(journey, going, event)
        if step is not None:
            going.reached[step], going.since, going.at, going.where = event.timestamp, event.timestamp, step, position
        elif journey.consecutive:
            going.broken = True
    if going is not None:
        finished.append(_finish(journey, going, history, as_of, superseded=False))
    return finished


def _next_step(journey: CompiledJourney, going: _Going, event: JourneyEvent) -> int | None:
    start, since = going.start, going.since
    if event.timestamp - start > journey.within:
        return None
    for step in journey.candidates(going.at):
        within = journey.steps[step].within
        if event.flags.steps[step] and (within is None or event.timestamp - since <= within):
            return step
    return None


def _open(journey: CompiledJourney, going: _Going, as_of: float) -> bool:
    """Whether a next step could still come in time after ``as_of``."""
    if as_of - going.start >= journey.within:
        return False
    windows = (journey.steps[step].within for step in journey.candidates(going.at))
    return any(within is None or as_of - going.since < within for within in windows)


def _finish(journey: CompiledJourney, going: _Going, history: Sequence[JourneyEvent], as_of: float,
            superseded: bool) -> Run:
    customer = history[going.where].customer_id
    reached = tuple(going.reached)
    if going.at == len(journey.steps) - 1:
        return Run(journey.id, customer, going.number, reached, "completed",
                   _succeeded(journey, history, going.where, as_of))
    status: Status = "in_progress" if not superseded and not going.broken and _open(journey, going, as_of) \
        else "abandoned"
    return Run(journey.id, customer, going.number, reached, status, None if status == "in_progress" else False)


def _succeeded(journey: CompiledJourney, history: Sequence[JourneyEvent], last: int, as_of: float) -> bool | None:
    if journey.after_within is None:
        return True
    done = history[last].timestamp
    if as_of - done < journey.after_within:
        return None
    window = [e.flags for e in history[last + 1:] if e.timestamp - done <= journey.after_within]
    if any(flags.forbidden for flags in window):
        return False
    return all(any(flags.required[i] for flags in window) for i in range(len(journey.require)))
