"""Attribution (appendix I) in plain Python: the reference every SQL back end must match.

1. A customer counts once per experiment and plan version, from their first decision in
   it (earliest time, then input order), in the arm that decision assigned (intent to
   treat: whatever they were given after, or whether a challenger could be given).
2. Experiments: a rule's own (``experiment`` = the rule's id), compared arm by arm; and,
   in a plan version with a universal holdout, the universal holdout per champion rule:
   the held-out customers that rule would have decided against everyone else it decided.
3. A metric's window starts at that decision and ends ``within`` later, both edges
   inside. A customer whose window has not closed by ``as_of`` is left out, not counted
   as a customer without events.
4. Per (plan version, experiment, rule, arm, metric) the sufficient statistics of the
   customers' values: customers, n (customers with a value: ``mean`` and ``last`` have
   none without events), sum, sum of squares, and the cost of their decisions.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..compile import CompiledPlan
from ..experiments.buckets import UNIVERSAL
from ..measure.metrics import CompiledMetric
from ..moments.events import Event, EventError, parse_event
from .inputs import DecisionInput

TREATED = "treated"  # the universal holdout's other arm: everyone a rule decided, whatever its own arms
GroupKey = tuple[str, str, str, str, str]  # plan version, experiment, rule, cell (--by; "" without), arm
BY_DIMENSIONS = ("segment", "lifecycle_stage", "value_tier")


@dataclass(frozen=True, slots=True)
class GroupStats:
    """One arm's sufficient statistics for one metric (what every back end returns)."""

    plan_version: str
    experiment: str
    rule: str
    cell: str  # the segment x stage x tier cell asked for with --by ("segment=young, value_tier=gold"); "" without
    arm: str
    metric: str
    customers: int  # with a closed window
    n: int  # with a value
    sum: float
    sum_squares: float
    cost: float  # the cost of these customers' decisions

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.plan_version, self.experiment, self.rule, self.cell, self.arm, self.metric)


@dataclass(frozen=True, slots=True)
class Measured:
    """What a back end returns: every arm's statistics, and every arm's assigned customers
    (windows closed or not: the sample-ratio check counts assignment, not outcomes)."""

    groups: tuple[GroupStats, ...]
    assigned: dict[GroupKey, int]


def cell_of(decision: DecisionInput, by: Sequence[str]) -> str:
    """The cell a decision falls in, over the dimensions asked for (a missing one is "-")."""
    return ", ".join(f"{name}={getattr(decision, name) or '-'}" for name in by)


def held_versions(plan: CompiledPlan) -> tuple[str, ...]:
    """The plan versions known to hold customers out universally, whatever the decisions
    show: the given plan's own, when it declares a universal holdout (an empty one is
    then measured, and flagged, rather than missing)."""
    return (plan.version,) if plan.holdout is not None else ()


def units(decisions: Iterable[DecisionInput], by: Sequence[str] = (), held: Sequence[str] = ()) -> dict[
        tuple[str, str, str], tuple[GroupKey, DecisionInput]]:
    """Each customer's first decision per (plan version, experiment), with its group (its
    cell is that first decision's). A version has a universal holdout when one of its
    decisions is in it, or it is in ``held`` (:func:`held_versions`)."""
    rows = list(decisions)
    with_holdout = {d.plan_version for d in rows if d.arm == UNIVERSAL} | set(held)
    first: dict[tuple[str, str, str], tuple[GroupKey, DecisionInput]] = {}
    for decision in sorted(rows, key=lambda d: (d.decided_at, d.seq)):
        memberships = []
        if decision.experiment is not None and decision.experiment != UNIVERSAL:
            memberships.append((decision.experiment, decision.experiment, decision.arm))
        if decision.plan_version in with_holdout:
            arm = UNIVERSAL if decision.arm == UNIVERSAL else TREATED
            memberships.append((UNIVERSAL, decision.champion_rule, arm))
        for experiment, rule, arm in memberships:
            key = (decision.plan_version, experiment, decision.customer_id)
            if key not in first:
                first[key] = ((decision.plan_version, experiment, rule, cell_of(decision, by), arm), decision)
    return first


def _numeric(value: Any) -> float | None:
    return float(value) if type(value) in (int, float) else None


def customer_value(metric: CompiledMetric, events: Sequence[Event], start: float) -> float | None:
    """The metric for one customer over their events of its type (sorted by time, then
    input order) from ``start`` to ``start + within``, both inside."""
    times = [e.timestamp for e in events]
    low = bisect.bisect_left(times, start)
    high = bisect.bisect_right(times, start + metric.within)
    hits = [e for e in events[low:high] if metric.matches(e.fields)]
    if metric.compute == "rate":
        return 1.0 if hits else 0.0
    if metric.compute == "count":
        return float(len(hits))
    numbers = [x for e in hits if (x := _numeric(e.fields.get(metric.field or ""))) is not None]
    if metric.compute == "sum":
        return float(sum(numbers))
    if not numbers:
        return None
    return sum(numbers) / len(numbers) if metric.compute == "mean" else numbers[-1]


def events_by_customer(plan: CompiledPlan, raw_events: Iterable[Any]) -> dict[tuple[str, str], list[Event]]:
    """Valid events of the metrics' types per (customer, type), sorted by time then input order."""
    types = frozenset(m.event for m in plan.metrics)
    found: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for index, raw in enumerate(raw_events):
        parsed = parse_event(raw, index, types)
        if not isinstance(parsed, EventError):
            found[(parsed.customer_id, parsed.type)].append(parsed)
    for listed in found.values():
        listed.sort(key=lambda e: (e.timestamp, e.index))
    return found


def measure_python(plan: CompiledPlan, decisions: Iterable[DecisionInput], raw_events: Iterable[Any],
                   as_of: float, by: Sequence[str] = ()) -> Measured:
    first = units(decisions, by, held_versions(plan))
    events = events_by_customer(plan, raw_events)
    assigned: dict[GroupKey, int] = defaultdict(int)
    sums: dict[tuple[GroupKey, str], list[float]] = {}
    for group, decision in first.values():
        assigned[group] += 1
        for metric in plan.metrics:
            if decision.decided_at + metric.within > as_of:
                continue  # the window is still open: not yet a customer of this metric
            value = customer_value(metric, events.get((decision.customer_id, metric.event), []),
                                   decision.decided_at)
            tally = sums.setdefault((group, metric.id), [0, 0, 0.0, 0.0, 0.0])
            tally[0] += 1
            tally[4] += decision.cost
            if value is not None:
                tally[1] += 1
                tally[2] += value
                tally[3] += value * value
    groups = tuple(GroupStats(*group, metric, int(t[0]), int(t[1]), t[2], t[3], t[4])
                   for (group, metric), t in sorted(sums.items()))
    return Measured(groups, dict(sorted(assigned.items())))
