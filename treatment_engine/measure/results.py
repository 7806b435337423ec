"""Comparisons and verdicts from the back ends' sufficient statistics (appendix I).

In a rule's experiment every arm is compared with the rule's holdout (or, without one,
with the champion); in the universal holdout, the customers each rule decided with
those it would have decided. Holm's correction runs across all comparisons of a metric.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from ..arms import declared_arms
from ..compile import CompiledPlan
from ..experiments.buckets import UNIVERSAL
from ..experiments.compiled import CHAMPION, HOLDOUT
from .attribution import TREATED, GroupStats, Measured
from .metrics import CompiledMetric
from .statistics import (
    ALPHA,
    MIN_PER_ARM,
    SRM_ALPHA,
    ArmSummary,
    Difference,
    arm_summary,
    customers_needed,
    difference,
    holm,
    sample_ratio_p,
    variance,
)

PAYS_BACK, DOES_NOT_PAY_BACK, NO_EFFECT = "pays back", "does not pay back", "no detectable effect"
BETTER, WORSE = "better", "worse"
NOT_MEASURABLE = "not measurable (a value too large to compute with)"


@dataclass(frozen=True)
class Comparison:
    plan_version: str
    experiment: str
    rule: str
    cell: str  # with --by, the segment x stage x tier cell; "" without
    metric: str
    arm: str
    control: str
    treated: ArmSummary
    baseline: ArmSummary
    customers: int  # treated and control customers with closed windows
    difference: Difference | None
    adjusted_p: float | None  # Holm, across the metric's comparisons
    value: float | None  # incremental value per treated customer (money), when the metric has a value
    value_low: float | None
    value_high: float | None
    cost: float  # extra cost per treated customer against the control
    roi: float | None
    srm_p: float | None
    verdict: str

    @property
    def srm(self) -> bool:
        return self.srm_p is not None and self.srm_p < SRM_ALPHA


def _control(experiment: str, arms: set[str]) -> str | None:
    if experiment == UNIVERSAL:
        return UNIVERSAL if UNIVERSAL in arms else None
    return HOLDOUT if HOLDOUT in arms else CHAMPION if CHAMPION in arms else None


def _srm(plan: CompiledPlan, measured: Measured) -> dict[tuple[str, str, str, str], float | None]:
    """Per (version, experiment, rule, cell): the sample-ratio p-value against the plan's
    shares. Only the plan's own version is tested: another version's shares are not known
    (the same arms may have had other shares then), so its arms get None, not a test
    against the wrong expectation."""
    declared: dict[str, dict[str, float]] = defaultdict(dict)
    for one in declared_arms(plan):
        declared[one.experiment][TREATED if one.experiment == UNIVERSAL and one.arm == CHAMPION else one.arm] = one.share
    counts: dict[tuple[str, str, str, str], dict[str, int]] = defaultdict(dict)
    for (version, experiment, rule, cell, arm), customers in measured.assigned.items():
        counts[(version, experiment, rule, cell)][arm] = customers
    found: dict[tuple[str, str, str, str], float | None] = {}
    for key, arms in counts.items():
        shares = declared.get(key[1]) if key[0] == plan.version else None
        if not shares or not set(arms) <= set(shares):
            found[key] = None  # another version's design, or arms the plan given does not declare
            continue
        found[key] = sample_ratio_p([arms.get(a, 0) for a in shares], list(shares.values()))
    return found


def _declared_controls(plan: CompiledPlan) -> dict[str, str]:
    """Per experiment, the control arm the plan declares with buckets of its own: its
    holdout (the universal holdout's own arm), else its champion."""
    arms: dict[str, dict[str, float]] = defaultdict(dict)
    for one in declared_arms(plan):
        arms[one.experiment][one.arm] = one.share
    controls = {}
    for experiment, shares in arms.items():
        held = UNIVERSAL if experiment == UNIVERSAL else HOLDOUT
        control = held if shares.get(held, 0.0) > 0 else CHAMPION if experiment != UNIVERSAL else None
        if control is not None and shares.get(control, 0.0) > 0:
            controls[experiment] = control
    return controls


def compare(plan: CompiledPlan, measured: Measured) -> list[Comparison]:
    """Every arm against its experiment's control, per metric. In the plan's own version
    the control is the one the plan declares, even when no customer is in it (a lost
    holdout): the comparison then says so, and the sample-ratio check flags it."""
    metrics = {m.id: m for m in plan.metrics}
    controls = _declared_controls(plan)
    detect = {r.id: r.experiment.detect for r in plan.rules if r.experiment is not None}
    if plan.holdout is not None:
        detect[UNIVERSAL] = plan.holdout.detect
    by_unit: dict[tuple[str, str, str, str, str], dict[str, GroupStats]] = defaultdict(dict)
    for group in measured.groups:
        by_unit[(group.plan_version, group.experiment, group.rule, group.cell, group.metric)][group.arm] = group
    srm = _srm(plan, measured)
    drafts = []
    for (version, experiment, rule, cell, metric_id), arms in sorted(by_unit.items()):
        metric = metrics.get(metric_id)
        control = controls.get(experiment) if version == plan.version else None
        control = control or _control(experiment, set(arms))
        if metric is None or control is None:
            continue
        if control not in arms:  # declared, and empty: compared with no one, for all to see
            arms = {**arms, control: GroupStats(version, experiment, rule, cell, control, metric_id, 0, 0, 0.0,
                                                0.0, 0.0)}
        for arm, group in sorted(arms.items()):
            if arm != control:
                drafts.append((group, arms[control], metric, srm.get((version, experiment, rule, cell)),
                               detect.get(experiment)))
    adjusted: dict[int, float] = {}
    for metric_id in metrics:
        indexed = [(i, d[0]) for i, d in enumerate(drafts) if d[2].id == metric_id]
        tested = [(i, diff.p_value) for i, g in indexed
                  if (diff := difference(drafts[i][2].is_rate, _stats(g), _stats(drafts[i][1]))) is not None]
        adjusted.update(zip([i for i, _ in tested], holm([p for _, p in tested]), strict=True))
    return [_comparison(*draft, adjusted.get(i)) for i, draft in enumerate(drafts)]


def _stats(group: GroupStats) -> tuple[int, float, float]:
    return group.n, group.sum, group.sum_squares


def _comparison(treated: GroupStats, control: GroupStats, metric: CompiledMetric, srm_p: float | None,
                detect: float | None, adjusted_p: float | None) -> Comparison:
    rate = metric.is_rate
    diff = difference(rate, _stats(treated), _stats(control))
    cost = (treated.cost / treated.customers if treated.customers else 0.0) - \
        (control.cost / control.customers if control.customers else 0.0)
    value = value_low = value_high = roi = None
    if metric.value is not None and diff is not None:
        sign = metric.value if metric.higher_is_better else -metric.value
        ends = sorted((sign * diff.low, sign * diff.high))
        value, value_low, value_high = sign * diff.absolute, ends[0], ends[1]
        roi = (value - cost) / cost if cost > 0 else None
    verdict = _verdict(metric, treated, control, diff, adjusted_p, value_low, value_high, cost, detect)
    return Comparison(treated.plan_version, treated.experiment, treated.rule, treated.cell, metric.id, treated.arm,
                      control.arm,
                      arm_summary(rate, *_stats(treated)), arm_summary(rate, *_stats(control)),
                      treated.customers + control.customers, diff, adjusted_p, value, value_low, value_high,
                      cost, roi, srm_p, verdict)


def _verdict(metric: CompiledMetric, treated: GroupStats, control: GroupStats, diff: Difference | None,
             adjusted_p: float | None, value_low: float | None, value_high: float | None, cost: float,
             detect: float | None) -> str:
    smaller = min(treated.n, control.n)
    if diff is not None and not all(math.isfinite(x) for x in (diff.absolute, diff.low, diff.high, diff.p_value)):
        return NOT_MEASURABLE  # a value (or its square) beyond the double range: nothing was computed to judge
    if diff is None or adjusted_p is None or smaller < MIN_PER_ARM:
        return _more(max(MIN_PER_ARM - smaller, 1))
    significant = adjusted_p < ALPHA
    if metric.value is not None and value_low is not None and value_high is not None:
        if significant and value_low >= cost:
            return PAYS_BACK
        if value_high < cost:
            return DOES_NOT_PAY_BACK
        worth = metric.value
        delta = cost / worth if cost > 0 and worth > 0 else detect  # the break-even effect, in the metric's unit
    else:
        if significant:
            return BETTER if (diff.absolute > 0) == metric.higher_is_better else WORSE
        delta = detect
    if delta is None:
        return NO_EFFECT
    sd = math.sqrt(variance(control.n, control.sum, control.sum_squares))
    needed = customers_needed(metric.is_rate, control.sum / control.n, sd, delta, treated.n / control.n,
                              metric.higher_is_better)
    if needed is not None and needed > control.n:
        return _more(needed - control.n)
    return NO_EFFECT


def _more(customers: int) -> str:
    return f"not enough data yet (about {customers:,} more customers per arm)"
