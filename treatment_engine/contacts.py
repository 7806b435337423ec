"""Contact limits from the decision history: caps per channel and a delight cooldown.

A decision is pure over (plan, profile, as_of) except for these two policy extensions,
which also read what the business did to the customer before (docs/plan-format.md,
appendix C). The history reaches the evaluators as a :class:`ContactState`, worked out
here once per customer, so the in-process evaluator, the SQL back ends and the
explanation all apply the same limits.

A past decision counts as a contact on its first channel (the one its cost charges),
on the day it was made for (its ``as_of``), inside a window of ``per_days`` days that
ends with, and includes, the day being decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

ANY_CHANNEL = "any"


@dataclass(frozen=True, slots=True)
class ContactCap:
    key: str  # a channel id, or "any" for every channel together
    max: int
    per_days: int


@dataclass(frozen=True, slots=True)
class ContactRules:
    """The plan's limits, compiled: what :func:`contact_state` applies."""

    caps: tuple[ContactCap, ...]
    cooldown_days: int | None
    channel_ids: tuple[str, ...]  # every channel of the plan (an "any" cap blocks them all)
    lookback_days: int  # how far back the history must reach for these limits


@dataclass(frozen=True, slots=True)
class Contact:
    """One past decision for the customer, as the limits see it."""

    day: int  # date.toordinal() of the decision's as_of
    treatment: str
    channel: str | None  # its first channel; None when it had none
    times: int = 1  # identical contacts (same day, treatment and channel) counted together


@dataclass(frozen=True, slots=True)
class ContactState:
    """What one customer's history rules out on one day."""

    blocked: frozenset[str] = frozenset()  # channels whose cap is reached
    cooling_down: bool = False  # delighted within delight_cooldown_days
    # Why, for explanations: channel id -> "2 contacts on sms in the last 7 days (cap 2)".
    reasons: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    last_delight: str | None = None  # ISO day of the delight that started the cooldown


NO_LIMITS = ContactState()


def contact_state(rules: ContactRules, history: Iterable[Contact], as_of: date | int) -> ContactState:
    """The channels capped and the cooldown for a customer with ``history`` on ``as_of``.

    Decisions dated after ``as_of`` are not counted: a simulation of an earlier day
    sees the history as it was then.
    """
    today = as_of if type(as_of) is int else as_of.toordinal()  # type: ignore[union-attr]
    # Only what some limit can see; most customers have a handful of contacts or none.
    lookback = rules.lookback_days
    recent = [c for c in history if 0 <= today - c.day < lookback]
    if not recent:
        return NO_LIMITS
    used = [sum(c.times for c in recent if c.channel is not None
                and (cap.key == ANY_CHANNEL or c.channel == cap.key) and today - c.day < cap.per_days)
            for cap in rules.caps]
    last_delight = None
    if rules.cooldown_days is not None:
        last_delight = max((c.day for c in recent if c.treatment == "delight"
                            and today - c.day < rules.cooldown_days), default=None)
    return state_from_counts(rules, used, last_delight)


def state_from_counts(rules: ContactRules, used: Sequence[int], last_delight: int | None) -> ContactState:
    """The state from what the windows hold: ``used[i]`` contacts inside ``rules.caps[i]``'s
    window, and the day (ordinal) of the latest delight inside the cooldown, if any.

    Shared by :func:`contact_state` and the decision log, which counts in the database.
    """
    blocked: set[str] = set()
    reasons: dict[str, str] = {}
    for cap, count in zip(rules.caps, used, strict=True):
        if count < cap.max:
            continue
        every = cap.key == ANY_CHANNEL
        where = "on any channel" if every else f"on {cap.key}"
        why = (f"contact cap reached: {count} contact{'s' if count != 1 else ''} {where} in the last "
               f"{cap.per_days} day{'s' if cap.per_days != 1 else ''} (max {cap.max})")
        for channel in rules.channel_ids if every else (cap.key,):
            if channel not in blocked:
                blocked.add(channel)
                reasons[channel] = why
    if not blocked and last_delight is None:
        return NO_LIMITS
    return ContactState(frozenset(blocked), last_delight is not None, MappingProxyType(reasons),
                        date.fromordinal(last_delight).isoformat() if last_delight is not None else None)


def compile_contact_rules(caps: Mapping[str, tuple[int, int]] | None, cooldown_days: int | None,
                          channel_ids: Iterable[str]) -> ContactRules | None:
    """The plan's limits, or None when it sets none (decisions then need no history)."""
    if not caps and cooldown_days is None:
        return None
    compiled = tuple(ContactCap(key, limit, days) for key, (limit, days) in sorted((caps or {}).items()))
    lookback = max([c.per_days for c in compiled] + [cooldown_days or 0])
    return ContactRules(compiled, cooldown_days, tuple(sorted(channel_ids)), lookback)
