"""The decision of spec section 4 for one profile: the fast path, with no tracing.

Every function here is pure: a compiled plan, a profile and a day in, a decision out.
What a decision means is written in :mod:`.semantics`; this module calls it, or inlines
a piece of it where a call per decision would cost too much, and each inlined piece
names the function it mirrors. :mod:`.explain` walks the same plan step by step.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from .compile import CompiledPlan, CompiledRule
from .contacts import NO_LIMITS, ContactState
from .day import Day
from .decision import Decision, DecisionError, fast_decision
from .errors import ProfileError
from .experiments.assign import Env, assign
from .semantics import (
    SEGMENT,
    STAGE,
    TIER,
    TOO_DEEP,
    check_profile,
    customer_id_of,
    given,
    permitted,
    profitable,
    tier_for,
    uncapped,
)


def decide(plan: CompiledPlan, profile: Any, day: Day, limits: ContactState | None = None) -> Decision:
    """Decide one profile; ProfileError for an invalid one (spec 5). ``limits``: what the
    customer's history rules out (:mod:`.contacts`); without it caps see no history."""
    cid = profile.get("customer_id") if type(profile) is dict else None
    if type(cid) is not str or not cid:
        cid = check_profile(profile)  # semantics.check_profile: here it raises with the reason
    ordinal = day.ordinal
    env = (None, None, None, ordinal)
    # semantics.given, then semantics.derived when nothing is given. Segment and stage are
    # written out twice on purpose: a shared helper costs two calls per decision.
    segment = profile.get("segment")
    if segment is None:
        for entry in plan.segments:
            if entry.test is None or entry.test(profile, env) is True:
                segment = entry.id
                break
    elif type(segment) is not str or segment not in plan.segment_ids:
        given(profile, SEGMENT, plan.segment_ids, cid)  # raises with the reason
    stage = profile.get("lifecycle_stage")
    if stage is None:
        for entry in plan.lifecycle:
            if entry.test is None or entry.test(profile, env) is True:
                stage = entry.id
                break
    elif type(stage) is not str or stage not in plan.stage_ids:
        given(profile, STAGE, plan.stage_ids, cid)
    # semantics.given, then semantics.tier_for.
    tier = profile.get("value_tier")
    if tier is None:
        if plan.tier_field is not None:
            tier = tier_for(plan, profile)
    elif type(tier) is not str or tier not in plan.tier_ids:
        given(profile, TIER, plan.tier_ids, cid)
    env = (segment, stage, tier, ordinal)
    if limits is NO_LIMITS:
        limits = None  # the common case keeps the loop below free of history checks
    # The index holds, per cell, the rules semantics.admits lets through, in order.
    for rule in plan.candidates((segment, stage, tier)):
        test = rule.test
        if test is not None and test(profile, env) is not True:
            continue
        # semantics.skip_reason, in its order: profit, consent, cooldown, caps.
        if rule.needs_profit_check and not profitable(plan, rule, profile, (segment, stage, tier)):
            continue
        channels = rule.static_channels  # semantics.permitted, worked out at compile time
        if channels is None:
            channels = permitted(profile, rule.channels)
            if not channels:
                continue
        if limits is not None:
            if limits.cooling_down and rule.treatment == "delight":  # semantics.cooling_down
                continue
            if channels and limits.blocked:  # semantics.uncapped
                channels = tuple(c for c in channels if c not in limits.blocked)
                if not channels:
                    continue
        if rule.experiment is not None:
            return _in_experiments(plan, profile, env, limits, cid, rule, channels, day.text)
        if plan.holdout is not None and (held := plan.holdout.holds(cid))[0]:
            return _in_experiments(plan, profile, env, limits, cid, rule, channels, day.text, held)
        return _decision(plan, cid, segment, stage, tier, rule, channels, day.text)
    default = plan.default  # semantics.contacted: the default always decides (spec 8)
    channels = default.static_channels
    if channels is None:
        channels = permitted(profile, default.channels)
    if limits is not None:
        channels = uncapped(channels, limits)
    if plan.holdout is not None and (held := plan.holdout.holds(cid))[0]:
        return _in_experiments(plan, profile, env, limits, cid, default, channels, day.text, held)
    return _decision(plan, cid, segment, stage, tier, default, channels, day.text)


def _in_experiments(plan: CompiledPlan, profile: dict[str, Any], env: Env, limits: ContactState | None,
                    cid: str, champion: CompiledRule, channels: tuple[str, ...], as_of_text: str,
                    held: tuple[bool, int] | None = None) -> Decision:
    """The decision of a customer some experiment may treat otherwise (experiments.assign);
    ``held`` is the universal holdout's answer when it is known already (hashed once)."""
    given = assign(plan, profile, env, limits, cid, champion, channels, held=held)
    return fast_decision({
        "customer_id": cid, "segment": env[0], "lifecycle_stage": env[1], "value_tier": env[2],
        "treatment": given.treatment, "rule": given.rule_id, "actions": given.actions,
        "channels": given.channels, "cost": given.cost, "plan_version": plan.version, "as_of": as_of_text,
        "trace": None, "arm": given.arm, "experiment": given.experiment, "bucket": given.bucket,
        "would_have": given.would_have,
    })


def _decision(plan: CompiledPlan, cid: str, segment: str | None, stage: str | None,
              tier: str | None, rule: CompiledRule, channels: tuple[str, ...],
              as_of_text: str) -> Decision:
    return fast_decision({
        "customer_id": cid, "segment": segment, "lifecycle_stage": stage, "value_tier": tier,
        "treatment": rule.treatment, "rule": rule.id, "actions": rule.actions,
        "channels": channels,
        # semantics.cost
        "cost": rule.action_cost + plan.channels[channels[0]].cost if channels else rule.action_cost,
        "plan_version": plan.version, "as_of": as_of_text, "trace": None,
        "arm": "champion", "experiment": None, "bucket": None, "would_have": None,
    })


def decide_or_error(plan: CompiledPlan, profile: Any, day: Day,
                    limits: ContactState | None = None) -> Decision | DecisionError:
    """One profile's decision, or the error record that stands in for it (spec 5)."""
    try:
        return decide(plan, profile, day, limits)
    except (ProfileError, RecursionError) as error:
        return error_record(profile, error)


def decide_many(plan: CompiledPlan, profiles: Iterable[Any], day: Day,
                limits: Mapping[str, ContactState] | None = None) -> Iterator[Decision | DecisionError]:
    """Decide a stream of profiles lazily, in order; an invalid one yields a DecisionError.

    ``limits`` maps a customer id to what its history rules out; a customer it does not
    name has no history.
    """
    decide_one = decide
    for profile in profiles:
        # The body of decide_or_error, inlined: a call per profile is a tenth of the work.
        try:
            state = None
            if limits and type(profile) is dict and type(cid := profile.get("customer_id")) is str:
                state = limits.get(cid)
            yield decide_one(plan, profile, day, state)
        except (ProfileError, RecursionError) as error:
            yield error_record(profile, error)


def error_record(profile: Any, error: Exception) -> DecisionError:
    """The DecisionError for a profile that raised ``error`` while being decided."""
    message = error.message if isinstance(error, ProfileError) else TOO_DEEP
    return DecisionError(customer_id=customer_id_of(profile), error=message)
