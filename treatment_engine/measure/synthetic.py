"""Outcome events with a known true effect (issue 15 item 8), so a measurement can be
checked against the truth.

Per customer, from their first decision: a held-out customer (the universal holdout, or
a rule's holdout arm) draws each metric's outcome from its baseline; any other arm of a
champion rule draws it from the baseline plus that (rule, arm, metric)'s true effect.
Outcomes are drawn so that their expectation is exactly baseline + effect, with nothing
clipped: a rate is a Bernoulli draw, a count Poisson, a sum one normal amount, a mean
or last a binomial score out of 10. Each event falls uniformly inside the window.

The truth of a comparison is then the effect of the arm minus the effect of its control;
for the universal holdout, the arms' effects weighted by the shares the plan declares.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..compile import CompiledPlan
from ..experiments.buckets import UNIVERSAL
from ..experiments.compiled import HOLDOUT
from .attribution import TREATED, units
from .inputs import DecisionInput
from .metrics import CompiledMetric

BASE_RATE, BASE_COUNT, BASE_AMOUNT, AMOUNT_SD, SCORE_TRIALS, BASE_SCORE_P = 0.2, 0.5, 60.0, 20.0, 10, 0.6
EffectKey = tuple[str, str, str]  # champion rule, arm, metric


def effect_scale(metric: CompiledMetric) -> float:
    """A plausible effect size in the metric's own unit (a few standard errors at 5,000 per arm)."""
    return {"rate": 0.05, "count": 0.15, "sum": 5.0}.get(metric.compute, 0.8)


def draw_effects(plan: CompiledPlan, seed: int, zero_share: float = 0.5) -> dict[EffectKey, float]:
    """Seeded true effects for every champion and challenger arm of every rule: a share of
    them exactly zero, the rest up or down by about one effect scale."""
    import numpy as np

    rng = np.random.default_rng(seed)
    effects: dict[EffectKey, float] = {}
    for rule in (*plan.rules, plan.default):
        arms = ["champion", *(arm.id for arm in rule.experiment.arms if arm.id != HOLDOUT)] if rule.experiment \
            else ["champion"]
        for arm in arms:
            for metric in plan.metrics:
                zero = rng.random() < zero_share
                size = effect_scale(metric) * rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5)
                effects[(rule.id, arm, metric.id)] = 0.0 if zero else float(size)
    return effects


def _draw(metric: CompiledMetric, effect: float, rng: Any) -> list[float | None]:
    """The outcome events of one customer for one metric: their field values (None: no field)."""
    if metric.compute == "rate":
        return [None] if rng.random() < min(max(BASE_RATE + effect, 0.0), 1.0) else []
    if metric.compute == "count":
        return [None] * int(rng.poisson(max(BASE_COUNT + effect, 0.0)))
    if metric.compute == "sum":
        return [float(rng.normal(BASE_AMOUNT + effect, AMOUNT_SD))]
    p = min(max(BASE_SCORE_P + effect / SCORE_TRIALS, 0.0), 1.0)
    return [float(rng.binomial(SCORE_TRIALS, p))]


@dataclass(frozen=True)
class Truth:
    """A comparison's true difference (arm minus control) in a metric's unit."""

    plan_version: str
    experiment: str
    rule: str
    arm: str
    control: str
    metric: str
    effect: float


def outcome_events(plan: CompiledPlan, decisions: Iterable[DecisionInput], effects: dict[EffectKey, float],
                   seed: int) -> Iterator[dict[str, Any]]:
    """Events of the metrics' types for every customer's first decision, seeded."""
    import numpy as np

    from ..moments.events import iso

    rng = np.random.default_rng(seed)
    firsts: dict[str, DecisionInput] = {}
    for (_, _, customer), (_, decision) in units(decisions).items():
        if customer not in firsts or (decision.decided_at, decision.seq) < (firsts[customer].decided_at,
                                                                             firsts[customer].seq):
            firsts[customer] = decision
    for customer, decision in sorted(firsts.items()):
        held = decision.arm in (UNIVERSAL, HOLDOUT)
        for metric in plan.metrics:
            effect = 0.0 if held else effects.get((decision.champion_rule, decision.arm, metric.id), 0.0)
            for value in _draw(metric, effect, rng):
                event: dict[str, Any] = {"customer_id": customer, "type": metric.event,
                                         "timestamp": iso(round(decision.decided_at + rng.uniform(0, metric.within)))}
                if metric.field is not None and value is not None:
                    event[metric.field] = value
                yield event


