"""The report's curves: a metric's running mean per arm over the days after the decision.

For each metric that has a running total (rate, count, sum) and each (experiment, rule)
and arm, the mean over the arm's customers whose whole window has closed of the metric
computed over a shortened window, at ``CURVE_POINTS + 1`` offsets from 0 to the window.
A curve is a picture, not a test: past ``CURVE_CUSTOMERS`` closed customers in an arm,
it is drawn over the first that many in the order of the MD5 of their customer id (then
decision time and input order), which every engine can compute, so the DuckDB twin
(:mod:`.curves_sql`) draws the same customers as this reference.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from ..compile import CompiledPlan
from .attribution import customer_value, events_by_customer, held_versions, units
from .inputs import DecisionInput
from .metrics import CompiledMetric

CURVE_POINTS = 12  # offsets after the decision at which a curve is drawn (and 0)
CURVE_CUSTOMERS = 5_000  # per arm at most
RUNNING = ("rate", "count", "sum")  # a mean or a last value has no running total to draw
Curves = dict[tuple[str, str, str], dict[str, list[tuple[float, float]]]]  # (metric, experiment, rule) -> arm -> points


def offsets(metric: CompiledMetric) -> list[int]:
    """The shortened windows, in whole seconds, at which a curve is drawn."""
    return [int(metric.within * step / CURVE_POINTS) for step in range(CURVE_POINTS + 1)]


def point(offset: int, total: float, customers: int) -> tuple[float, float]:
    """One point of a curve: days after the decision, the arm's mean."""
    return (offset / 86_400, total / customers)


def curves(plan: CompiledPlan, decisions: Iterable[DecisionInput], raw_events: Iterable[Any],
           as_of: float, limit: int = CURVE_CUSTOMERS) -> Curves:
    """Per (metric, experiment, rule) and arm: the metric's mean over customers whose whole
    window has closed, counting only events up to each offset after the decision. Reads
    every decision and event into memory: the reference, and the python back end's."""
    first = units(decisions, held=held_versions(plan))
    events = events_by_customer(plan, raw_events)
    members: dict[tuple[str, str], dict[str, list[DecisionInput]]] = defaultdict(lambda: defaultdict(list))
    for (_, experiment, rule, _, arm), decision in first.values():
        members[(experiment, rule)][arm].append(decision)
    found: Curves = {}
    for metric in plan.metrics:
        if metric.compute not in RUNNING:
            continue
        for (experiment, rule), arms in members.items():
            found[(metric.id, experiment, rule)] = {
                arm: _curve(metric, events, _drawn(customers, metric, as_of, limit)) for arm, customers in sorted(arms.items())}
    return found


def _drawn(customers: list[DecisionInput], metric: CompiledMetric, as_of: float, limit: int) -> list[DecisionInput]:
    closed = [d for d in customers if d.decided_at + metric.within <= as_of]
    closed.sort(key=lambda d: (hashlib.md5(d.customer_id.encode("utf-8", "surrogatepass")).hexdigest(), d.decided_at, d.seq))
    return closed[:limit]


def _curve(metric: CompiledMetric, events: dict[tuple[str, str], list[Any]],
           customers: list[DecisionInput]) -> list[tuple[float, float]]:
    if not customers:
        return []
    points = []
    for offset in offsets(metric):
        shortened = dataclasses.replace(metric, within=offset)
        total = sum(customer_value(shortened, events.get((d.customer_id, metric.event), []), d.decided_at) or 0.0
                    for d in customers)
        points.append(point(offset, total, len(customers)))
    return points
