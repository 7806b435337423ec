"""``treatment measure --write-evidence``: what was measured, as the evidence file the
profitability guard reads (docs/plan-format.md, appendix K).

Per delight rule, its customers treated against its control: the rule's own holdout
(``champion`` against ``holdout``), or, for a rule without one, the universal holdout
(the customers it decided against those it would have decided). The estimate is the
metric's difference in money per treated customer (``value`` x the difference, signed so
that better is positive), with Welch's standard error and degrees of freedom
(statsmodels), overall and per segment x stage x tier cell. One plan version is used:
``--evidence-version``, or the version with the most customers measured.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from ..compile import CompiledPlan
from ..evidence import Estimate, RuleEvidence, evidence_document
from ..experiments.buckets import UNIVERSAL
from ..experiments.compiled import CHAMPION, HOLDOUT
from .attribution import TREATED, GroupKey, GroupStats, Measured
from .metrics import CompiledMetric
from .statistics import welch

Arms = tuple[str, str, str]  # experiment, treated arm, control arm


class EvidenceError(Exception):
    """The evidence cannot be written; the message says why."""


def evidence_metric(plan: CompiledPlan, asked: str | None) -> CompiledMetric:
    """The metric to write evidence of: the one asked for, else the guard's, else the only
    metric with a value. It must have a ``value`` (the money one unit is worth)."""
    metrics = {m.id: m for m in plan.metrics}
    name = asked or (plan.evidence_guard.metric if plan.evidence_guard else None)
    if name is None:
        valued = [m.id for m in plan.metrics if m.value is not None]
        if len(valued) != 1:
            raise EvidenceError("say which metric with --evidence-metric (one of the metrics with a value: "
                                f"{', '.join(valued) or 'none'})")
        name = valued[0]
    if name not in metrics:
        raise EvidenceError(f"unknown metric '{name}': the plan's are {', '.join(sorted(metrics))}")
    if metrics[name].value is None:
        raise EvidenceError(f"metric '{name}' has no value: evidence weighs money against cost, so the metric "
                            "needs `value:` (what one unit of it is worth)")
    return metrics[name]


def evidence_for(plan: CompiledPlan, metric: CompiledMetric, by_cell: Measured,
                 version: str | None = None) -> dict[str, Any]:
    """The evidence file's content for ``metric``, from what was measured with --by
    segment,lifecycle_stage,value_tier (each rule's overall figures pooled from its cells)."""
    overall = pooled(by_cell)
    counts = _customers_by_version(overall, metric.id)
    if version is not None and version not in counts:
        raise EvidenceError(f"nothing of plan version '{version}' was measured on {metric.id} "
                            f"(measured: {', '.join(sorted(counts)) or 'none yet'})")
    chosen = version or (max(counts, key=lambda v: (counts[v], v)) if counts else None)
    if chosen is None:
        raise EvidenceError(f"nothing was measured for metric '{metric.id}' yet (no closed windows)")
    rules: dict[str, RuleEvidence] = {}
    for rule in plan.rules:
        if rule.treatment != "delight":
            continue
        arms = _arms(rule.id, rule.experiment is not None and any(a.id == HOLDOUT for a in rule.experiment.arms))
        whole = _groups(overall, chosen, metric.id, rule.id, arms)
        cells = _groups(by_cell, chosen, metric.id, rule.id, arms)
        estimates = {_cell_key(cell): found for cell, pair in cells.items()
                     if (found := _estimate(metric, *pair)) is not None}
        overall_estimate = _estimate(metric, *whole[""]) if "" in whole else None
        if overall_estimate is not None or estimates:
            rules[rule.id] = RuleEvidence(overall=overall_estimate, cells=estimates)
    return evidence_document(metric.id, rules, plan_version=chosen)


def pooled(by_cell: Measured) -> Measured:
    """``by_cell`` as if measured without --by: sufficient statistics add up, and each
    customer counts in the one cell of their first decision, so the sums are the whole."""
    groups: dict[tuple[str, ...], list[Any]] = {}
    for group in by_cell.groups:
        key = (group.plan_version, group.experiment, group.rule, group.arm, group.metric)
        tally = groups.setdefault(key, [0, 0, 0.0, 0.0, 0.0])
        for index, part in enumerate((group.customers, group.n, group.sum, group.sum_squares, group.cost)):
            tally[index] += part
    assigned: Counter[GroupKey] = Counter()
    for (version, experiment, rule, _, arm), customers in by_cell.assigned.items():
        assigned[(version, experiment, rule, "", arm)] += customers
    return Measured(tuple(GroupStats(version, experiment, rule, "", arm, metric, *tally)
                          for (version, experiment, rule, arm, metric), tally in sorted(groups.items())),
                    dict(sorted(assigned.items())))


def _arms(rule_id: str, own_holdout: bool) -> Arms:
    return (rule_id, CHAMPION, HOLDOUT) if own_holdout else (UNIVERSAL, TREATED, UNIVERSAL)


def _customers_by_version(measured: Measured, metric: str) -> Counter[str]:
    """The plan versions measured on ``metric``, each with its customers."""
    counts = Counter({g.plan_version: 0 for g in measured.groups if g.metric == metric})
    for group in measured.groups:
        if group.metric == metric:
            counts[group.plan_version] += group.customers
    return counts


def _groups(measured: Measured, version: str, metric: str, rule: str,
            arms: Arms) -> dict[str, tuple[GroupStats, GroupStats]]:
    """Per cell ("" without --by): the treated and control groups of ``rule``."""
    experiment, treated, control = arms
    found: dict[tuple[str, str], GroupStats] = {}
    for group in measured.groups:
        if (group.plan_version, group.experiment, group.rule, group.metric) == (version, experiment, rule, metric):
            found[(group.cell, group.arm)] = group
    return {cell: (found[(cell, treated)], found[(cell, control)])
            for cell, arm in found if arm == treated and (cell, control) in found}


def _cell_key(cell: str) -> str:
    """measure's "segment=a, lifecycle_stage=b, value_tier=c" as the guard's "a/b/c"."""
    parts: Mapping[str, str] = dict(part.split("=", 1) for part in cell.split(", "))
    return "/".join(parts.get(name, "-") for name in ("segment", "lifecycle_stage", "value_tier"))


def _estimate(metric: CompiledMetric, treated: GroupStats, control: GroupStats) -> Estimate | None:
    compared = welch((treated.n, treated.sum, treated.sum_squares), (control.n, control.sum, control.sum_squares))
    if compared is None or metric.value is None:
        return None
    difference, std_error, df = compared
    sign = metric.value if metric.higher_is_better else -metric.value
    uplift, std_error = sign * difference, abs(metric.value) * std_error
    if not all(math.isfinite(x) for x in (uplift, std_error, 0.0 if df is None else df)):
        return None  # a value (or its square) beyond the double range: no estimate to give the guard
    return Estimate(treated=treated.n, control=control.n, uplift=uplift, std_error=std_error, df=df)
