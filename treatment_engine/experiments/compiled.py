"""The experiments of a compiled plan: immutable, built once by :mod:`..compile`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..errors import Location
from ..model import Outcome, Policy, Rule
from .buckets import BUCKETS, UNIVERSAL, bucket, bucket_count

if TYPE_CHECKING:
    from ..compile import CompiledRule

HOLDOUT = "holdout"  # the arm of a rule's holdout (and the rule a universal holdout decides by)
CHAMPION = "champion"


@dataclass(frozen=True, slots=True)
class Arm:
    """An arm other than the champion: buckets [low, high) of its experiment. ``variant``
    is the challenger's ``then`` as a rule (the champion's id and conditions, the
    challenger's treatment, actions and channels); None for a holdout."""

    id: str
    low: int
    high: int
    variant: CompiledRule | None
    location: Location

    def holds(self, number: int) -> bool:
        return self.low <= number < self.high


@dataclass(frozen=True, slots=True)
class CompiledExperiment:
    """A rule's experiment: its holdout first, then its challengers in declaration order,
    each a range of buckets; the champion keeps the buckets after the last arm."""

    id: str  # the rule's id
    salt: str
    arms: tuple[Arm, ...]
    control: Literal["next", "none"]  # what the rule's holdout gets
    detect: float | None  # the smallest uplift worth knowing (lint's power check)

    @property
    def champion_low(self) -> int:
        return self.arms[-1].high if self.arms else 0

    def arm_for(self, number: int) -> Arm | None:
        """The arm a bucket falls in; None for the champion."""
        for arm in self.arms:
            if arm.holds(number):
                return arm
        return None

    def bucket(self, customer_id: str) -> int:
        return bucket(self.salt, customer_id)


@dataclass(frozen=True, slots=True)
class CompiledHoldout:
    """The universal holdout: buckets [0, size) of its salt get no treatment at all."""

    salt: str
    size: int
    share: float
    detect: float | None
    location: Location

    def holds(self, customer_id: str) -> tuple[bool, int]:
        number = bucket(self.salt, customer_id)
        return number < self.size, number

    @property
    def champion_share(self) -> float:
        return (BUCKETS - self.size) / BUCKETS


def compile_experiment(rule: Rule, champion: CompiledRule,
                       variant_of: Callable[[Outcome], CompiledRule]) -> CompiledExperiment | None:
    """A rule's experiment (None without holdout or challengers); ``variant_of`` compiles
    a challenger's ``then`` as the rule it replaces for that challenger's customers."""
    holdout, challengers = rule.then.held_out, rule.challengers or []
    if holdout is None and not challengers:
        return None
    arms, low = [], 0
    if holdout is not None:
        arms.append(Arm(HOLDOUT, low, low + bucket_count(holdout.share), None, champion.location))
        low = arms[-1].high
    for challenger in challengers:
        high = low + bucket_count(challenger.share)
        arms.append(Arm(challenger.id, low, high, variant_of(challenger.then), champion.location))
        low = high
    salt = holdout.salt if holdout is not None and holdout.salt is not None else rule.id
    return CompiledExperiment(rule.id, salt, tuple(arms), holdout.control if holdout else "next",
                              holdout.detect if holdout else None)


def compile_holdout(policy: Policy | None, location: Location) -> CompiledHoldout | None:
    written = policy.holdout if policy is not None else None
    if written is None:
        return None
    return CompiledHoldout(written.salt if written.salt is not None else UNIVERSAL,
                           bucket_count(written.share), written.share, written.detect, location)
