"""Journeys compiled once: windows in seconds, conditions as closures, and the steps a run
may go to next. The reference and the SQL back ends both read this one form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..durations import seconds
from ..errors import Location
from ..expressions.ast import Expression
from ..expressions.closures import Compiled, compile_expression
from ..model import EventMatch
from .checks import JourneyConditions
from .model import Journey


@dataclass(frozen=True, slots=True)
class CompiledJourneyStep:
    name: str
    event: str
    test: Compiled | None  # its `if`, over the event's own fields
    optional: bool
    within: int | None  # seconds after the previous step reached; None: only the journey's bound
    target_rate: float | None
    target_within: int | None  # seconds; the window the target counts arrivals in


@dataclass(frozen=True, slots=True)
class EventTest:
    event: str
    test: Compiled | None

    def matches(self, kind: str, fields: dict[str, Any], env: Any) -> bool:
        return kind == self.event and (self.test is None or self.test(fields, env) is True)


@dataclass(frozen=True, slots=True)
class EventFlags:
    """What one event is to one journey: a step type at all, which steps it matches, and
    whether it is one of the events that decide success after the last step."""

    relevant: bool
    steps: tuple[bool, ...]
    forbidden: bool
    required: tuple[bool, ...]


@dataclass(frozen=True, slots=True)
class CompiledJourney:
    id: str
    owner: str
    description: str | None
    consecutive: bool  # order: consecutive (no other event of a step type between steps)
    within: int  # seconds from the first step to the last
    steps: tuple[CompiledJourneyStep, ...]
    after_within: int | None  # seconds after the last step that decide success
    none: tuple[EventTest, ...]
    require: tuple[EventTest, ...]
    target: float | None
    margin: float | None
    location: Location
    conditions: JourneyConditions  # the parsed `if`s, for the SQL back ends to compile

    @property
    def step_types(self) -> frozenset[str]:
        return frozenset(step.event for step in self.steps)

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type the journey reads: its steps' and its success conditions'."""
        return self.step_types | {t.event for t in (*self.none, *self.require)}

    def candidates(self, reached: int) -> tuple[int, ...]:
        """The steps a run at step ``reached`` may go to next: the following optional steps
        and the first required one after them."""
        found = []
        for index in range(reached + 1, len(self.steps)):
            found.append(index)
            if not self.steps[index].optional:
                break
        return tuple(found)

    def flags(self, kind: str, fields: dict[str, Any], timestamp: float) -> EventFlags:
        env = (None, None, None, datetime.fromtimestamp(timestamp, UTC).date().toordinal())
        return EventFlags(
            relevant=kind in self.step_types,
            steps=tuple(kind == s.event and (s.test is None or s.test(fields, env) is True) for s in self.steps),
            forbidden=any(t.matches(kind, fields, env) for t in self.none),
            required=tuple(t.matches(kind, fields, env) for t in self.require),
        )


def compile_journeys(journeys: Sequence[Any], conditions: Sequence[JourneyConditions]) -> tuple[CompiledJourney, ...]:
    """Each located journey of a validated plan, compiled."""
    return tuple(_journey(located.value, located.location, parsed)
                 for located, parsed in zip(journeys, conditions, strict=True))


def _test(expression: Expression | None) -> Compiled | None:
    return compile_expression(expression, resolved_names=False) if expression is not None else None


def _matches(written: list[EventMatch], parsed: tuple[Expression | None, ...]) -> tuple[EventTest, ...]:
    return tuple(EventTest(m.event, _test(e)) for m, e in zip(written, parsed, strict=True))


def _journey(journey: Journey, location: Location, parsed: JourneyConditions) -> CompiledJourney:
    whole = seconds(journey.within)
    steps = []
    for step, expression in zip(journey.steps, parsed.steps, strict=True):
        within = seconds(step.within) if step.within else None
        target = step.target
        steps.append(CompiledJourneyStep(
            step.name, step.event, _test(expression), step.optional, within,
            target.rate if target else None,
            (seconds(target.within) if target.within else within or whole) if target else None))
    after = journey.success.after
    return CompiledJourney(
        journey.id, journey.owner, journey.description, journey.order == "consecutive", whole, tuple(steps),
        seconds(after.within) if after else None,
        _matches(after.none, parsed.none) if after else (), _matches(after.require, parsed.require) if after else (),
        journey.success.target, journey.success.margin, location, parsed)
