"""The authoring shape of a plan file, as pydantic models (spec sections 1-3).

These models check one file at a time: keys, types and per-entry rules. What needs
the whole plan (repeated ids, references, expressions) is checked in
:mod:`treatment_engine.validate`. Models are strict (``priority: "5"`` is an error, not
a 5) and forbid unknown keys, and an explicit null is the same as leaving a key out.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .durations import PATTERN, at_most
from .evidence import Profitability
from .measure.metrics import Metric
from .strict import PlanPart


@dataclass(frozen=True)
class Range:
    """The numbers a plan key takes (docs/plan-format.md, appendix E): wide enough for any
    real plan, narrow enough that every back end can compute with them (a window's first
    day stays in the calendar, sums stay finite, a moment's pattern stays small)."""

    low: float | None  # None: no bound but finiteness
    high: float | None
    whole: bool = False
    open: bool = False  # both bounds excluded (a share: more than 0, less than 1)

    def field(self) -> Any:
        if self.whole:
            return Field(ge=self.low, le=self.high)
        if self.open:
            return Field(gt=self.low, lt=self.high, allow_inf_nan=False)
        return Field(ge=self.low, le=self.high, allow_inf_nan=False)

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        if self.low is None or self.high is None:
            return f"a finite {kind.removeprefix('a ')}"
        if self.open:
            return f"{kind} between {_show_bound(self.low)} and {_show_bound(self.high)}, both excluded"
        return f"{kind} from {_show_bound(self.low)} to {_show_bound(self.high)}"


def _show_bound(bound: float) -> str:
    return f"{int(bound):,}" if bound == int(bound) else f"{bound:g}"


DAYS = Range(1, 36_500, whole=True)  # 100 years: the earliest window start stays a date
RANGES: dict[str, Range] = {
    "priority": Range(-1_000_000_000, 1_000_000_000, whole=True),
    "cost": Range(0, 1_000_000_000),  # a channel's or an action's, in the plan's money
    "delight_max_cost_ratio": Range(0, 1_000_000),
    "min": Range(None, None),  # a value tier's threshold
    "max": Range(1, 1_000_000, whole=True),  # contacts under a cap
    "per_days": DAYS,
    "delight_cooldown_days": DAYS,
    "count": Range(2, 10, whole=True),  # events of one moment step
    # Experiments (appendix H): a share of customers, and the smallest uplift worth
    # detecting, as fractions; the customers a plan expects, for lint's power check.
    "share": Range(0, 1, open=True),
    "holdout": Range(0, 1, open=True),  # `holdout: 0.1`, a share written bare
    "detect": Range(0, 1, open=True),
    "expected_customers": Range(1, 10_000_000_000, whole=True),
}
# A moment's firing joins every event it names in durable-rules, whose cost grows
# exponentially with them: 14 took 3 s, 15 took 21 s, 16 took 141 s, and 17 fail (its
# error 304), measured. Ten leaves a wide margin.
MAX_PATTERN_EVENTS = 10
MAX_PATTERN_STEPS = 10
MAX_WITHIN_SECONDS = 366 * 86_400  # a moment's step window, 366d at most in any unit
MAX_SET_INTEGER = 2**53 - 1  # whole numbers a moment sets stay exact in JSON and a double


def _whole_float_as_int(value: Any) -> Any:
    # `priority: 10.0` is the whole number 10, as JSON Schema (and so every editor) says;
    # 10.5 stays a float and is refused as not whole.
    return int(value) if type(value) is float and value.is_integer() else value


Whole = BeforeValidator(_whole_float_as_int)
Id = Annotated[str, StringConstraints(min_length=1, strip_whitespace=False)]
Priority = Annotated[int, RANGES["priority"].field(), Whole]
Cost = Annotated[float, RANGES["cost"].field()]
CostRatio = Annotated[float, RANGES["delight_max_cost_ratio"].field()]
TierMin = Annotated[float, RANGES["min"].field()]
CapMax = Annotated[int, RANGES["max"].field(), Whole]
Days = Annotated[int, DAYS.field(), Whole]
StepCount = Annotated[int, RANGES["count"].field(), Whole]
Share = Annotated[float, RANGES["share"].field()]
Detect = Annotated[float, RANGES["detect"].field()]
ExpectedCustomers = Annotated[int, RANGES["expected_customers"].field(), Whole]
Treatment = Literal["delight", "contain", "none"]
ActionKind = Literal["delight", "contain"]
FieldType = Literal["number", "string", "boolean", "date", "object"]


class Condition(PlanPart):
    """A segment or lifecycle stage: the first entry whose ``if`` holds names the profile."""

    id: Id
    if_: str | None = Field(default=None, alias="if")


class Tier(PlanPart):
    id: Id
    min: TierMin


class ValueTiers(PlanPart):
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


class Channel(PlanPart):
    cost: Cost = 0.0
    consent: Id | None = None


class Action(PlanPart):
    kind: ActionKind
    cost: Cost = 0.0


class ContactCap(PlanPart):
    """At most ``max`` contacts in any ``per_days`` days (the decision's day included)."""

    max: CapMax  # 0 would be "never": leave the channel out of the rules instead
    per_days: Days


class Holdout(PlanPart):
    """A share of customers, chosen by hash, kept from a treatment as its control group
    (appendix H). ``detect``: the smallest absolute uplift worth knowing, for lint."""

    share: Share
    salt: str | None = None
    detect: Detect | None = None


class RuleHoldout(Holdout):
    """A rule's holdout: its customers get the next applicable rule (``next``) or nothing."""

    control: Literal["next", "none"] = "next"


class Policy(PlanPart):
    # The profitability test (spec 3) needs both; a policy may hold only contact limits.
    value_field: Id | None = None
    delight_max_cost_ratio: CostRatio | None = None
    # Extensions (docs/plan-format.md, appendix C): limits read from the decision history.
    contact_caps: dict[Id, ContactCap] | None = None  # by channel id, or "any"
    delight_cooldown_days: Days | None = None
    # Extensions (appendix H): the universal holdout, and the volume lint sizes arms by.
    holdout: Holdout | None = None
    expected_customers: ExpectedCustomers | None = None
    # Extension (appendix K): the profitability test reads measured evidence.
    profitability: Profitability | None = None

    @model_validator(mode="after")
    def _profitability_needs_both(self) -> Policy:
        if (self.value_field is None) != (self.delight_max_cost_ratio is None):
            given, missing = (("value_field", "delight_max_cost_ratio") if self.value_field is not None
                              else ("delight_max_cost_ratio", "value_field"))
            raise ValueError(f"'{given}' needs '{missing}' too: the profitability test uses both")
        return self


IdOrIds = Id | list[Id]


class When(PlanPart):
    segment: IdOrIds | None = None
    lifecycle_stage: IdOrIds | None = None
    value_tier: IdOrIds | None = None
    if_: str | None = Field(default=None, alias="if")


class Outcome(PlanPart):
    """What a rule (its ``then``) or the default decides."""

    treatment: Treatment
    actions: list[Id] = Field(default=[])  # pydantic copies a default per instance
    channels: list[Id] = Field(default=[])

    @model_validator(mode="after")
    def _none_is_empty(self) -> Outcome:
        if self.treatment == "none" and (self.actions or self.channels):
            raise ValueError("a 'none' treatment leaves the customer alone: it has no actions "
                             "and no channels")
        return self


# The tags of a union whose form the value's type picks: pydantic puts them in an error's
# location, where the plan has no such key (validate leaves them out).
BARE_SHARE, LONG_FORM = "<a share>", "<a mapping>"
UNION_TAGS = frozenset({BARE_SHARE, LONG_FORM})


class RuleOutcome(Outcome):
    """A rule's ``then``: an outcome, and optionally a holdout (appendix H)."""

    # A bare share is short for {share: ...}; the discriminator picks the form by the
    # value's type, so an error names the form written, not both.
    holdout: Annotated[Annotated[Share, Tag(BARE_SHARE)] | Annotated[RuleHoldout, Tag(LONG_FORM)],
                       Discriminator(lambda v: LONG_FORM if isinstance(v, dict | RuleHoldout) else BARE_SHARE)] | None = None

    @property
    def held_out(self) -> RuleHoldout | None:
        """The holdout in its long form."""
        return RuleHoldout(share=self.holdout) if isinstance(self.holdout, float) else self.holdout


class Challenger(PlanPart):
    """Another ``then`` a hashed share of a rule's customers gets instead (appendix H)."""

    id: Id
    description: str | None = None
    share: Share
    then: Outcome


class Rule(PlanPart):
    id: Id
    description: str | None = None
    priority: Priority = 0
    when: When = When()
    then: RuleOutcome
    challengers: Annotated[list[Challenger], Field(min_length=1)] | None = None

    @model_validator(mode="after")
    def _arms_fit(self) -> Rule:
        holdout = self.then.held_out
        shares = [holdout.share if holdout is not None else 0.0,
                  *(c.share for c in self.challengers or ())]
        if sum(shares) > 1 + 1e-9:
            raise PydanticCustomError("shares_over_one", f"the shares of this rule's holdout and challengers "
                                      f"add up to {sum(shares):g}, more than 1: each customer is in one arm")
        return self


# -- moments of truth (docs/plan-format.md, appendix D) ---------------------------------

Duration = Annotated[str, StringConstraints(pattern=PATTERN),  # 30d, 12h, 15m, 90s
                     AfterValidator(at_most(MAX_WITHIN_SECONDS))]


class EventMatch(PlanPart):
    event: Id
    if_: str | None = Field(default=None, alias="if")


class PatternStep(PlanPart):
    """One step of a moment's pattern: an event (``count`` times), or an absence (``not``)."""

    event: Id | None = None
    if_: str | None = Field(default=None, alias="if")
    count: StepCount | None = None
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


def _json_numbers(fields: dict[str, Any]) -> dict[str, Any]:
    for name, value in fields.items():
        if type(value) is int and abs(value) > MAX_SET_INTEGER:
            raise PydanticCustomError("out_of_range", f"'{name}' must be a whole number from -{MAX_SET_INTEGER:,} to "
                             f"{MAX_SET_INTEGER:,} (exact in JSON), got a {len(str(abs(value)))}-digit one")
        if type(value) is float and not math.isfinite(value):
            raise PydanticCustomError("out_of_range", f"'{name}' must be a finite number, got {value}")
    return fields


# What a firing adds to the customer's profile before they are decided: a moment's `set`,
# and a journey step's `on_stall.set` (appendix J), read alike.
MomentFields = Annotated[dict[Id, str | bool | int | float], Field(min_length=1), AfterValidator(_json_numbers)]


class Moment(PlanPart):
    id: Id
    description: str | None = None
    pattern: Annotated[list[PatternStep], Field(min_length=1, max_length=MAX_PATTERN_STEPS)]
    set: MomentFields

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
        events = sum(step.count or 1 for step in self.pattern if step.not_ is None)
        if events > MAX_PATTERN_EVENTS:
            raise PydanticCustomError("out_of_range", f"the pattern names {events} events in all (counts included): at most "
                             f"{MAX_PATTERN_EVENTS}, which is what one firing may hold")
        return self


# Journeys (appendix J) build on the models above, so their module is read only now.
from .journeys.model import Journey  # noqa: E402


class PlanFile(PlanPart):
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
    metrics: list[Metric] | None = None  # appendix I: outcomes measured after decisions
    journeys: list[Journey] | None = None
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
