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
