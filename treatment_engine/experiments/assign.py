"""What an experiment's arm changes in a decision (appendix H).

The evaluator first finds the champion decision, as it does for a plan without
experiments; this module then applies, in order:

1. the universal holdout: a customer in it gets no treatment (``rule: holdout``,
   ``treatment: none``), whatever the plan would have given;
2. the deciding rule's experiment: in its holdout the customer gets the next applicable
   rule below it (``control: next``) or nothing (``control: none``); in a challenger's
   arm, the challenger's ``then``, checked for profit, consent, cooldown and caps as the
   rule's own is. A challenger that cannot be given (say, no consent for its channel)
   leaves the champion's ``then``, in the challenger's arm still: assignment is intent to
   treat, whatever the customer could receive.

Every decision off its champion records what the champion would have given (``would_have``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from ..contacts import NO_LIMITS, ContactState
from ..decision import ExperimentCheck, WouldHave
from ..model import Treatment
from ..semantics import contacted, cost, skip_reason
from .buckets import BUCKETS, UNIVERSAL
from .compiled import CHAMPION, HOLDOUT, CompiledExperiment

if TYPE_CHECKING:
    from ..compile import CompiledPlan, CompiledRule

Env = tuple[str | None, str | None, str | None, int]


@dataclass(frozen=True, slots=True)
class Assignment:
    """The decision's experiment fields and the rule and channels it is decided by."""

    rule_id: str
    treatment: str
    actions: tuple[str, ...]
    channels: tuple[str, ...]
    cost: float
    arm: str
    experiment: str | None
    bucket: int | None
    would_have: WouldHave | None
    check: ExperimentCheck | None  # for explain: which bucket, which arm, and why


def assign(plan: CompiledPlan, profile: dict[str, Any], env: Env, limits: ContactState | None,
           customer_id: str, champion: CompiledRule, channels: tuple[str, ...],
           explaining: bool = False, held: tuple[bool, int] | None = None) -> Assignment:
    """The decision's treatment and experiment fields, given its champion rule and
    channels; with ``explaining``, the check that says which bucket and arm, and why.
    ``held``: the universal holdout's (held, bucket) when the caller has hashed it already."""
    limits = limits or NO_LIMITS
    _check = _checker if explaining else _no_check
    would_have = _WouldHave(champion, channels, cost(plan, champion, channels))
    holdout = plan.holdout
    if holdout is not None:
        in_holdout, number = held if held is not None else holdout.holds(customer_id)
        if in_holdout:
            check = None if not explaining else ExperimentCheck(experiment=UNIVERSAL, salt=holdout.salt, bucket=number,
                                    arms=f"{UNIVERSAL} 0-{holdout.size - 1}, champion {holdout.size}-{BUCKETS - 1}",
                                    arm=UNIVERSAL, reason="in the universal holdout: no treatment from any rule")
            return Assignment(HOLDOUT, "none", (), (), 0.0, UNIVERSAL, UNIVERSAL, number, would_have.model(), check)
    experiment = champion.experiment
    if experiment is None:
        return _as_champion(champion, would_have, None, None, None)
    number = experiment.bucket(customer_id)
    arm = experiment.arm_for(number)
    if arm is None:
        return _as_champion(champion, would_have, experiment.id, number,
                            _check(experiment, number, CHAMPION, "in the champion's buckets: the rule's own then"))
    if arm.id == HOLDOUT:
        if experiment.control == "none":
            return Assignment(champion.id, "none", (), (), 0.0, HOLDOUT, experiment.id, number, would_have.model(),
                              _check(experiment, number, HOLDOUT, "in the rule's holdout (control: none): "
                                                                  "no treatment"))
        rule, given = next_applicable(plan, champion, profile, env, limits)
        return Assignment(rule.id, rule.treatment, rule.actions, given, cost(plan, rule, given), HOLDOUT,
                          experiment.id, number, would_have.model(),
                          _check(experiment, number, HOLDOUT, f"in the rule's holdout (control: next): "
                                                              f"decided by the next applicable rule, '{rule.id}'"))
    variant = arm.variant
    assert variant is not None  # a challenger's arm carries its then
    reason = skip_reason(plan, variant, profile, limits, env[:3])
    if reason is not None:
        kept = _as_champion(champion, would_have, experiment.id, number, _check(
            experiment, number, arm.id, f"challenger '{arm.id}' cannot be given ({reason}): the champion's then"))
        return dataclasses.replace(kept, arm=arm.id, would_have=would_have.model())
    given = contacted(variant, profile, limits)
    return Assignment(variant.id, variant.treatment, variant.actions, given, cost(plan, variant, given), arm.id,
                      experiment.id, number, would_have.model(),
                      _check(experiment, number, arm.id, f"in challenger '{arm.id}': its then"))


def next_applicable(plan: CompiledPlan, after: CompiledRule, profile: dict[str, Any], env: Env,
                    limits: ContactState) -> tuple[CompiledRule, tuple[str, ...]]:
    """The first rule below ``after`` that applies (the default when none does), and its
    channels: what a customer held out of ``after`` gets under ``control: next``."""
    for rule in plan.candidates(env[:3]):
        if rule.order <= after.order or (rule.test is not None and rule.test(profile, env) is not True):
            continue
        if skip_reason(plan, rule, profile, limits, env[:3]) is None:
            return rule, contacted(rule, profile, limits)
    return plan.default, contacted(plan.default, profile, limits)


class _WouldHave:
    """The champion's decision, made a WouldHave only for a customer off its arm (most
    are on it, and a pydantic model per decision costs more than the rest of the arm)."""

    __slots__ = ("channels", "cost", "rule")

    def __init__(self, rule: CompiledRule, channels: tuple[str, ...], amount: float) -> None:
        self.rule, self.channels, self.cost = rule, channels, amount

    def model(self) -> WouldHave:
        rule = self.rule
        return WouldHave(rule=rule.id, treatment=cast(Treatment, rule.treatment), actions=rule.actions,
                         channels=self.channels, cost=self.cost)


def _as_champion(champion: CompiledRule, would_have: _WouldHave, experiment: str | None, number: int | None,
                 check: ExperimentCheck | None) -> Assignment:
    return Assignment(champion.id, champion.treatment, champion.actions, would_have.channels, would_have.cost,
                      CHAMPION, experiment, number, None, check)


def _no_check(experiment: CompiledExperiment, number: int, arm: str, reason: str) -> None:
    return None


def _checker(experiment: CompiledExperiment, number: int, arm: str, reason: str) -> ExperimentCheck:
    ranges = [f"{a.id} {a.low}-{a.high - 1}" for a in experiment.arms if a.high > a.low]
    if experiment.champion_low < BUCKETS:
        ranges.append(f"{CHAMPION} {experiment.champion_low}-{BUCKETS - 1}")
    return ExperimentCheck(experiment=experiment.id, salt=experiment.salt, bucket=number,
                           arms=", ".join(ranges), arm=arm, reason=reason)
