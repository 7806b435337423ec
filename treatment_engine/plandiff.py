"""What changes if a new plan ships: both plans over the same customers, side by side."""

from __future__ import annotations

import itertools
import subprocess
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .compile import CompiledPlan
from .decision import Decision, cents
from .engine import Engine
from .errors import Location, PlanError, PlanIssue
from .load import READ_FOLDERS, is_plan_file_name
from .plan import load_plan, plan_from_texts

GIT_PREFIX = "git:"


def load_base(reference: str, plan_dir: Path) -> CompiledPlan:
    """A plan directory, or ``git:REV`` for the plan directory as it was at a git revision."""
    if not reference.startswith(GIT_PREFIX):
        return load_plan(reference)
    revision = reference[len(GIT_PREFIX):] or "HEAD"
    return plan_from_texts(plan_texts_at(revision, plan_dir), root=reference)


def plan_texts_at(revision: str, plan_dir: Path) -> dict[str, str]:
    if revision.startswith("-"):  # git would read it as one of its options, never as a revision
        raise PlanError([PlanIssue(Location(f"{GIT_PREFIX}{revision}"), "git",
                                   f"not a git revision: {revision!r} starts with '-'")])

    def git(*args: str) -> str:
        run = subprocess.run(["git", "-C", str(plan_dir), *args], capture_output=True, text=True)
        if run.returncode != 0:
            raise PlanError([PlanIssue(Location(f"{GIT_PREFIX}{revision}"), "git",
                                       run.stderr.strip() or f"git {' '.join(args)} failed")])
        return run.stdout

    prefix = git("rev-parse", "--show-prefix").strip()  # the plan dir, relative to the repo root
    names = git("ls-tree", "--full-tree", "-r", "--name-only", revision, "--",
                *(f"{prefix}{folder}" for folder in READ_FOLDERS)).splitlines()
    texts = {}
    for name in names:
        relative = name[len(prefix):]
        if is_plan_file_name(relative) and not any(p.startswith(".") for p in relative.split("/")):
            texts[relative] = git("show", f"{revision}:{name}")
    if not texts:
        raise PlanError([PlanIssue(Location(f"{GIT_PREFIX}{revision}"), "git",
                                   f"no plan files under {prefix or './'} at {revision}")])
    return texts


ArmMove = tuple[str | None, str, str | None, str]


@dataclass
class PlanDiff:
    base_version: str
    new_version: str
    total: int = 0
    invalid: int = 0
    unchanged: int = 0
    transitions: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)  # base rule, treatment -> new
    channels_changed: int = 0
    base_cost: float = 0.0
    new_cost: float = 0.0
    rule_counts: Counter[str] = field(default_factory=Counter)  # new minus base, per rule
    examples: dict[tuple[str, str, str, str], str] = field(default_factory=dict)  # a customer per transition
    # Customers whose experiment arm changes: (base experiment, base arm, new experiment,
    # new arm), the experiment None outside any; a decision may stay the same while its
    # arm changes (a challenger that cannot be given leaves the champion's then).
    arm_moves: Counter[ArmMove] = field(default_factory=Counter)
    arm_examples: dict[ArmMove, str] = field(default_factory=dict)

    @property
    def arms_changed(self) -> int:
        return sum(self.arm_moves.values())

    @property
    def changed(self) -> int:
        return self.total - self.invalid - self.unchanged

    @property
    def decided(self) -> int:
        return self.total - self.invalid

    def ranked_transitions(self, top: int | None = None) -> list[tuple[tuple[str, str, str, str], int]]:
        """Transitions, the most customers first, ties by name: the same order from every back end."""
        return _ranked(self.transitions, top)

    def ranked_arm_moves(self, top: int | None = None) -> list[tuple[ArmMove, int]]:
        return _ranked(self.arm_moves, top)

    def movers(self, top: int | None = None) -> list[tuple[str, int]]:
        """Rules whose customer count changes, the largest change first."""
        moved = sorted(((rule, change) for rule, change in self.rule_counts.items() if change),
                       key=lambda item: (-abs(item[1]), item[0]))
        return moved if top is None else moved[:top]

    def as_json(self, as_of: date) -> dict[str, Any]:
        """Everything the diff found, for scripts (``treatment diff --format json``)."""
        delta = self.new_cost - self.base_cost
        return {
            "base_plan_version": self.base_version, "new_plan_version": self.new_version,
            "as_of": as_of.isoformat(), "customers": self.total, "invalid": self.invalid,
            "changed": self.changed, "unchanged": self.unchanged, "channels_changed": self.channels_changed,
            "cost": {"base": round(self.base_cost, 2), "new": round(self.new_cost, 2), "delta": round(delta, 2),
                     "delta_per_customer": round(delta / (self.decided or 1), 4)},
            "transitions": [{"from": {"rule": key[0], "treatment": key[1]},
                             "to": {"rule": key[2], "treatment": key[3]},
                             "customers": count, "example_customer": self.examples[key]}
                            for key, count in self.ranked_transitions()],
            "rule_changes": dict(self.movers()),
            "arms_changed": self.arms_changed,
            "arm_changes": [{"from": {"experiment": key[0], "arm": key[1]},
                             "to": {"experiment": key[2], "arm": key[3]},
                             "customers": count, "example_customer": self.arm_examples[key]}
                            for key, count in self.ranked_arm_moves()],
        }


def _ranked(counts: Counter[Any], top: int | None) -> list[tuple[Any, int]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], tuple(str(part) for part in item[0])))
    return ranked if top is None else ranked[:top]


DIFF_BATCH = 8_192  # customers decided by both plans at a time: memory does not grow with the file


def diff_plans(base: CompiledPlan, new: CompiledPlan, profiles: Iterable[Any], as_of: date) -> PlanDiff:
    """Both plans over the same customers, streamed a batch at a time. A line of the file
    that is not a profile at all (:class:`~.profiles.Unreadable`) counts as invalid, as a
    profile neither plan can decide does."""
    from .profiles import Unreadable

    result = PlanDiff(base.version, new.version)
    base_engine, new_engine = Engine(base), Engine(new)
    stream = iter(profiles)
    while batch := list(itertools.islice(stream, DIFF_BATCH)):
        readable = [item for item in batch if not isinstance(item, Unreadable)]
        result.total += len(batch) - len(readable)
        result.invalid += len(batch) - len(readable)
        _tally(result, zip(base_engine.decide_many(readable, as_of), new_engine.decide_many(readable, as_of),
                           strict=True))
    return result


def _tally(result: PlanDiff, pairs: Iterable[tuple[Any, Any]]) -> None:
    for old, fresh in pairs:
        result.total += 1
        if not isinstance(old, Decision) or not isinstance(fresh, Decision):
            result.invalid += 1
            continue
        result.base_cost += cents(old.cost)  # as the decision files write it, so back ends agree
        result.new_cost += cents(fresh.cost)
        result.rule_counts[fresh.rule] += 1
        result.rule_counts[old.rule] -= 1
        if old.channels != fresh.channels:
            result.channels_changed += 1
        if (old.experiment, old.arm) != (fresh.experiment, fresh.arm):
            move = (old.experiment, old.arm, fresh.experiment, fresh.arm)
            result.arm_moves[move] += 1
            result.arm_examples.setdefault(move, fresh.customer_id)
        if (old.rule, old.treatment, old.actions, old.channels) == (fresh.rule, fresh.treatment, fresh.actions, fresh.channels):
            result.unchanged += 1
            continue
        key = (old.rule, old.treatment, fresh.rule, fresh.treatment)
        result.transitions[key] += 1
        result.examples.setdefault(key, fresh.customer_id)
