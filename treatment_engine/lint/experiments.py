"""Lint checks of experiments (appendix H): arms too small to detect the uplift a holdout
states (TP011), and arms whose share rounds to none of the 10,000 buckets (TP012).

The power calculation is statsmodels' (``NormalIndPower`` over Cohen's h from
``proportion_effectsize``): a two-sided test of two proportions at alpha 0.05 and power
0.8, from a baseline rate of 50%. The plan states no baseline; 50% is the worst case (a
proportion's variance is largest there), so an experiment lint passes is powered at any
baseline rate.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import Location
from ..experiments.buckets import BUCKETS, bucket_count
from ..model import Holdout
from .findings import Finding

if TYPE_CHECKING:  # checks runs these checks: a runtime import would be circular
    from .checks import Context

ALPHA = 0.05
POWER = 0.8
BASELINE = 0.5
ASSUMPTIONS = f"two-sided test of proportions, alpha {ALPHA:g}, power {POWER:g}, baseline rate {BASELINE:.0%}"


@dataclass(frozen=True)
class _Stated:
    """A holdout that states ``detect``: who it is, its share and what its arm can reach."""

    owner: str  # "the universal holdout", "the holdout of rule 'x'"
    holdout: Holdout
    reach: float  # the share of the expected customers its experiment can hold at most
    location: Location  # of its `detect` key


def needed_per_arm(detect: float, ratio: float) -> int:
    """Customers the smaller arm needs to detect an absolute uplift of ``detect`` over the
    baseline, when the other arm is ``ratio`` times as large (statsmodels' power solver)."""
    from statsmodels.stats.power import NormalIndPower
    from statsmodels.stats.proportion import proportion_effectsize

    effect = proportion_effectsize(min(BASELINE + detect, 1.0), BASELINE)
    needed = NormalIndPower().solve_power(effect_size=abs(float(effect)), nobs1=None, alpha=ALPHA, power=POWER,
                                          ratio=ratio, alternative="two-sided")
    return int(-(-float(needed) // 1))  # whole customers, rounded up


def _stated(context: Context) -> Iterator[_Stated]:
    validated = context.validated
    universal = 0.0
    policy = validated.policy
    if policy is not None and policy.value.holdout is not None:
        holdout = policy.value.holdout
        universal = bucket_count(holdout.share) / BUCKETS
        if holdout.detect is not None:
            yield _Stated("the universal holdout", holdout, 1.0,
                          policy.source.locate(policy.path + ("holdout", "detect")))
    for located in validated.rules:
        rule_holdout = located.value.then.held_out
        if rule_holdout is not None and rule_holdout.detect is not None:
            # The customers the rule decides for are not known before a run: at most every
            # expected customer the universal holdout leaves, which only lets a warning
            # through when even they are too few.
            yield _Stated(f"the holdout of rule '{located.value.id}'", rule_holdout, 1.0 - universal,
                          located.source.locate(located.path + ("then", "holdout", "detect")))


def underpowered(context: Context) -> Iterator[Finding]:
    """TP011: a holdout stating ``detect`` whose arm, out of ``policy.expected_customers``,
    is too small for the uplift it states (against the rest of its experiment)."""
    policy = context.validated.policy
    expected = policy.value.expected_customers if policy is not None else None
    for stated in _stated(context):
        detect = stated.holdout.detect
        assert detect is not None  # _stated yields only holdouts that state it
        if expected is None:
            yield Finding("info", "TP011", stated.location,
                          f"{stated.owner} states detect: {detect:g}, but the plan does not say how many "
                          f"customers to expect", "set policy.expected_customers to check the arms' size")
            continue
        share = bucket_count(stated.holdout.share) / BUCKETS
        if share == 0.0 or share == 1.0:
            continue  # an arm of no buckets is TP012's; a holdout of all has nothing to compare
        arm, rest = expected * stated.reach * share, expected * stated.reach * (1 - share)
        ratio = max(share, 1 - share) / min(share, 1 - share)
        smaller = needed_per_arm(detect, ratio)  # the larger arm needs ratio times as many
        held, beside = (smaller, smaller * ratio) if share <= 0.5 else (smaller * ratio, smaller)
        if arm >= held and rest >= beside:
            continue
        reach = "" if stated.reach == 1.0 else " even if the rule decided for all of them"
        total = smaller / (stated.reach * min(share, 1 - share))
        yield Finding(
            "warning", "TP011", stated.location,
            f"{stated.owner} is too small to detect an uplift of {detect:g}: of {expected:,} expected "
            f"customers its arm gets about {arm:,.0f}{reach}; at this split the arms need {held:,.0f} held "
            f"out and {beside:,.0f} beside them ({ASSUMPTIONS})",
            f"hold out a larger share, state a larger detect, or expect at least {total:,.0f} customers")


def empty_arms(context: Context) -> Iterator[Finding]:
    """TP012: an arm whose share rounds to none of the 10,000 buckets: nobody is ever in it."""
    validated = context.validated
    policy = validated.policy
    if policy is not None and policy.value.holdout is not None and bucket_count(policy.value.holdout.share) == 0:
        yield Finding("warning", "TP012", policy.source.locate(policy.path + ("holdout", "share")),
                      f"the universal holdout's share {policy.value.holdout.share:g} rounds to none of the "
                      f"{BUCKETS:,} buckets: no customer is ever held out", _HINT)
    for located in validated.rules:
        rule = located.value
        holdout = rule.then.held_out
        if holdout is not None and bucket_count(holdout.share) == 0:
            path = located.path + (("then", "holdout", "share") if isinstance(rule.then.holdout, Holdout)
                                   else ("then", "holdout"))
            yield Finding("warning", "TP012", located.source.locate(path),
                          f"the holdout share {holdout.share:g} of rule '{rule.id}' rounds to none of the "
                          f"{BUCKETS:,} buckets: no customer is ever held out", _HINT)
        for position, challenger in enumerate(rule.challengers or ()):
            if bucket_count(challenger.share) == 0:
                yield Finding("warning", "TP012",
                              located.source.locate(located.path + ("challengers", position, "share")),
                              f"challenger '{challenger.id}' of rule '{rule.id}' can never be chosen: its share "
                              f"{challenger.share:g} rounds to none of the {BUCKETS:,} buckets", _HINT)


_HINT = f"a share takes round(share x {BUCKETS:,}) buckets: give it at least {1 / BUCKETS:g}, or remove it"
