"""What a decision means, written once (spec sections 4, 5 and 8, appendix C).

Every decision path takes its meaning from here:

- :mod:`.evaluate` (the fast path) calls these, or inlines one where a call per
  decision would cost too much; each inlined piece names the function it mirrors, and
  the differential tests hold the two to the same answers;
- :mod:`.explain` calls them step by step and words what they found;
- :mod:`.lint` reasons with them (which rules a cell admits, which rules may skip);
- the SQL query builder (:mod:`.sql.decision_query`) reproduces each in SQL and names,
  clause by clause, the function here whose meaning it has; its invalid-profile
  messages come from the table below, so Python and SQL give the same text;
- the service and the CLI take a profile's customer id from :func:`customer_id_of`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .contacts import ContactState
from .errors import ProfileError
from .expressions.values import lookup, to_float

if TYPE_CHECKING:
    from .compile import CompiledChannel, CompiledCondition, CompiledPlan, CompiledRule, IndexKey
    from .evidence import Cell
    from .expressions.closures import Env


@dataclass(frozen=True, slots=True)
class Dimension:
    """Segment, lifecycle stage or value tier: a profile may give it or the plan derives it."""

    key: str  # the profile's field and the decision's field
    noun: str  # how messages name it


SEGMENT = Dimension("segment", "segment")
STAGE = Dimension("lifecycle_stage", "lifecycle stage")
TIER = Dimension("value_tier", "value tier")
DIMENSIONS = (SEGMENT, STAGE, TIER)  # the order they are resolved and checked in


# -- why a profile cannot be decided (spec 5): the one table of messages -------------

NOT_AN_OBJECT = "a profile must be a JSON object, got {kind}"
NO_CUSTOMER_ID = "the profile has no customer_id (a non-empty string)"
UNDEFINED_TEXT = "the profile gives {key} '{value}', which the plan does not define as a {noun}"
UNDEFINED_KIND = "the profile gives {key} as {kind}, which the plan does not define as a {noun}"
TOO_DEEP = "the profile is nested too deeply to read"

# The kind of a given value that is not text, as UNDEFINED_KIND names it, by the SQL
# value component that carries it (n, b, o). Objects and arrays share a name because
# the SQL back ends carry both as one component and must say the same.
KIND_NAMES = {"n": "a number", "b": "a boolean", "o": "an object or array"}


def undefined_given(dimension: Dimension, value: object) -> str:
    """Why a given segment/stage/tier makes the profile invalid (the plan lacks it)."""
    if type(value) is str:
        return UNDEFINED_TEXT.format(key=dimension.key, value=value, noun=dimension.noun)
    return UNDEFINED_KIND.format(key=dimension.key, kind=value_kind(value), noun=dimension.noun)


def undefined_text_parts(dimension: Dimension) -> tuple[str, str]:
    """UNDEFINED_TEXT for ``dimension`` before and after the value, for SQL to join."""
    before, after = UNDEFINED_TEXT.split("{value}")
    return (before.format(key=dimension.key, noun=dimension.noun),
            after.format(key=dimension.key, noun=dimension.noun))


def undefined_kind(dimension: Dimension, component: str) -> str:
    """UNDEFINED_KIND for a value carried by SQL component ``component`` (n, b or o)."""
    return UNDEFINED_KIND.format(key=dimension.key, kind=KIND_NAMES[component], noun=dimension.noun)


def value_kind(value: object) -> str:
    """A non-text value's kind as messages name it (see KIND_NAMES)."""
    if type(value) is bool:
        return KIND_NAMES["b"]
    if type(value) is int or type(value) is float:
        return KIND_NAMES["n"]
    if isinstance(value, (dict, list, tuple)):
        return KIND_NAMES["o"]
    return f"a {type(value).__name__}"  # not JSON: only an embedding caller can pass one


def json_kind(value: object) -> str:
    """What a non-object profile is, for NOT_AN_OBJECT."""
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


# -- the customer -------------------------------------------------------------------

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
        raise ProfileError(NOT_AN_OBJECT.format(kind=json_kind(profile)))
    cid = profile.get("customer_id")
    if type(cid) is not str or not cid:
        raise ProfileError(NO_CUSTOMER_ID)
    return cid


# -- segment, lifecycle stage, value tier: given or derived ------------------------------

def given(profile: dict[str, Any], dimension: Dimension, defined: frozenset[str], cid: str) -> str | None:
    """The value the profile states itself; one the plan does not define makes it invalid."""
    value = profile.get(dimension.key)
    if value is None:
        return None
    if type(value) is not str or value not in defined:
        raise ProfileError(undefined_given(dimension, value), cid)
    return value


def derived(entries: tuple[CompiledCondition, ...], profile: dict[str, Any], env: Env) -> str | None:
    """The first segment (or stage) whose condition is true; one without a condition
    matches everyone. None when none holds."""
    for entry in entries:
        if entry.test is None or entry.test(profile, env) is True:
            return entry.id
    return None


def number_at(profile: dict[str, Any], path: tuple[str, ...]) -> float | None:
    """The number at a dotted field as a float; None when it is absent or not a number."""
    value = profile.get(path[0]) if len(path) == 1 else lookup(profile, path)
    return to_float(value) if type(value) is int or type(value) is float else None


def tier_for(plan: CompiledPlan, profile: dict[str, Any]) -> str | None:
    """The first tier (by descending ``min``) whose min the tier field reaches."""
    if plan.tier_field is None:
        return None
    number = number_at(profile, plan.tier_field)
    if number is None:
        return None
    for tier in plan.tiers:
        if tier.min <= number:
            return tier.id
    return None


