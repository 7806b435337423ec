"""Arm sizes of a simulation (appendix H): customers per experiment arm against the share
the plan declares, and the cost the holdouts save.

Every back end feeds :class:`ArmTally` the same four things per decision (or per group
of alike decisions): the champion rule (the rule that would have decided without any
experiment: ``would_have.rule`` off the champion's arm, else the deciding rule), the arm,
what the customers cost and what the champion would have cost them. The views derive
the rest from the plan's declared arms, so the back ends cannot disagree on them.

An experiment's customers: for the universal holdout, every decided customer; for a
rule's experiment, the customers that rule is champion for, less those the universal
holdout took (they never reach the rule's buckets).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from .compile import CompiledPlan
from .experiments.buckets import BUCKETS, UNIVERSAL
from .experiments.compiled import CHAMPION, HOLDOUT

HOLDOUT_ARMS = (HOLDOUT, UNIVERSAL)  # the arms whose customers are held from their treatment


@dataclass(frozen=True)
class DeclaredArm:
    experiment: str  # a rule's id, or "universal_holdout"
    arm: str
    share: float  # of the experiment's customers, as its buckets give it (round(share x 10,000))


@dataclass(frozen=True)
class ArmRow:
    """One arm of one experiment as the tables show it."""

    experiment: str
    arm: str
    customers: int
    share: float  # of the experiment's customers in this run (0 when it has none)
    declared: float
    saved: float | None  # the champion's cost of these customers minus their cost; None for the champion


def declared_arms(plan: CompiledPlan) -> tuple[DeclaredArm, ...]:
    """Every experiment's arms, the universal holdout first, then the rules in plan order;
    within an experiment, its holdout, its challengers, then the champion."""
    arms: list[DeclaredArm] = []
    if plan.holdout is not None:
        arms.append(DeclaredArm(UNIVERSAL, UNIVERSAL, plan.holdout.size / BUCKETS))
        arms.append(DeclaredArm(UNIVERSAL, CHAMPION, plan.holdout.champion_share))
    for rule in plan.rules:
        experiment = rule.experiment
        if experiment is None:
            continue
        arms.extend(DeclaredArm(experiment.id, arm.id, (arm.high - arm.low) / BUCKETS) for arm in experiment.arms)
        arms.append(DeclaredArm(experiment.id, CHAMPION, (BUCKETS - experiment.champion_low) / BUCKETS))
    return tuple(arms)


@dataclass
class ArmTally:
    declared: tuple[DeclaredArm, ...] = ()
    rule_order: tuple[str, ...] = ()  # the plan's rules and default, for the per-rule view
    customers: Counter[tuple[str, str]] = field(default_factory=Counter)  # (champion rule, arm)
    cost: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    champion_cost: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))

    def add(self, champion: str, arm: str, cost: float, champion_cost: float, count: int = 1) -> None:
        key = (champion, arm)
        self.customers[key] += count
        self.cost[key] += cost
        self.champion_cost[key] += champion_cost

    @property
    def experimenting(self) -> bool:
        return bool(self.declared)

    def _in_experiment(self, experiment: str) -> list[tuple[str, str]]:
        if experiment == UNIVERSAL:
            return list(self.customers)
        return [key for key in self.customers if key[0] == experiment and key[1] != UNIVERSAL]

    def experiment_rows(self) -> list[ArmRow]:
        """Per declared arm: its customers, their share of the experiment's, the declared
        share, and (off the champion) what they saved against the champion."""
        rows = []
        for declared in self.declared:
            keys = self._in_experiment(declared.experiment)
            total = sum(self.customers[k] for k in keys)
            if declared.experiment == UNIVERSAL:
                mine = [k for k in keys if (k[1] == UNIVERSAL) == (declared.arm == UNIVERSAL)]
            else:
                mine = [k for k in keys if k[1] == declared.arm]
            customers = sum(self.customers[k] for k in mine)
            saved = None if declared.arm == CHAMPION else sum(self.champion_cost[k] - self.cost[k] for k in mine)
            rows.append(ArmRow(declared.experiment, declared.arm, customers, customers / total if total else 0.0,
                               declared.share, saved))
        return rows

    def rule_rows(self) -> list[tuple[str, str, int, float]]:
        """(champion rule, arm, customers, share of the rule's customers) for every rule
        some customer left the champion's arm of, or whose experiment drew customers; in
        plan order, each rule's arms as declared (the universal holdout first, the
        champion last)."""
        per_rule: Counter[str] = Counter()
        for (rule, _), count in self.customers.items():
            per_rule[rule] += count
        in_experiments = {d.experiment for d in self.declared}
        arm_order = [d.arm for d in self.declared if d.arm != CHAMPION]
        shown = {rule for (rule, arm) in self.customers if arm != CHAMPION or rule in in_experiments}
        position = {rule: index for index, rule in enumerate(self.rule_order)}

        def order(key: tuple[str, str]) -> tuple[int, str, int]:
            rule, arm = key
            rank = len(arm_order) + 1 if arm == CHAMPION else arm_order.index(arm) if arm in arm_order \
                else len(arm_order)
            return position.get(rule, len(position)), rule, rank

        keys = sorted((k for k in self.customers if k[0] in shown), key=order)
        return [(rule, arm, self.customers[(rule, arm)], self.customers[(rule, arm)] / per_rule[rule])
                for rule, arm in keys]

    def saved_by_holdouts(self) -> float:
        """What the holdouts save: the champion's cost of every held-out customer minus
        what they got (under ``control: next``, the next rule's cost)."""
        return sum(self.champion_cost[k] - self.cost[k] for k in self.customers if k[1] in HOLDOUT_ARMS)

    def held_out(self) -> int:
        return sum(count for (_, arm), count in self.customers.items() if arm in HOLDOUT_ARMS)


def arm_label(experiment: str | None, arm: str) -> str:
    """An arm named with its experiment: ``holdout (gift-rule)``; ``champion`` outside any
    experiment, ``universal_holdout`` alone (its experiment has its name)."""
    return arm if experiment is None or experiment == arm else f"{arm} ({experiment})"


def percent(share: float) -> str:
    """A share as few digits as say it exactly to a bucket: 20%, 2.5%, 0.01%."""
    text = f"{share * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"
