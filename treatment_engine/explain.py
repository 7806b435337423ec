"""Why a profile got its decision: the same compiled plan, walked step by step.

The fast path (:mod:`evaluate`) skips rules the index rules out and stops at the first
rule that applies; here every rule is visited in evaluation order and its fate
recorded, so an author can see which constraint failed. Both take what a decision
means from :mod:`.semantics`; this module only traces and words it. Tests check that
the two paths always reach the same decision.
"""

from __future__ import annotations

from typing import Any, cast

from .compile import CompiledCondition, CompiledPlan, CompiledRule
from .contacts import NO_LIMITS, ContactState
from .day import Day
from .decision import ConditionCheck, Decision, Resolution, RuleCheck, Trace
from .experiments.assign import assign
from .expressions.closures import Env
from .expressions.unparse import unparse
from .model import Treatment
from .semantics import (
    DIMENSIONS,
    SEGMENT,
    STAGE,
    TIER,
    check_profile,
    constraints,
    contacted,
    excluded_by,
    given,
    number_at,
    permitted,
    skip_reason,
    tier_for,
)


def explain(plan: CompiledPlan, profile: Any, day: Day, limits: ContactState = NO_LIMITS) -> Decision:
    """Decide ``profile`` and attach a full trace. Raises ProfileError like ``decide``."""
    cid = check_profile(profile)
    ordinal = day.ordinal
    env: Env = (None, None, None, ordinal)
    steps: list[Resolution] = []

    segment = given(profile, SEGMENT, plan.segment_ids, cid)
    steps.append(_first_match("segment", segment, plan.segments, profile, env))
    stage = given(profile, STAGE, plan.stage_ids, cid)
    steps.append(_first_match("lifecycle_stage", stage, plan.lifecycle, profile, env))
    tier = given(profile, TIER, plan.tier_ids, cid)
    steps.append(_tier_step(plan, profile, tier))
    segment, stage, tier = (step.value for step in steps)

    env = (segment, stage, tier, ordinal)
    checks: list[RuleCheck] = []
    decided: tuple[CompiledRule, tuple[str, ...]] | None = None
    for rule in plan.rules:
        if decided is not None:
            checks.append(_check(rule, "not reached", f"rule '{decided[0].id}' decided first"))
            continue
        miss = _structural_miss(rule, segment, stage, tier)
        if miss:
            checks.append(_check(rule, "not matched", miss))
            continue
        if rule.test is not None:
            result = rule.test(profile, env)
            if result is not True:
                checks.append(_check(rule, "not matched", f"if {_shown(result)}: {_source(rule)}"))
                continue
        skip = skip_reason(plan, rule, profile, limits, (segment, stage, tier))
        if skip:
            checks.append(_check(rule, "skipped", skip))
            continue
        verdict = rule.evidence.for_cell((segment, stage, tier)) if rule.evidence is not None else None
        evidence = f"; profitable by {verdict.reason(rule.action_cost)}" if verdict is not None else ""
        checks.append(_check(rule, "decided", _matched_because(rule) + evidence))
        decided = (rule, contacted(rule, profile, limits))

    if decided is None:
        rule = plan.default
        channels = contacted(rule, profile, limits)
        capped = [f"{c}: {limits.reasons[c]}" for c in permitted(profile, rule.channels) if c in limits.blocked]
        checks.append(_check(rule, "decided", "no rule applied, so the default decides"
                             + ("" if channels else "; consent and contact caps leave it no channel")
                             + ("".join(f"; {c}" for c in capped))))
        decided = (rule, channels)

    rule, channel_ids = decided
    # The champion decided; an experiment may treat the customer otherwise (appendix H).
    given_ = assign(plan, profile, env, limits, cid, rule, channel_ids, explaining=True)
    return Decision(
        customer_id=cid, segment=segment, lifecycle_stage=stage, value_tier=tier,
        treatment=cast(Treatment, given_.treatment), rule=given_.rule_id, actions=given_.actions,
        channels=given_.channels, cost=given_.cost, plan_version=plan.version, as_of=day.text,
        trace=Trace(resolution=steps, rules=checks,
                    experiments=[given_.check] if given_.check is not None else []),
        arm=given_.arm, experiment=given_.experiment, bucket=given_.bucket, would_have=given_.would_have,
    )


