"""Attribution on Spark (``treatment measure --backend spark``): the DuckDB query's steps
(:mod:`.duckdb_stats`) in Spark SQL, returning the same sufficient statistics.

Decisions files are read by Spark's own readers; events by the profile rule, as
``simulate --backend spark`` reads JSON lines (its canonical view), so a metric's ``if``
compiles to Spark SQL exactly as a rule's does. The session's time zone is UTC, as
timestamps without a zone mean UTC (appendix D).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from ..compile import CompiledPlan
from ..expressions.ast import fields_read
from ..moments.events import EDGE_YEARS, END_OF_TIME, FIRST_INSTANT, TIMESTAMP_SHAPE, WHITESPACE
from ..outputs import output_format
from ..sql.expressions import ExpressionCompiler
from ..sql.spark_backend import SparkBackend
from .attribution import Measured, held_versions
from .duckdb_stats import by_metric, collected, statistics_sql, units_sql
from .inputs import DAY_SHAPE, DECISION_FIELDS, FILE_COLUMNS, MeasureInputError, refuse_unreadable_decisions

# The cost as text, cast in the query (Spark's reader makes a cost it cannot read null, which
# would measure as 0), and a line that is not a JSON object kept whole in _corrupt_record.
_DECISION_SCHEMA = ("customer_id STRING, plan_version STRING, as_of STRING, rule STRING, arm STRING, "
                    "experiment STRING, cost STRING, would_have STRUCT<rule: STRING>, error STRING, segment STRING, "
                    "lifecycle_stage STRING, value_tier STRING, _corrupt_record STRING")
_KEYS = (("customer_id",), ("type",), ("timestamp",))


def _decisions_view(spark: Any, decisions: str | Any) -> None:
    """``measure_decisions``: the rows :func:`.inputs.read_decision_file` reads (or the log's)."""
    from pyspark.sql import functions as F

    if not isinstance(decisions, str):  # the log's rows, already in DECISION_FIELDS (a table or a stream)
        table = decisions.read_all() if hasattr(decisions, "read_all") else decisions
        rows = [tuple(row[name] for name in DECISION_FIELDS) for row in table.to_pylist()]
        schema = ", ".join(f"{n} {'DOUBLE' if n in ('decided_at', 'cost') else 'BIGINT' if n == 'seq' else 'STRING'}"
                           for n in DECISION_FIELDS)
        spark.createDataFrame(rows, schema).createOrReplaceTempView("measure_decisions")
        return
    kind = output_format(decisions)
    if kind == "parquet":
        frame, would_have = spark.read.parquet(decisions), "would_have.rule"
    elif kind == "csv":
        frame = spark.read.option("header", True).option("multiLine", True).csv(decisions)
        would_have = "get_json_object(would_have, '$.rule')"
    else:
        frame, would_have = spark.read.schema(_DECISION_SCHEMA).json(decisions), "would_have.rule"
    frame.withColumn("__seq", F.monotonically_increasing_id()).createOrReplaceTempView("measure_raw_decisions")
    _refuse_unreadable(spark, decisions, frame.columns)
    spark.sql(f"""
        SELECT customer_id, plan_version, CAST(CAST(CAST(as_of AS DATE) AS TIMESTAMP) AS DOUBLE) AS decided_at, rule,
               coalesce(nullif(arm, ''), 'champion') AS arm, nullif(experiment, '') AS experiment,
               coalesce(CAST(cost AS DOUBLE), 0D) AS cost, coalesce({would_have}, rule) AS champion_rule, __seq AS seq,
               nullif(segment, '') AS segment, nullif(lifecycle_stage, '') AS lifecycle_stage,
               nullif(value_tier, '') AS value_tier
        FROM measure_raw_decisions
        WHERE (error IS NULL OR error = '') AND rule IS NOT NULL AND rule <> ''""").createOrReplaceTempView(
        "measure_decisions")


def _refuse_unreadable(spark: Any, path: str, columns: Sequence[str]) -> None:
    """Stop with the reference reader's words (:func:`.inputs.read_decision_file`: the file,
    the line, what is wrong) where the file lacks a column measurement reads, or holds a
    line that is no JSON object or a decided row the reference refuses (no customer or
    version, an as_of that is no day, a cost that is no finite number): Spark's permissive
    readers would measure such a row with nulls where the other back ends refuse it."""
    if all(name in columns for name in FILE_COLUMNS) and _ids_are_text(spark, path):
        cost = "CAST(cost AS DOUBLE)"
        corrupt = "_corrupt_record IS NOT NULL OR " if "_corrupt_record" in columns else ""
        bad = spark.sql(f"""SELECT count(*) FROM measure_raw_decisions WHERE {corrupt}(
            (error IS NULL OR error = '') AND rule IS NOT NULL AND rule <> '' AND (
                customer_id IS NULL OR plan_version IS NULL
                OR NOT coalesce(CAST(as_of AS STRING) RLIKE '^{DAY_SHAPE}$', FALSE) OR CAST(as_of AS DATE) IS NULL
                OR (cost IS NOT NULL AND CAST(cost AS STRING) <> ''
                    AND ({cost} IS NULL OR isnan({cost}) OR abs({cost}) = double('Infinity')))))""").collect()[0][0]
        if not bad:
            return
    refuse_unreadable_decisions(path)
    raise MeasureInputError(f"{path}: Spark could not read every decision in it")


def _ids_are_text(spark: Any, path: str) -> bool:
    """Whether every decided row's customer_id and plan_version is text, as the reference
    wants them: Spark's readers make the number 1000 the text "1000" (and 1e3 "1e3"),
    which DuckDB and the reference refuse. JSON lines are read again as variants, whose
    types say; a Parquet column says its type itself."""
    kind = output_format(path)
    if kind == "csv":
        return True
    if kind == "parquet":
        types = dict(spark.read.parquet(path).dtypes)
        return all(types.get(key) == "string" for key in ("customer_id", "plan_version"))
    spark.read.text(path).createOrReplaceTempView("measure_decision_lines")
    not_text = " OR ".join(f"coalesce(schema_of_variant(variant_get(v, '$.{key}')), 'STRING') NOT IN ('STRING', 'VOID')"
                           for key in ("customer_id", "plan_version"))
    return not spark.sql(f"""SELECT count(*) FROM (SELECT try_parse_json(value) AS v FROM measure_decision_lines)
        WHERE v IS NOT NULL AND coalesce(variant_get(v, '$.error', 'string'), '') = ''
          AND coalesce(variant_get(v, '$.rule', 'string'), '') <> '' AND ({not_text})""").collect()[0][0]


_TO_THE_MINUTE = "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"


def _events_view(plan: CompiledPlan, backend: SparkBackend, path: str) -> None:
    """``measure_events``: duckdb_stats._events, over the canonical view of the events file."""
    metrics = plan.metrics
    fields: set[tuple[str, ...]] = {(m.field,) for m in metrics if m.field}
    for metric in metrics:
        if metric.expression is not None:
            fields |= {tuple(name.split(".")) for name in fields_read(metric.expression)}
    view, columns, _ = backend._canonical(path, sorted(set(_KEYS) | fields), "jsonl")
    compiler = ExpressionCompiler(columns, as_of=date(1970, 1, 1))  # days_since is refused in metrics
    cid, kind, stamp = (columns[key].s for key in _KEYS)
    stripped = f"trim(BOTH '{WHITESPACE}' FROM {stamp})"  # what parse_timestamp strips
    # Spark's cast wants the seconds when a zone follows (09:30Z is NULL to it): add ':00'.
    seconds = f"regexp_replace({stripped}, '^({_TO_THE_MINUTE})(Z|[+-][0-9]{{2}}:[0-9]{{2}})?$', '$1:00$2')"
    instant = f"CAST(CAST({seconds} AS TIMESTAMP) AS DOUBLE)"
    edge = ", ".join(f"'{year}'" for year in EDGE_YEARS)
    selected = [f"{cid} AS customer_id", f"{kind} AS type",
                f"CASE WHEN NOT {stripped} RLIKE '^{TIMESTAMP_SHAPE}$' THEN NULL "  # parse_timestamp's grammar first
                f"WHEN left({stripped}, 4) IN ({edge}) AND NOT ({instant} >= {FIRST_INSTANT} "
                f"AND {instant} < {END_OF_TIME}) THEN NULL "  # and its range
                f"ELSE {instant} END AS ts", "__order AS seq"]
    for index, metric in enumerate(metrics):
        match = "TRUE" if metric.expression is None else compiler.condition(metric.expression).sql(dialect="spark")
        selected.append(f"coalesce({match}, FALSE) AS m{index}_match")
        number = columns[(metric.field,)].n if metric.field else None
        selected.append(f"{number or 'CAST(NULL AS DOUBLE)'} AS m{index}_x")
    types = ", ".join("'" + t.replace("'", "''") + "'" for t in sorted({m.event for m in metrics}))
    backend.spark.sql(f"""SELECT * FROM (SELECT {', '.join(selected)} FROM {view}
                          WHERE __invalid IS NULL)
                          WHERE customer_id IS NOT NULL AND customer_id <> '' AND type IN ({types})
                          AND ts IS NOT NULL""").createOrReplaceTempView("measure_events")


def measure_spark(plan: CompiledPlan, decisions: str | Any, events_path: str | None, as_of: float,
                  spark: Any = None, master: str = "local[2]", by: Sequence[str] = ()) -> Measured:
    """``decisions``: a decisions file's path, or an Arrow table of :data:`.inputs.DECISION_FIELDS`."""
    backend = SparkBackend(plan, spark, master)
    session = backend.spark
    zone = session.conf.get("spark.sql.session.timeZone")
    session.conf.set("spark.sql.session.timeZone", "UTC")
    try:
        return _measure(plan, backend, decisions, events_path, as_of, by)
    finally:
        session.conf.set("spark.sql.session.timeZone", zone)


def _measure(plan: CompiledPlan, backend: SparkBackend, decisions: str | Any, events_path: str | None,
             as_of: float, by: Sequence[str]) -> Measured:
    session = backend.spark
    _decisions_view(session, decisions)
    head = f"WITH {units_sql('measure_decisions', by, held_versions(plan))}"
    assigned = session.sql(f"{head} SELECT plan_version, experiment, rule, cell, arm, count(*) FROM firsts "
                           f"GROUP BY plan_version, experiment, rule, cell, arm").collect()
    rows: list[Any] = []
    if plan.metrics and events_path is not None:
        _events_view(plan, backend, events_path)
        rows = by_metric(session.sql(f"""{head}, events AS (SELECT * FROM measure_events),
            {statistics_sql(plan.metrics, as_of, "spark")}""").collect(), plan.metrics)
    return collected(rows, assigned)
