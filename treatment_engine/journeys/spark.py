"""A journey's runs on Spark: the DuckDB query of :mod:`.sql`, written in Spark's dialect
by sqlglot, over the same event table (window functions, ``least`` skipping nulls and
IEEE doubles mean the same on both)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .compiled import CompiledJourney
from .reference import JourneyEvent, Run
from .sql import event_columns, runs_from_rows, runs_query

VIEW = "journey_events"


def spark_sql(journey: CompiledJourney, as_of: float) -> str:
    """The runs query in Spark SQL."""
    import sqlglot

    return str(sqlglot.transpile(runs_query(journey, as_of, VIEW), read="duckdb", write="spark")[0])


def spark_runs(journey: CompiledJourney, events: Sequence[JourneyEvent], as_of: float, spark: Any) -> list[Run]:
    """``journey``'s runs in ``events``, worked out by Spark (``spark``: a SparkSession)."""
    from pyspark.sql import types as T

    columns = event_columns(journey, events)
    flags = [name for name in columns if name not in ("cid", "ts", "ix")]
    schema = T.StructType([T.StructField("cid", T.StringType()), T.StructField("ts", T.DoubleType()),
                           T.StructField("ix", T.LongType()),
                           *(T.StructField(name, T.BooleanType()) for name in flags)])
    rows = list(zip(*columns.values(), strict=True)) if columns["cid"] else []
    spark.createDataFrame(rows, schema).createOrReplaceTempView(VIEW)
    try:
        found = spark.sql(spark_sql(journey, as_of)).collect()
    finally:
        spark.catalog.dropTempView(VIEW)
    return runs_from_rows(journey, [tuple(row) for row in found])
