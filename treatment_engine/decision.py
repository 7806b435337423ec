"""What the engine answers: a decision per profile (spec section 4), or why it could not."""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from .model import Treatment  # what a plan's rules may decide is what a decision holds


class ConditionCheck(BaseModel):
    """One segment or stage definition tried while resolving a profile."""

    id: str
    condition: str | None
    result: bool | None  # None: the condition was null (unknown)
    location: str


class Resolution(BaseModel):
    """How one of segment, lifecycle stage and value tier was found."""

    dimension: Literal["segment", "lifecycle_stage", "value_tier"]
    value: str | None
    how: Literal["given", "derived", "no match", "no value"]
    detail: str
    checks: list[ConditionCheck] = []


class RuleCheck(BaseModel):
    """One rule in evaluation order, and what happened to it."""

    rule: str
    priority: int
    outcome: Literal["decided", "not matched", "skipped", "not reached"]
    reason: str
    location: str


class ExperimentCheck(BaseModel):
    """How an experiment assigned the customer (appendix H)."""

    experiment: str
    salt: str
    bucket: int
    arms: str  # every arm's bucket range, e.g. "holdout 0-999, sms-first 1000-3999, champion 4000-9999"
    arm: str
    reason: str


class Trace(BaseModel):
    resolution: list[Resolution]
    rules: list[RuleCheck]
    experiments: list[ExperimentCheck] = []


class WouldHave(BaseModel):
    """What the champion would have given a customer an experiment's arm treated otherwise."""

    model_config = ConfigDict(frozen=True)

    rule: str
    treatment: Treatment
    actions: tuple[str, ...]
    channels: tuple[str, ...]
    cost: float

    def to_record(self) -> dict[str, Any]:
        return {"rule": self.rule, "treatment": self.treatment, "actions": list(self.actions),
                "channels": list(self.channels), "cost": cents(self.cost)}


class Decision(BaseModel):
    """How to treat one customer, and (opt-in) why."""

    model_config = ConfigDict(frozen=True)

    customer_id: str
    segment: str | None
    lifecycle_stage: str | None
    value_tier: str | None
    treatment: Treatment
    rule: str
    actions: tuple[str, ...]
    channels: tuple[str, ...]
    cost: float
    plan_version: str
    as_of: str
    trace: Trace | None = None
    # Experiments (appendix H): the arm decided by ("champion" outside any experiment),
    # the experiment and the customer's bucket in it, and what the champion would have given.
    arm: str = "champion"
    experiment: str | None = None
    bucket: int | None = None
    would_have: WouldHave | None = None

    def to_record(self) -> dict[str, Any]:
        """The JSON object of spec section 4 (``trace`` only when one was asked for), with
        ``arm``; ``experiment`` and ``bucket`` in an experiment, ``would_have`` off its champion."""
        record: dict[str, Any] = {
            "customer_id": self.customer_id, "segment": self.segment,
            "lifecycle_stage": self.lifecycle_stage, "value_tier": self.value_tier,
            "treatment": self.treatment, "rule": self.rule, "actions": list(self.actions),
            "channels": list(self.channels), "cost": cents(self.cost), "plan_version": self.plan_version,
            "as_of": self.as_of, "arm": self.arm,
        }
        if self.experiment is not None:
            record["experiment"] = self.experiment
            record["bucket"] = self.bucket
        if self.would_have is not None:
            record["would_have"] = self.would_have.to_record()
        if self.trace is not None:
            record["trace"] = self.trace.model_dump()
        return record


def cents(amount: float) -> float:
    """Money as written in every output: to the nearest cent, halves up, worked out in
    64-bit floats (``floor(x * 100 + 0.5) / 100``) so that SQL back ends round identically
    (0.15000000000000002 is 0.15). Costs are never negative."""
    return math.floor(amount * 100 + 0.5) / 100


class DecisionError(BaseModel):
    """An invalid profile's answer (spec section 5): nothing decided, and why."""

    model_config = ConfigDict(frozen=True)

    customer_id: str | None
    error: str

    def to_record(self) -> dict[str, Any]:
        return {"customer_id": self.customer_id, "error": self.error}


_DECISION_FIELDS = frozenset(Decision.model_fields) - {"trace"}
_new = Decision.__new__
_set = object.__setattr__  # a frozen model refuses its own __setattr__


def fast_decision(values: dict[str, Any]) -> Decision:
    """A Decision from values the evaluator already guarantees are well typed.

    Validation would re-check what compilation proved and costs more than the whole
    decision (``model_construct`` is 6 us here); this is what ``model_construct``
    does, minus its per-field loop. ``values`` must hold every field, trace included.
    """
    decision = _new(Decision)
    _set(decision, "__dict__", values)
    _set(decision, "__pydantic_fields_set__", _DECISION_FIELDS)
    _set(decision, "__pydantic_extra__", None)
    _set(decision, "__pydantic_private__", None)
    return decision
