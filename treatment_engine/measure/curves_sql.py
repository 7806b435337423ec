"""The report's curves (:mod:`.curves`) in DuckDB: decisions and events stay in DuckDB and
only the points come back, so drawing them needs no more memory than measuring does (the
reference reads every decision and event into Python: 2.8 GB at a million decisions).

The same customers are drawn (the first ``CURVE_CUSTOMERS`` closed ones of an arm in the
order of the MD5 of their id), and each point is the metric over the shortened window by
the measure SQL's own ``metric_value``; tests/test_measure_report.py checks the two agree.
"""

from __future__ import annotations

from typing import Any

from ..compile import CompiledPlan
from ..sql.duckdb_backend import Settings
from .curves import CURVE_CUSTOMERS, RUNNING, Curves, offsets, point
from .duckdb_stats import events_sql, first_decisions, measure_connection, metric_value
from .metrics import CompiledMetric


def curves_duckdb(plan: CompiledPlan, decisions: str | Any, events_path: str, as_of: float,
                  settings: Settings | None = None, limit: int = CURVE_CUSTOMERS) -> Curves:
    """:func:`.curves.curves` over a decisions file (or the log's Arrow stream) and an events file."""
    drawn = [(index, metric) for index, metric in enumerate(plan.metrics) if metric.compute in RUNNING]
    connection = measure_connection(settings)
    try:
        first_decisions(connection, decisions)
        members = connection.execute("SELECT DISTINCT experiment, rule, arm FROM first_decisions").fetchall()
        found: Curves = {}
        if not drawn:
            return found
        events, _ = events_sql(plan, connection, events_path)
        connection.execute(f"CREATE TEMP VIEW events AS {events}")
        for index, metric in drawn:
            for experiment, rule, arm in members:
                found.setdefault((metric.id, experiment, rule), {})[arm] = []
            for experiment, rule, arm, customers, *totals in connection.execute(_points_sql(index, metric, as_of, limit)).fetchall():
                found[(metric.id, experiment, rule)][arm] = [
                    point(offset, float(total), customers) for offset, total in zip(offsets(metric), totals, strict=True)]
    finally:
        connection.close()
    return {key: dict(sorted(arms.items())) for key, arms in found.items()}


def _points_sql(index: int, metric: CompiledMetric, as_of: float, limit: int) -> str:
    """One row per (experiment, rule, arm): its drawn customers and, per offset, the sum of
    their metric over the window shortened to that offset."""
    values = ", ".join(f"{metric_value(metric, index, 'duckdb', offset)} AS v{step}"
                       for step, offset in enumerate(offsets(metric)))
    sums = ", ".join(f"coalesce(sum(v{step}), 0.0)" for step in range(len(offsets(metric))))
    return f"""WITH drawn AS (
        SELECT * FROM (
            SELECT *, row_number() OVER (PARTITION BY experiment, rule, arm
                                         ORDER BY md5(customer_id), decided_at, seq) AS place
            FROM first_decisions WHERE decided_at + {metric.within} <= {as_of!r})
        WHERE place <= {limit}),
    values_ AS (
        SELECT f.experiment, f.rule, f.arm, {values}
        FROM drawn f LEFT JOIN events e
          ON e.customer_id = f.customer_id AND f.customer_id <> '' AND e.ts >= f.decided_at
             AND e.ts <= f.decided_at + {metric.within}
        GROUP BY f.experiment, f.rule, f.arm, f.customer_id, f.decided_at, f.seq, f.plan_version)
    SELECT experiment, rule, arm, count(*), {sums} FROM values_ GROUP BY experiment, rule, arm"""