# -- whether a rule applies ---------------------------------------------------------------

def constraints(rule: CompiledRule) -> tuple[frozenset[str] | None, ...]:
    """A rule's `when` sets, in DIMENSIONS order (None: any value, null included)."""
    return (rule.segments, rule.stages, rule.tiers)


def excluded_by(rule: CompiledRule, key: IndexKey) -> Dimension | None:
    """The first dimension whose `when` constraint leaves the customer's value out."""
    for dimension, allowed, value in zip(DIMENSIONS, constraints(rule), key, strict=True):
        if allowed is not None and value not in allowed:
            return dimension
    return None


def admits(rule: CompiledRule, key: IndexKey) -> bool:
    """Whether a rule's `when` admits a (segment, stage, tier) cell."""
    return excluded_by(rule, key) is None


def profitable(plan: CompiledPlan, rule: CompiledRule, profile: dict[str, Any], cell: Cell) -> bool:
    """A delight rule: where measured evidence covers the customer's cell or the rule as a
    whole, whether its lower bound covers the cost (appendix K); else the policy's ratio
    test, its actions costing at most ratio x the value field (spec 3)."""
    if not rule.needs_profit_check:
        return True
    verdict = rule.evidence.for_cell(cell) if rule.evidence is not None else None
    if verdict is not None:
        return verdict.pays
    policy = plan.policy
    if policy is None:
        return True
    value = number_at(profile, policy.value_field)
    return value is not None and rule.action_cost <= policy.delight_max_cost_ratio * value


def unprofitable_reason(plan: CompiledPlan, rule: CompiledRule, profile: dict[str, Any],
                        cell: Cell) -> str | None:
    """Why `profitable` is false for this customer, or None when it is true: the same two
    tests, spelt out (kept apart so the evaluator's hot path formats no message)."""
    verdict = rule.evidence.for_cell(cell) if rule.evidence is not None else None
    if verdict is not None:
        return None if verdict.pays else f"unprofitable: {verdict.reason(rule.action_cost)}"
    policy = plan.policy
    if policy is None:
        return None
    field = ".".join(policy.value_field)
    value = number_at(profile, policy.value_field)
    ratio = policy.delight_max_cost_ratio
    if value is None:
        return f"unprofitable: {field} is missing, null or not a number"
    if rule.action_cost <= ratio * value:
        return None
    return f"unprofitable: actions cost {rule.action_cost:g} > {ratio:g} x {field} {value:g} = {ratio * value:g}"


def permitted(profile: dict[str, Any], channels: tuple[CompiledChannel, ...]) -> tuple[str, ...]:
    """The ids of the channels this profile consented to (consent field exactly true)."""
    ids = []
    for channel in channels:
        consent = channel.consent
        if consent is None or (profile.get(consent[0]) if len(consent) == 1
                               else lookup(profile, consent)) is True:
            ids.append(channel.id)
    return tuple(ids)


def uncapped(channels: tuple[str, ...], limits: ContactState) -> tuple[str, ...]:
    """The channels no contact cap blocks."""
    return tuple(c for c in channels if c not in limits.blocked) if limits.blocked else channels


def cooling_down(rule: CompiledRule, limits: ContactState) -> bool:
    """A delight rule does not apply within the cooldown after the last delight."""
    return limits.cooling_down and rule.treatment == "delight"


def contacted(rule: CompiledRule, profile: dict[str, Any], limits: ContactState) -> tuple[str, ...]:
    """The channels a deciding rule lists that the customer may be contacted on, in order."""
    if rule.treatment == "none":
        return ()
    return uncapped(permitted(profile, rule.channels), limits)


def skip_reason(plan: CompiledPlan, rule: CompiledRule, profile: dict[str, Any],
                limits: ContactState, cell: Cell) -> str | None:
    """Why a matched rule does not decide, or None when it does. Checked in this order:
    profitability, consent, the delight cooldown, contact caps."""
    unprofitable = unprofitable_reason(plan, rule, profile, cell) if rule.needs_profit_check else None
    if unprofitable is not None:
        return unprofitable
    if rule.treatment == "none":
        return None
    consented = permitted(profile, rule.channels)
    if not consented:
        needs = ", ".join(f"{c.id} (needs {'.'.join(c.consent)} = true)" if c.consent else c.id
                          for c in rule.channels)
        return f"no permitted channel: {needs}"
    if cooling_down(rule, limits):
        days = plan.contact_rules.cooldown_days if plan.contact_rules else None
        return (f"cooling down: delighted on {limits.last_delight}, within "
                f"delight_cooldown_days {days}")
    if not uncapped(consented, limits):
        return "no permitted channel: " + "; ".join(f"{c}: {limits.reasons[c]}" for c in consented)
    return None


def always_applies(rule: CompiledRule) -> bool:
    """Whether a rule that matches is sure to decide whatever the profile: no
    profitability test, and a channel that needs no consent (contact caps aside)."""
    if rule.treatment == "none":
        return True
    return not rule.needs_profit_check and any(c.consent is None for c in rule.channels)


def cost(plan: CompiledPlan, rule: CompiledRule, channels: tuple[str, ...]) -> float:
    """A decision's cost: its actions, plus the first channel's cost when it has one."""
    return rule.action_cost + plan.channels[channels[0]].cost if channels else rule.action_cost
