"""The authoring shape of a plan file, as pydantic models (spec sections 1-3).

These models check one file at a time: keys, types and per-entry rules. What needs
the whole plan (repeated ids, references, expressions) is checked in
:mod:`treatment_engine.validate`. Models are strict (``priority: "5"`` is an error, not
a 5) and forbid unknown keys, and an explicit null is the same as leaving a key out.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

Id = Annotated[str, StringConstraints(min_length=1, strip_whitespace=False)]
Cost = Annotated[float, Field(ge=0)]
Treatment = Literal["delight", "contain", "none"]
ActionKind = Literal["delight", "contain"]
FieldType = Literal["number", "string", "boolean", "date", "object"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value is not None}
        return data


class Condition(_Strict):
    """A segment or lifecycle stage: the first entry whose ``if`` holds names the profile."""

    id: Id
    if_: str | None = Field(default=None, alias="if")


class Tier(_Strict):
    id: Id
    min: float


class ValueTiers(_Strict):
    field: Id
    tiers: list[Tier]

    @field_validator("tiers")
    @classmethod
    def _descending(cls, tiers: list[Tier]) -> list[Tier]:
        for earlier, later in itertools.pairwise(tiers):
            if later.min > earlier.min:
                raise ValueError(
                    f"tiers must be listed by descending min: '{later.id}' (min {later.min:g}) "
                    f"comes after '{earlier.id}' (min {earlier.min:g})"
                )
        return tiers


class Channel(_Strict):
    cost: Cost = 0.0
    consent: Id | None = None


class Action(_Strict):
    kind: ActionKind
    cost: Cost = 0.0


class ContactCap(_Strict):
    """At most ``max`` contacts in any ``per_days`` days (the decision's day included)."""

    max: Annotated[int, Field(ge=1)]  # 0 would be "never": leave the channel out of the rules instead
    per_days: Annotated[int, Field(ge=1)]


class Policy(_Strict):
    # The profitability test (spec 3) needs both; a policy may hold only contact limits.
    value_field: Id | None = None
    delight_max_cost_ratio: Annotated[float, Field(ge=0)] | None = None
    # Extensions (docs/plan-format.md, appendix C): limits read from the decision history.
    contact_caps: dict[Id, ContactCap] | None = None  # by channel id, or "any"
    delight_cooldown_days: Annotated[int, Field(ge=1)] | None = None

    @model_validator(mode="after")
    def _profitability_needs_both(self) -> Policy:
        if (self.value_field is None) != (self.delight_max_cost_ratio is None):
            given, missing = (("value_field", "delight_max_cost_ratio") if self.value_field is not None
                              else ("delight_max_cost_ratio", "value_field"))
            raise ValueError(f"'{given}' needs '{missing}' too: the profitability test uses both")
        return self


IdOrIds = Id | list[Id]


class When(_Strict):
    segment: IdOrIds | None = None
    lifecycle_stage: IdOrIds | None = None
    value_tier: IdOrIds | None = None
    if_: str | None = Field(default=None, alias="if")


class Outcome(_Strict):
    """What a rule (its ``then``) or the default decides."""

    treatment: Treatment
    actions: list[Id] = []
    channels: list[Id] = []

    @model_validator(mode="after")
    def _none_is_empty(self) -> Outcome:
        if self.treatment == "none" and (self.actions or self.channels):
            raise ValueError("a 'none' treatment leaves the customer alone: it has no actions "
                             "and no channels")
        return self


class Rule(_Strict):
    id: Id
    description: str | None = None
    priority: int = 0
    when: When = When()
    then: Outcome


# -- moments of truth (docs/plan-format.md, appendix D) ---------------------------------

Duration = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]*[smhd]$")]  # 30d, 12h, 15m, 90s
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def seconds(duration: str) -> int:
    return int(duration[:-1]) * UNIT_SECONDS[duration[-1]]


class EventMatch(_Strict):
    event: Id
    if_: str | None = Field(default=None, alias="if")


class PatternStep(_Strict):
    """One step of a moment's pattern: an event (``count`` times), or an absence (``not``)."""

    event: Id | None = None
    if_: str | None = Field(default=None, alias="if")
    count: Annotated[int, Field(ge=2)] | None = None
    within: Duration | None = None
    not_: EventMatch | None = Field(default=None, alias="not")

    @model_validator(mode="after")
    def _one_kind(self) -> PatternStep:
        if (self.event is None) == (self.not_ is None):
            raise ValueError("a step names either 'event' or 'not' (an absence), not both or neither")
        if self.not_ is not None and (self.if_ is not None or self.count is not None):
            raise ValueError("an absence step puts its 'if' inside 'not'; it takes no 'count'")
        if self.count is not None and self.within is None:
            raise ValueError("'count' needs 'within': how close together the events must be")
        return self


class Moment(_Strict):
    id: Id
    description: str | None = None
    pattern: Annotated[list[PatternStep], Field(min_length=1)]
    set: Annotated[dict[Id, str | bool | int | float], Field(min_length=1)]

    @model_validator(mode="after")
    def _shape(self) -> Moment:
        first, rest = self.pattern[0], self.pattern[1:]
        if first.not_ is not None:
            raise ValueError("a pattern cannot start with an absence: absent after what?")
        if first.within is not None and first.count is None:
            raise ValueError("'within' on the first step needs 'count' (later steps are within "
                             "their previous step)")
        for step in rest:
            if step.within is None:
                raise ValueError("every step after the first needs 'within': a moment is a pattern "
                                 "in a bounded time")
        for step in self.pattern[:-1]:
            if step.not_ is not None:
                raise ValueError("an absence ('not') can only be the last step")
        return self


class PlanFile(_Strict):
    """One YAML file of a plan; every top-level key is optional."""

    segments: list[Condition] | None = None
    lifecycle: list[Condition] | None = None
    value_tiers: ValueTiers | None = None
    channels: dict[Id, Channel] | None = None
    actions: dict[Id, Action] | None = None
    policy: Policy | None = None
    rules: list[Rule] | None = None
    default: Outcome | None = None
    moments: list[Moment] | None = None
    # Optional: the profile fields the plan reads, for `treatment lint` (no effect on decisions).
    fields: dict[Id, FieldType] | None = None

    @field_validator("channels", mode="before")
    @classmethod
    def _bare_channel(cls, value: Any) -> Any:
        # `self_service:` with nothing after it is a channel with every setting defaulted.
        if isinstance(value, dict):
            return {key: ({} if settings is None else settings) for key, settings in value.items()}
        return value


def ids(value: str | list[str] | None) -> list[str] | None:
    """A ``when`` constraint as a list: one id or several; None means any."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)