def _first_match(dimension: Any, value: str | None, entries: tuple[CompiledCondition, ...],
                 profile: dict[str, Any], env: Env) -> Resolution:
    """semantics.derived, with every definition tried recorded."""
    if value is not None:
        return Resolution(dimension=dimension, value=value, how="given",
                          detail=f"the profile gives {dimension} '{value}'")
    checks = []
    for entry in entries:
        result = True if entry.test is None else entry.test(profile, env)
        text = _unparse(entry.expression)
        checks.append(ConditionCheck(id=entry.id, condition=text, result=_bool(result),
                                     location=str(entry.location)))
        if result is True:
            how = "matches everyone" if entry.test is None else f"{text} is true"
            return Resolution(dimension=dimension, value=entry.id, how="derived",
                              detail=f"'{entry.id}' is the first that holds ({how})", checks=checks)
    return Resolution(dimension=dimension, value=None, how="no match",
                      detail="no definition holds", checks=checks)


def _tier_step(plan: CompiledPlan, profile: dict[str, Any], tier: str | None) -> Resolution:
    """semantics.tier_for, with the number it read."""
    if tier is not None:
        return Resolution(dimension="value_tier", value=tier, how="given",
                          detail=f"the profile gives value_tier '{tier}'")
    if plan.tier_field is None:
        return Resolution(dimension="value_tier", value=None, how="no value",
                          detail="the plan defines no value tiers")
    field = ".".join(plan.tier_field)
    number = number_at(profile, plan.tier_field)
    if number is None:
        return Resolution(dimension="value_tier", value=None, how="no value",
                          detail=f"{field} is missing, null or not a number")
    found = tier_for(plan, profile)
    if found is None:
        return Resolution(dimension="value_tier", value=None, how="no match",
                          detail=f"{field} = {number:g} is below every tier's min")
    minimum = next(t.min for t in plan.tiers if t.id == found)
    return Resolution(dimension="value_tier", value=found, how="derived",
                      detail=f"{field} = {number:g} >= {minimum:g}")


def _structural_miss(rule: CompiledRule, segment: str | None, stage: str | None,
                     tier: str | None) -> str | None:
    """semantics.excluded_by, in words."""
    key = (segment, stage, tier)
    dimension = excluded_by(rule, key)
    if dimension is None:
        return None
    position = DIMENSIONS.index(dimension)
    allowed, value = constraints(rule)[position] or frozenset(), key[position]
    shown = "null" if value is None else f"'{value}'"
    return f"{dimension.key} {shown} is not in [{', '.join(sorted(allowed))}]"


def _matched_because(rule: CompiledRule) -> str:
    parts = [d.key for d, allowed in zip(DIMENSIONS, constraints(rule), strict=True) if allowed is not None]
    if rule.expression is not None:
        parts.append(f"if {_source(rule)}")
    return ("matched on " + ", ".join(parts)) if parts else "matches every customer"


def _check(rule: CompiledRule, outcome: Any, reason: str) -> RuleCheck:
    return RuleCheck(rule=rule.id, priority=rule.priority, outcome=outcome, reason=reason,
                     location=str(rule.location))


def _source(rule: CompiledRule) -> str:
    return _unparse(rule.expression) or ""


def _bool(value: object) -> bool | None:
    return value if type(value) is bool else None


def _shown(value: object) -> str:
    return "was false" if value is False else "was null (unknown)"


def _unparse(expression: Any) -> str | None:
    return None if expression is None else unparse(expression)
