"""Whole-plan checks of experiments (appendix H), run by :mod:`..validate` with the rest:
a challenger's ``then`` names known actions and channels, arm ids are unique in their
rule and not the reserved ones, and no two experiments share a salt (two experiments
salted alike would put the same customers in the same buckets of both)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ..errors import PlanIssue
from ..model import Policy, Rule
from .buckets import UNIVERSAL
from .compiled import CHAMPION, HOLDOUT

if TYPE_CHECKING:
    from ..load import Path_, SourceFile

RESERVED_ARMS = (CHAMPION, HOLDOUT, UNIVERSAL)
OutcomeCheck = Callable[[Any, "SourceFile", "Path_", str], None]


def check_experiments(rules: Iterable[Any], policy: Any | None, check_outcome: OutcomeCheck,
                      issues: list[PlanIssue]) -> None:
    """``rules``: located rules (value, source, path); ``policy``: the located policy or
    None; ``check_outcome`` checks a ``then``'s references as the rules' own are checked."""
    salts: dict[str, str] = {}
    if policy is not None:
        written: Policy = policy.value
        if written.holdout is not None:
            salt = written.holdout.salt if written.holdout.salt is not None else UNIVERSAL
            salts[salt] = "the universal holdout"
    for located in rules:
        rule: Rule = located.value
        seen: set[str] = set()
        for position, challenger in enumerate(rule.challengers or ()):
            path = located.path + ("challengers", position)
            owner = f"challenger '{challenger.id}' of rule '{rule.id}'"
            if challenger.id in RESERVED_ARMS or challenger.id in seen:
                why = "is reserved for an arm" if challenger.id in RESERVED_ARMS else "is used twice in this rule"
                issues.append(PlanIssue(located.source.locate(path + ("id",), prefer_key=False), "duplicate-id",
                                        f"challenger id '{challenger.id}' {why}",
                                        "give each challenger its own id"))
            seen.add(challenger.id)
            check_outcome(challenger.then, located.source, path + ("then",), owner)
        if rule.then.held_out is None and not rule.challengers:
            continue
        holdout = rule.then.held_out
        salt = holdout.salt if holdout is not None and holdout.salt is not None else rule.id
        if salt in salts:
            where = ("then", "holdout", "salt") if holdout is not None and holdout.salt is not None else ("id",)
            issues.append(PlanIssue(located.source.locate(located.path + where, prefer_key=False), "duplicate-salt",
                                    f"rule '{rule.id}' salts its experiment with '{salt}', as {salts[salt]} does",
                                    "two experiments salted alike split the same customers alike: give one "
                                    "another salt"))
        else:
            salts[salt] = f"rule '{rule.id}'"
