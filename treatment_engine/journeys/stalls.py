"""Stalled runs as moments (appendix J, "Stalled runs"): each journey step with an
``on_stall``, compiled for the moments engine, which follows runs and fires these
(moments/stalls.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..durations import seconds
from ..errors import Location
from .checks import stall_id
from .compiled import CompiledJourney


@dataclass(frozen=True, slots=True)
class CompiledStall:
    id: str  # the moment it fires as (journey.step.stalled)
    journey: int  # its journey's position in the plan's journeys
    step: int  # the step a run sits at
    after: int  # seconds at that step with no next step before it fires
    sets: Mapping[str, Any]  # what a firing sets in the decision's profile, as a moment's `set`
    location: Location


def compile_stalls(journeys: Sequence[Any], compiled: Sequence[CompiledJourney]) -> tuple[CompiledStall, ...]:
    """Every ``on_stall`` of the located journeys of a validated plan, in plan order."""
    found = []
    for position, (located, journey) in enumerate(zip(journeys, compiled, strict=True)):
        for index, step in enumerate(located.value.steps):
            if step.on_stall is not None:
                found.append(CompiledStall(stall_id(journey.id, step.name), position, index,
                                           seconds(step.on_stall.after), MappingProxyType(dict(step.on_stall.set)),
                                           located.source.locate(located.path + ("steps", index, "on_stall"))))
    return tuple(found)