def truths(plan: CompiledPlan, versions: Iterable[str], effects: dict[EffectKey, float]) -> list[Truth]:
    """The true difference of every comparison measurement makes (statistics.comparisons)."""
    from ..arms import declared_arms

    found: list[Truth] = []
    declared = declared_arms(plan)
    for version in versions:
        for rule in plan.rules:
            if rule.experiment is None:
                continue
            arms = {a.arm: a.share for a in declared if a.experiment == rule.id}
            control = HOLDOUT if HOLDOUT in arms else "champion"
            for arm in arms:
                if arm == control:
                    continue
                for metric in plan.metrics:
                    found.append(Truth(version, rule.id, rule.id, arm, control, metric.id,
                                       effects.get((rule.id, arm, metric.id), 0.0)
                                       - (0.0 if control == HOLDOUT else effects.get((rule.id, control, metric.id), 0.0))))
        if plan.holdout is None:
            continue
        for rule in (*plan.rules, plan.default):
            arms = {a.arm: a.share for a in declared if a.experiment == rule.id} or {"champion": 1.0}
            for metric in plan.metrics:
                mixed = sum(share * (0.0 if arm == HOLDOUT else effects.get((rule.id, arm, metric.id), 0.0))
                            for arm, share in arms.items())
                found.append(Truth(version, UNIVERSAL, rule.id, TREATED, UNIVERSAL, metric.id, mixed))
    return found


def sample_decisions(plan: CompiledPlan, customers: int, seed: int, day: str) -> list[DecisionInput]:
    """The bundled sample's customers (``treatment sample``) decided by ``plan`` on ``day``."""
    from datetime import date

    from ..engine import Engine
    from ..sample import generate
    from .inputs import day_start

    engine, as_of = Engine(plan), date.fromisoformat(day)
    found = []
    for seq, profile in enumerate(generate(customers, seed=seed, as_of=as_of)):
        record = engine.decide_or_error(profile, as_of).to_record()
        if "error" not in record:
            found.append(DecisionInput(
                record["customer_id"], record["plan_version"], day_start(day), record["rule"], record["arm"],
                record.get("experiment"), float(record["cost"]),
                (record.get("would_have") or {}).get("rule", record["rule"]), seq,
                record.get("segment"), record.get("lifecycle_stage"), record.get("value_tier")))
    return found


@dataclass
class Recovery:
    """How often the measured 95% intervals held the truth, and how often a rule with no
    true effect was called *pays back*, over seeded runs."""

    compared: int = 0
    covered: int = 0
    null_priced: int = 0  # comparisons of metrics with a value whose true effect is zero
    null_pays_back: int = 0

    @property
    def coverage(self) -> float:
        return self.covered / self.compared if self.compared else float("nan")

    @property
    def false_pays_back(self) -> float:
        return self.null_pays_back / self.null_priced if self.null_priced else 0.0


def check_recovery(plan: CompiledPlan, decisions: list[DecisionInput], seeds: Iterable[int],
                   min_per_arm: int = 30) -> Recovery:
    """Per seed: new true effects, new outcomes, a measurement; each comparison with at least
    ``min_per_arm`` customers in both arms is checked against its truth."""
    from .attribution import measure_python
    from .results import PAYS_BACK, compare

    recovery = Recovery()
    versions = sorted({d.plan_version for d in decisions})
    as_of = max(d.decided_at for d in decisions) + max(m.within for m in plan.metrics)
    for seed in seeds:
        effects = draw_effects(plan, seed)
        truth = {(t.plan_version, t.experiment, t.rule, t.arm, t.metric): t.effect
                 for t in truths(plan, versions, effects)}
        measured = measure_python(plan, decisions, outcome_events(plan, decisions, effects, seed + 1), as_of)
        for c in compare(plan, measured):
            true = truth.get((c.plan_version, c.experiment, c.rule, c.arm, c.metric))
            if true is None or c.difference is None or min(c.treated.n, c.baseline.n) < min_per_arm:
                continue
            recovery.compared += 1
            recovery.covered += c.difference.low <= true <= c.difference.high
            if c.value is not None and true == 0.0:
                recovery.null_priced += 1
                recovery.null_pays_back += c.verdict == PAYS_BACK
    return recovery
