"""The decision of spec section 4 for one profile: the fast path, with no tracing.

Every function here is pure: a compiled plan, a profile and a date in, a decision out.
:mod:`treatment_engine.explain` walks the same compiled plan step by step for a trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from .compile import CompiledChannel, CompiledPlan, CompiledRule
from .decision import Decision, DecisionError, fast_decision
from .errors import ProfileError
from .expressions.values import lookup, to_float

RESOLVED = ("segment", "lifecycle_stage", "value_tier")


def customer_id_of(profile: object) -> str | None:
    """The profile's id when it is a non-empty string, else None (spec 8)."""
    if type(profile) is dict:
        cid = profile.get("customer_id")
        if type(cid) is str and cid:
            return cid
    return None


def check_profile(profile: object) -> str:
    """The customer id of a decidable profile; ProfileError otherwise."""
    if type(profile) is not dict:
        raise ProfileError(f"a profile must be a JSON object, got {_json_kind(profile)}")
    cid = profile.get("customer_id")
    if type(cid) is not str or not cid:
        raise ProfileError("the profile has no customer_id (a non-empty string)")
    return cid


def given(profile: dict[str, Any], key: str, defined: frozenset[str], noun: str, cid: str) -> str | None:
    """A segment/stage/tier the profile states itself; an undefined one makes it invalid."""
    value = profile.get(key)
    if value is None:
        return None
    if type(value) is not str or value not in defined:
        raise ProfileError(f"the profile gives {key} {value!r}, which the plan does not define "
                           f"as a {noun}", cid)
    return value


def resolve(plan: CompiledPlan, profile: dict[str, Any], cid: str,
            as_of_ordinal: int) -> tuple[str | None, str | None, str | None]:
    env = (None, None, None, as_of_ordinal)
    segment = given(profile, "segment", plan.segment_ids, "segment", cid)
    if segment is None:
        for entry in plan.segments:
            test = entry.test
            if test is None or test(profile, env) is True:
                segment = entry.id
                break
    stage = given(profile, "lifecycle_stage", plan.stage_ids, "lifecycle stage", cid)
    if stage is None:
        for entry in plan.lifecycle:
            test = entry.test
            if test is None or test(profile, env) is True:
                stage = entry.id
                break
    tier = given(profile, "value_tier", plan.tier_ids, "value tier", cid)
    if tier is None and plan.tier_field is not None:
        tier = tier_for(plan, profile)
    return segment, stage, tier


def tier_for(plan: CompiledPlan, profile: dict[str, Any]) -> str | None:
    field = plan.tier_field
    value = profile.get(field[0]) if field is not None and len(field) == 1 else lookup(profile, field or ())
    if type(value) is not int and type(value) is not float:
        return None
    number = to_float(value)
    for tier in plan.tiers:
        if tier.min <= number:
            return tier.id
    return None


def number_at(profile: dict[str, Any], path: tuple[str, ...]) -> float | None:
    value = profile.get(path[0]) if len(path) == 1 else lookup(profile, path)
    return to_float(value) if type(value) is int or type(value) is float else None


def consented(profile: dict[str, Any], channel: CompiledChannel) -> bool:
    consent = channel.consent
    if consent is None:
        return True
    if len(consent) == 1:
        return profile.get(consent[0]) is True
    return lookup(profile, consent) is True


def profitable(plan: CompiledPlan, rule: CompiledRule, profile: dict[str, Any]) -> bool:
    policy = plan.policy
    if policy is None:
        return True
    value = number_at(profile, policy.value_field)
    return value is not None and rule.action_cost <= policy.delight_max_cost_ratio * value


def decide(plan: CompiledPlan, profile: Any, as_of: date) -> Decision:
    """Decide one profile. Raises ProfileError for an invalid profile (spec section 5)."""
    return decide_ordinal(plan, profile, as_of.toordinal(), as_of.isoformat())


def decide_ordinal(plan: CompiledPlan, profile: Any, as_of_ordinal: int, as_of_text: str) -> Decision:
    cid = check_profile(profile)
    segment, stage, tier = resolve(plan, profile, cid, as_of_ordinal)
    env = (segment, stage, tier, as_of_ordinal)
    for rule in plan.candidates((segment, stage, tier)):
        test = rule.test
        if test is not None and test(profile, env) is not True:
            continue
        if rule.needs_profit_check and not profitable(plan, rule, profile):
            continue
        if rule.treatment == "none":
            return _decision(plan, cid, segment, stage, tier, rule, [], as_of_text)
        channels = [c for c in rule.channels if c.consent is None or consented(profile, c)]
        if channels:
            return _decision(plan, cid, segment, stage, tier, rule, channels, as_of_text)
    default = plan.default
    channels = [c for c in default.channels if c.consent is None or consented(profile, c)]
    return _decision(plan, cid, segment, stage, tier, default, channels, as_of_text)


def _decision(plan: CompiledPlan, cid: str, segment: str | None, stage: str | None,
              tier: str | None, rule: CompiledRule, channels: list[CompiledChannel],
              as_of_text: str) -> Decision:
    return fast_decision({
        "customer_id": cid, "segment": segment, "lifecycle_stage": stage, "value_tier": tier,
        "treatment": rule.treatment, "rule": rule.id, "actions": list(rule.actions),
        "channels": [c.id for c in channels],
        "cost": rule.action_cost + channels[0].cost if channels else rule.action_cost,
        "plan_version": plan.version, "as_of": as_of_text,
    })


def decide_or_error(plan: CompiledPlan, profile: Any, as_of_ordinal: int,
                    as_of_text: str) -> Decision | DecisionError:
    """One profile's decision, or the error record that stands in for it (spec 5)."""
    try:
        return decide_ordinal(plan, profile, as_of_ordinal, as_of_text)
    except ProfileError as error:
        return DecisionError(customer_id=customer_id_of(profile), error=error.message)
    except RecursionError:
        return DecisionError(customer_id=customer_id_of(profile),
                             error="the profile is nested too deeply to read")


def decide_many(plan: CompiledPlan, profiles: Iterable[Any], as_of: date) -> Iterator[Decision | DecisionError]:
    """Decide a stream of profiles lazily, in order; an invalid one yields a DecisionError."""
    ordinal, text = as_of.toordinal(), as_of.isoformat()
    for profile in profiles:
        yield decide_or_error(plan, profile, ordinal, text)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__
