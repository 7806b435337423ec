"""The decision of spec section 4 for one profile: the fast path, with no tracing.

Every function here is pure: a compiled plan, a profile and a date in, a decision out.
:mod:`treatment_engine.explain` walks the same compiled plan step by step for a trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from .compile import CompiledChannel, CompiledPlan, CompiledRule
from .contacts import NO_LIMITS, ContactState
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


def profitable(plan: CompiledPlan, rule: CompiledRule, profile: dict[str, Any]) -> bool:
    policy = plan.policy
    if policy is None:
        return True
    value = number_at(profile, policy.value_field)
    return value is not None and rule.action_cost <= policy.delight_max_cost_ratio * value


def decide(plan: CompiledPlan, profile: Any, as_of: date, limits: ContactState | None = None) -> Decision:
    """Decide one profile. Raises ProfileError for an invalid profile (spec section 5).

    ``limits`` is what the customer's history rules out (:mod:`.contacts`); without it
    the plan's contact caps and cooldown see no history.
    """
    return decide_ordinal(plan, profile, as_of.toordinal(), as_of.isoformat(), limits)


def permitted(profile: dict[str, Any], channels: tuple[CompiledChannel, ...]) -> tuple[str, ...]:
    """The ids of the channels this profile consented to, in the rule's order."""
    ids = []
    for channel in channels:
        consent = channel.consent
        if consent is None or (profile.get(consent[0]) if len(consent) == 1
                               else lookup(profile, consent)) is True:
            ids.append(channel.id)
    return tuple(ids)


def decide_ordinal(plan: CompiledPlan, profile: Any, as_of_ordinal: int, as_of_text: str,
                   limits: ContactState | None = None) -> Decision:
    """The hot path: what :func:`resolve` and the rule walk do, inlined for speed."""
    if type(profile) is not dict:
        check_profile(profile)  # raises with the reason
    cid = profile.get("customer_id")
    if type(cid) is not str or not cid:
        check_profile(profile)
    env = (None, None, None, as_of_ordinal)

    # Segment and stage resolve alike, written out twice on purpose: a shared helper
    # costs two calls per decision on the hottest path (explain.py has the plain form).
    segment = profile.get("segment")
    if segment is None:
        for entry in plan.segments:
            if entry.test is None or entry.test(profile, env) is True:
                segment = entry.id
                break
    elif type(segment) is not str or segment not in plan.segment_ids:
        given(profile, "segment", plan.segment_ids, "segment", cid)
    stage = profile.get("lifecycle_stage")
    if stage is None:
        for entry in plan.lifecycle:
            if entry.test is None or entry.test(profile, env) is True:
                stage = entry.id
                break
    elif type(stage) is not str or stage not in plan.stage_ids:
        given(profile, "lifecycle_stage", plan.stage_ids, "lifecycle stage", cid)
    tier = profile.get("value_tier")
    if tier is None:
        if plan.tier_field is not None:
            tier = tier_for(plan, profile)
    elif type(tier) is not str or tier not in plan.tier_ids:
        given(profile, "value_tier", plan.tier_ids, "value tier", cid)

    env = (segment, stage, tier, as_of_ordinal)
    if limits is NO_LIMITS:
        limits = None  # the common case keeps the loop below free of history checks
    for rule in plan.candidates((segment, stage, tier)):
        test = rule.test
        if test is not None and test(profile, env) is not True:
            continue
        if rule.needs_profit_check and not profitable(plan, rule, profile):
            continue
        channels = rule.static_channels
        if channels is None:
            channels = permitted(profile, rule.channels)
            if not channels:
                continue
        if limits is not None:
            if limits.cooling_down and rule.treatment == "delight":
                continue
            if channels and limits.blocked:
                channels = tuple(c for c in channels if c not in limits.blocked)
                if not channels:
                    continue
        return _decision(plan, cid, segment, stage, tier, rule, channels, as_of_text)
    default = plan.default
    channels = default.static_channels
    if channels is None:
        channels = permitted(profile, default.channels)
    if limits is not None and limits.blocked:
        channels = tuple(c for c in channels if c not in limits.blocked)
    return _decision(plan, cid, segment, stage, tier, default, channels, as_of_text)


def _decision(plan: CompiledPlan, cid: str, segment: str | None, stage: str | None,
              tier: str | None, rule: CompiledRule, channels: tuple[str, ...],
              as_of_text: str) -> Decision:
    return fast_decision({
        "customer_id": cid, "segment": segment, "lifecycle_stage": stage, "value_tier": tier,
        "treatment": rule.treatment, "rule": rule.id, "actions": rule.actions,
        "channels": channels,
        "cost": rule.action_cost + plan.channels[channels[0]].cost if channels else rule.action_cost,
        "plan_version": plan.version, "as_of": as_of_text, "trace": None,
    })


def decide_or_error(plan: CompiledPlan, profile: Any, as_of_ordinal: int,
                    as_of_text: str, limits: ContactState | None = None) -> Decision | DecisionError:
    """One profile's decision, or the error record that stands in for it (spec 5)."""
    try:
        return decide_ordinal(plan, profile, as_of_ordinal, as_of_text, limits)
    except (ProfileError, RecursionError) as error:
        return error_record(profile, error)


def decide_many(plan: CompiledPlan, profiles: Iterable[Any], as_of: date,
                limits: Mapping[str, ContactState] | None = None) -> Iterator[Decision | DecisionError]:
    """Decide a stream of profiles lazily, in order; an invalid one yields a DecisionError.

    ``limits`` maps a customer id to what its history rules out; a customer it does not
    name has no history.
    """
    ordinal, text = as_of.toordinal(), as_of.isoformat()
    decide_one = decide_ordinal
    for profile in profiles:
        # The body of decide_or_error, inlined: a call per profile is a tenth of the work.
        try:
            state = None
            if limits and type(profile) is dict and type(cid := profile.get("customer_id")) is str:
                state = limits.get(cid)
            yield decide_one(plan, profile, ordinal, text, state)
        except (ProfileError, RecursionError) as error:
            yield error_record(profile, error)


def error_record(profile: Any, error: Exception) -> DecisionError:
    if isinstance(error, ProfileError):
        return DecisionError(customer_id=customer_id_of(profile), error=error.message)
    return DecisionError(customer_id=customer_id_of(profile),
                         error="the profile is nested too deeply to read")


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
