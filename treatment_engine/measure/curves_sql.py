"""The report's curves (:mod:`.curves`) in DuckDB: decisions and events stay in DuckDB and
only the points come back, so drawing them needs no more memory than measuring does (the
reference reads every decision and event into Python: 2.8 GB at a million decisions).

The same customers are drawn (the first ``CURVE_CUSTOMERS`` closed ones of an arm in the
order of the MD5 of their id), and each point is the metric over the shortened window by
the measure SQL's own ``metric_value``; tests/test_measure_report.py checks the two agree.

With the measurement (:func:`measure_with_curves_duckdb`, what ``measure --report`` runs)
the decisions are read once for both, and the events are scanned twice: by the
measurement for every customer, then for the drawn customers only. Keeping the drawn
customers' events from the measurement's own join was tried: it needs a list per
customer in the join's aggregate, a state DuckDB cannot spill, and at 10 million
decisions it ran out of a 1,500 MB memory limit that the measurement alone fits in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..compile import CompiledPlan
from ..sql.duckdb_backend import Settings
from .attribution import Measured, held_versions
from .curves import CURVE_CUSTOMERS, RUNNING, Curves, offsets, point
from .duckdb_stats import first_decisions, measure_connection, measured_on, metric_value, with_events
from .metrics import CompiledMetric

Drawn = list[tuple[int, CompiledMetric]]  # the metrics with a curve, by their index in the plan's


def measure_with_curves_duckdb(plan: CompiledPlan, decisions: str | Any, events_path: str, as_of: float,
                               settings: Settings | None = None, by: Sequence[str] = (),
                               limit: int = CURVE_CUSTOMERS) -> tuple[Measured, Curves]:
    """:func:`.duckdb_stats.measure_duckdb` and :func:`curves_duckdb` on one connection,
    from one reading of the decisions."""
    connection = measure_connection(settings)
    try:
        first_decisions(connection, decisions, by, held_versions(plan))
        if not plan.metrics:
            return measured_on(connection, plan, None, as_of), {}
        return with_events(connection, plan, events_path, lambda events: (
            measured_on(connection, plan, events, as_of), _curves_on(connection, plan, events, as_of, limit)))
    finally:
        connection.close()


def curves_duckdb(plan: CompiledPlan, decisions: str | Any, events_path: str, as_of: float,
                  settings: Settings | None = None, limit: int = CURVE_CUSTOMERS) -> Curves:
    """:func:`.curves.curves` over a decisions file (or the log's Arrow stream) and an events file."""
    connection = measure_connection(settings)
    try:
        first_decisions(connection, decisions, held=held_versions(plan))
        if not plan.metrics:
            return {}
        return with_events(connection, plan, events_path, lambda events: _curves_on(connection, plan, events, as_of,
                                                                                    limit))
    finally:
        connection.close()


def _curves_on(connection: Any, plan: CompiledPlan, events: str, as_of: float, limit: int) -> Curves:
    """The curves, on a connection holding ``first_decisions``; ``events``: the query of
    :func:`.duckdb_stats.events_sql`, read once, joined to the drawn customers only."""
    drawn = _draw(connection, plan, as_of, limit)
    if not drawn:
        return {}
    columns = ", ".join(f"e.{name}" for name in _columns(drawn))
    longest = max(metric.within for _, metric in drawn)
    connection.execute(f"""CREATE OR REPLACE TEMP TABLE drawn_events AS
        SELECT k.plan_version, k.experiment, k.customer_id, {columns} FROM {_DRAWN_CUSTOMERS} k JOIN ({events}) e
          ON e.customer_id = k.customer_id AND k.customer_id <> '' AND e.ts >= k.decided_at
             AND e.ts <= k.decided_at + {longest}""")
    return _points(connection, drawn)


# Each drawn customer once (one may be drawn for several metrics), with their window's start.
_DRAWN_CUSTOMERS = "(SELECT DISTINCT plan_version, experiment, customer_id, decided_at FROM drawn)"


def _draw(connection: Any, plan: CompiledPlan, as_of: float, limit: int) -> Drawn:
    """The metrics with a running total; their customers drawn, per arm, into the temporary
    table ``drawn``: the first ``limit`` closed ones in the order of the MD5 of their id.
    Metrics of one window draw the same customers: drawn once, by the window."""
    drawn = [(index, metric) for index, metric in enumerate(plan.metrics) if metric.compute in RUNNING]
    # min_by keeps the first ``limit`` of each arm as it goes: no sort of every customer.
    per_window = [f"""SELECT {within} AS within, experiment, rule, arm, unnest(min_by(
            {{plan_version: plan_version, customer_id: customer_id, decided_at: decided_at, seq: seq}},
            (md5(customer_id), decided_at, seq), {limit}), recursive := true)
        FROM first_decisions WHERE decided_at + {within} <= {as_of!r} GROUP BY experiment, rule, arm"""
                  for within in sorted({metric.within for _, metric in drawn})]
    if drawn:
        connection.execute(f"CREATE OR REPLACE TEMP TABLE drawn AS {' UNION ALL '.join(per_window)}")
    return drawn


def _columns(drawn: Drawn) -> list[str]:
    """The columns of :func:`.duckdb_stats.events_sql` the drawn metrics' values read."""
    return ["type", "ts", *(f"m{index}_{part}" for index, _ in drawn for part in ("match", "x"))]


def _points(connection: Any, drawn: Drawn) -> Curves:
    """The curves from ``drawn`` and ``drawn_events`` (each drawn customer's events in the
    longest window), an empty one for an arm with no closed customer."""
    members = connection.execute("SELECT DISTINCT experiment, rule, arm FROM first_decisions").fetchall()
    found: Curves = {}
    for index, metric in drawn:
        for experiment, rule, arm in members:
            found.setdefault((metric.id, experiment, rule), {})[arm] = []
        for experiment, rule, arm, customers, *totals in connection.execute(_points_sql(index, metric)).fetchall():
            found[(metric.id, experiment, rule)][arm] = [
                point(offset, float(total), customers) for offset, total in zip(offsets(metric), totals, strict=True)]
    return {key: dict(sorted(arms.items())) for key, arms in found.items()}


def _points_sql(index: int, metric: CompiledMetric) -> str:
    """One row per (experiment, rule, arm): its drawn customers and, per offset, the sum of
    their metric over the window shortened to that offset."""
    values = ", ".join(f"{metric_value(metric, index, 'duckdb', offset)} AS v{step}"
                       for step, offset in enumerate(offsets(metric)))
    sums = ", ".join(f"coalesce(sum(v{step}), 0.0)" for step in range(len(offsets(metric))))
    return f"""WITH values_ AS (
        SELECT f.experiment, f.rule, f.arm, {values}
        FROM drawn f LEFT JOIN drawn_events e
          ON e.plan_version IS NOT DISTINCT FROM f.plan_version AND e.experiment = f.experiment
             AND e.customer_id = f.customer_id
        WHERE f.within = {metric.within}
        GROUP BY f.experiment, f.rule, f.arm, f.customer_id, f.decided_at, f.seq, f.plan_version)
    SELECT experiment, rule, arm, count(*), {sums} FROM values_ GROUP BY experiment, rule, arm"""
