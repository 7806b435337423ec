"""The authoring shape of a plan's ``journeys:`` (docs/plan-format.md, appendix J).

A journey is an ordered list of steps, each an event type with an optional ``if`` on the
event's own fields, a time allowed for the whole journey and between steps, and what
*success* means for the journey as a whole. These models check one entry at a time;
what needs the whole journey (step ids, the first and last step, parsed conditions) is
checked in :mod:`.checks`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from ..durations import PATTERN, at_most
from ..model import MAX_WITHIN_SECONDS, Duration, EventMatch, Id, MomentFields, Range
from ..strict import PlanPart

# A rate a journey or a touchpoint is held to: a share of runs, 0 and 1 included.
RATE = Range(0, 1)
Rate = Annotated[float, RATE.field()]
MAX_JOURNEY_STEPS = 10  # the SQL back ends follow a run one join per step
Order = Literal["in_order", "consecutive"]


class TouchpointTarget(PlanPart):
    """A touchpoint's own target: a ``rate`` of runs reach the step within ``within`` of
    the step before it (by default the step's own ``within``, else the journey's)."""

    rate: Rate
    within: Duration | None = None


class OnStall(PlanPart):
    """A moment for a run that sits at its step: ``after`` that long with no next step, the
    customer is decided with ``set`` added to their profile (appendix J, "Stalled runs")."""

    after: Annotated[str, StringConstraints(pattern=PATTERN), AfterValidator(at_most(MAX_WITHIN_SECONDS, "after"))]
    set: MomentFields


class JourneyStep(PlanPart):
    """One step: an event of type ``event`` whose ``if`` holds."""

    id: Id | None = None  # how reports name the step; the event type by default
    event: Id
    if_: str | None = Field(default=None, alias="if")
    optional: bool = False
    within: Duration | None = None  # after the previous step reached
    target: TouchpointTarget | None = None
    on_stall: OnStall | None = None

    @property
    def name(self) -> str:
        return self.id if self.id is not None else self.event


class AfterLastStep(PlanPart):
    """What must (``require``) and must not (``none``) happen within ``within`` after the
    last step, for a completed run to count as a success."""

    within: Duration
    none: list[EventMatch] = Field(default_factory=list)
    require: list[EventMatch] = Field(default_factory=list)

    @model_validator(mode="after")
    def _asks_something(self) -> AfterLastStep:
        if not self.none and not self.require:
            raise ValueError("'after' needs 'none' or 'require': which events, after the last step, "
                             "decide success")
        return self


class Success(PlanPart):
    """The journey's success: its last step in time (and ``after``, when given); ``target``
    the rate it is held to; ``margin`` how far below its touchpoints' rates it may fall."""

    target: Rate | None = None
    margin: Rate | None = None
    after: AfterLastStep | None = None


class Journey(PlanPart):
    id: Id
    owner: Annotated[str, Field(min_length=1)]
    description: str | None = None
    order: Order = "in_order"
    within: Duration  # from the first step to the last
    steps: Annotated[list[JourneyStep], Field(min_length=2, max_length=MAX_JOURNEY_STEPS)]
    success: Success = Success()
