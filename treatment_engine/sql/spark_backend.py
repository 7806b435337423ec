"""The same decision query on Apache Spark (``pip install .[spark]``), for bases too big for one machine.

The compiled plan renders to Spark SQL through sqlglot; only reading files into the
canonical view is Spark's own: Parquet by schema, CSV as text cells typed like the
Python reader, JSON lines through Spark 4's VARIANT (``schema_of_variant`` plays the part
of DuckDB's ``json_type``). ANSI mode is off so that a failed cast or an index past the
end of a list is NULL, as the spec's values want.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from sqlglot import exp

from ..compile import CompiledPlan
from ..contacts import ContactState
from ..decision import cents
from ..profiles import CELL_SPACE, detect_format
from ..shape_check import ShapeCheck
from . import limits as sql_limits
from .compiler import OUTPUT_COLUMNS, FieldColumns, decision_sql, required_fields
from .fragments import BOOLEAN, DOUBLE, VARCHAR, Unsupported, case, not_, or_, select
from .sources import csv_columns, csv_filled_cell, csv_parts, parquet_parts, split_top_level
from .spark_csv import csv_frame
from .spark_lines import json_lines_frame

_NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "decimal")


# The engine's own settings; Spark's defaults hold for the rest.
SETTINGS = {"spark.ui.enabled": "false", "spark.sql.ansi.enabled": "false", "spark.sql.shuffle.partitions": "4"}
# Whole-stage code generation compiles a stage's operators into one Java method, and the
# JVM caps a method at 64 KB: a plan of about 150 generated rules (42,000 characters of
# decision SQL) passes it, and Spark logs the compiler's failure at ERROR with a stack
# trace of a few hundred lines, then interprets the stage. Without whole-stage generation
# each expression is still compiled, split into methods, and the stage ran faster (200,000
# customers, 500 rules: the summary's aggregation 32 and 9 s, first and second run,
# against 47 and 17; 150 rules 26 and 9 against 32 and 9). Up to 100 rules (29,000
# characters) it compiles, and whole-stage generation is kept.
WHOLE_STAGE_UP_TO = 32_000  # characters of decision SQL


def session(master: str = "local[2]", options: Mapping[str, str] | None = None) -> Any:
    """A Spark session for the engine; ``options`` are further Spark settings (tests tune
    the JVM for many small queries), never ones the decisions depend on."""
    from pyspark.sql import SparkSession

    if master.startswith("local"):  # Python workers (reading JSON lines) run this interpreter
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("treatment-engine")
    for key, value in {**SETTINGS, **(options or {})}.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


class SparkBackend:
    name = "spark"

    def __init__(self, plan: CompiledPlan, spark: Any = None, master: str = "local[2]",
                 limits: Mapping[str, ContactState] | None = None) -> None:
        self.plan = plan
        self.spark = spark or session(master)
        self.limits = limits  # see DuckDBBackend
        # The CSV file read last, and what its careful reading saw (None: Spark's reader read it).
        self.csv_read: str | None = None
        self.csv_careful: ShapeCheck | None = None

    def decisions(self, path: str | Path, as_of: date, fmt: str = "auto") -> Any:
        """A DataFrame of decisions, one per profile, with ``__order`` for input order."""
        kind = detect_format(path, fmt)
        view, fields, invalid = self._canonical(str(path), required_fields(self.plan), kind)
        source = exp.alias_(exp.to_table(view), "profiles", table=True, copy=False)
        relation = None
        if self.limits is not None and self.plan.contact_rules is not None:
            relation = sql_limits.relation(self.plan)
            table = sql_limits.arrow_table(self.plan, self.limits)
            frame = (self.spark.createDataFrame(table) if table.num_rows
                     else self.spark.createDataFrame([], _spark_schema(table)))
            frame.createOrReplaceTempView(sql_limits.TABLE)
        text, _ = decision_sql(self.plan, fields, source, as_of, invalid_column=invalid, dialect="spark",
                               carry=("__order",), limits=relation)
        self.spark.conf.set("spark.sql.codegen.wholeStage", str(len(text) <= WHOLE_STAGE_UP_TO).lower())
        return self.spark.sql(text)

    def records(self, path: str | Path, as_of: date, fmt: str = "auto") -> Iterator[dict[str, Any]]:
        version, day = self.plan.version, as_of.isoformat()
        for row in self.decisions(path, as_of, fmt).orderBy("__order").toLocalIterator():
            values = row.asDict()
            if values["error"] is not None:
                yield {"customer_id": values["customer_id"], "error": values["error"]}
                continue
            record = {**{k: values[k] for k in OUTPUT_COLUMNS[:10] if k != "channel"},
                      "actions": list(values["actions"]), "channels": list(values["channels"]),
                      "cost": cents(values["cost"]), "plan_version": version, "as_of": day, "arm": values["arm"]}
            if values["experiment"] is not None:
                record["experiment"], record["bucket"] = values["experiment"], int(values["bucket"])
            if values["would_have_rule"] is not None:
                record["would_have"] = {"rule": values["would_have_rule"],
                                        "treatment": values["would_have_treatment"],
                                        "actions": list(values["would_have_actions"]),
                                        "channels": list(values["would_have_channels"]),
                                        "cost": cents(values["would_have_cost"])}
            yield record

    def count_shapes(self, path: str | Path, fmt: str = "auto") -> ShapeCheck:
        """Rows whose objects the plan reads into hold something else (see ..shape_check);
        for JSON lines and CSV over the rows :meth:`decisions` read last."""
        check = ShapeCheck(required_fields(self.plan))
        kind = detect_format(path, fmt)
        if kind == "csv":
            return self._csv_shapes(str(path), check)
        if kind != "jsonl":
            from .shapes import count_wrong_shapes
            count_wrong_shapes(check, str(path), kind, required_fields(self.plan))
            return check
        for prefix in check.objects:
            json_path = exp.Literal.string("$" + "".join(f"['{part}']" for part in prefix)).sql("spark")
            shape = f"schema_of_variant(variant_get(try_parse_json(doc), {json_path}))"
            row = self.spark.sql(f"SELECT count(*) FILTER (WHERE {shape} NOT LIKE 'OBJECT%' AND {shape} <> 'VOID'), "
                                 f"max({shape}) FROM raw_profiles").collect()[0]
            check.add(prefix, int(row[0]), "text" if row[1] == "STRING" else "another kind of value")
        return check

    def _csv_shapes(self, path: str, check: ShapeCheck) -> ShapeCheck:
        """Over the rows :meth:`decisions` read last: the careful reading's own count (the
        Python engine's), else Spark's rows counted as DuckDB counts its own reader's
        (:func:`.shapes.count_wrong_shapes`: a cell that holds a value). Not DuckDB's count
        itself: its strict reader refuses some files that Spark's reads alike."""
        from pyspark.sql import functions as F

        if self.csv_read != path:  # not read yet
            self._canonical(path, required_fields(self.plan), "csv")
        if self.csv_careful is not None:
            return self.csv_careful
        rows = self.spark.table("raw_profiles")
        for prefix in check.objects:
            column = csv_columns(path).get(prefix)
            if column is None:
                continue
            filled, kind = (F.expr(part.sql("spark")) for part in csv_filled_cell(exp.column(column, quoted=True)))
            count = int(rows.select(F.count_if(filled)).collect()[0][0])
            if count:  # the first such cell's kind, as Python's reading meets it first
                check.add(prefix, count, rows.where(filled).orderBy("__order").select(kind).first()[0])
        return check

    def shaped(self, decisions: Any, as_of: date) -> Any:
        """The decisions in input order and in the row shape of :mod:`...outputs` (an invalid
        row has no decision fields, cost in cents as :func:`...decision.cents` rounds)."""
        from pyspark.sql import functions as F

        decided = F.col("error").isNull()
        columns = [F.col("customer_id"),
                   *(F.when(decided, F.col(name)).alias(name) for name in OUTPUT_COLUMNS[1:8]),
                   F.when(decided, F.floor(F.col("cost") * 100 + 0.5) / 100).alias("cost"),
                   F.when(decided, F.lit(self.plan.version)).alias("plan_version"),
                   F.when(decided, F.lit(as_of.isoformat())).alias("as_of"),
                   F.when(decided, F.col("arm")).alias("arm"), F.when(decided, F.col("experiment")).alias("experiment"),
                   F.when(decided, F.col("bucket").cast("bigint")).alias("bucket"),
                   F.when(decided & F.col("would_have_rule").isNotNull(), F.struct(
                       F.col("would_have_rule").alias("rule"), F.col("would_have_treatment").alias("treatment"),
                       F.col("would_have_actions").alias("actions"), F.col("would_have_channels").alias("channels"),
                       (F.floor(F.col("would_have_cost") * 100 + 0.5) / 100).alias("cost"))).alias("would_have"),
                   F.col("error")]
        return decisions.orderBy("__order").select(*columns)

    # -- reading files into the canonical view -------------------------------------------

    def _canonical(self, path: str, paths: Sequence[tuple[str, ...]], kind: str) -> tuple[str, dict[tuple[str, ...], FieldColumns], str | None]:
        from pyspark.sql import functions as F

        invalid = None
        if kind == "parquet":
            frame = self.spark.read.parquet(path)
        elif kind == "csv":  # named c0, c1, ... as sources.csv_columns names them (see spark_csv)
            seen = ShapeCheck(required_fields(self.plan))
            frame, invalid = csv_frame(self.spark, path, seen, paths)
            self.csv_read, self.csv_careful = path, seen if invalid is not None else None
        else:  # numbered lines read by the profile rule (see spark_lines)
            frame, invalid = json_lines_frame(self.spark, path), "__invalid"
        if "__order" not in frame.columns:
            frame = frame.withColumn("__order", F.monotonically_increasing_id())
        frame.createOrReplaceTempView("raw_profiles")
        selected: list[exp.Expr] = [exp.column("__order")]
        if invalid is not None:
            selected.append(exp.alias_(exp.column(invalid), "__invalid", copy=False))
            invalid = "__invalid"
        types = {f.name: f.dataType.simpleString() for f in frame.schema.fields}
        csv_names = csv_columns(path) if kind == "csv" else {}  # the header read once for every field
        fields: dict[tuple[str, ...], FieldColumns] = {}
        for index, field_path in enumerate(paths):
            if kind == "parquet":
                parts = self._parquet_parts(field_path, types)
            elif kind == "csv":
                parts = csv_parts(field_path, csv_names)
            else:
                parts = self._json_parts(field_path)
            names: list[str | None] = []
            for suffix, part in zip("nsbo", parts, strict=True):
                if part is None:
                    names.append(None)
                    continue
                name = f"f{index}_{suffix}"
                selected.append(exp.alias_(part, name, copy=False))
                names.append(name)
            fields[field_path] = FieldColumns(*names)
        where = None
        if kind == "csv" and invalid is None:  # Spark's own reading: its blank rows are no profiles
            # A row is blank when its cells joined are: one flat call, where an OR per
            # cell nested as deep as the header is wide (Spark's parser overflowed its
            # stack past about 21,000 columns). Spark's CONCAT_WS leaves out null cells;
            # sqlglot's own node for it would add a null test, hence the plain call.
            cells = exp.Anonymous(this="CONCAT_WS", expressions=[
                exp.Literal.string(""), *(exp.column(n, quoted=True) for n in csv_names.values())])
            where = exp.NEQ(this=exp.Trim(this=cells, expression=exp.Literal.string(CELL_SPACE)),
                            expression=exp.Literal.string(""))
        query = select(*selected).from_(copy=False, expression="raw_profiles")
        if where is not None:
            query = query.where(where, copy=False)
        self.spark.sql(query.sql("spark")).createOrReplaceTempView("canonical_profiles")
        return "canonical_profiles", fields, invalid

    @staticmethod
    def _parquet_parts(path: tuple[str, ...], types: dict[str, str]) -> list[exp.Expr | None]:
        return parquet_parts(path, {n: t for n, t in types.items() if n != "__order"}, _struct_field, _typed)

    @staticmethod
    def _json_parts(path: tuple[str, ...]) -> list[exp.Expr | None]:
        for part in path:
            if "'" in part or "\\" in part or "]" in part:
                raise Unsupported(f"a field name with a quote, backslash or bracket: {part!r}")
        json_path = "$" + "".join(f"['{part}']" for part in path)
        document = exp.Anonymous(this="try_parse_json", expressions=[exp.column("doc")])
        value = exp.Anonymous(this="variant_get", expressions=[document, exp.Literal.string(json_path)])
        shape = exp.Anonymous(this="schema_of_variant", expressions=[value])

        def typed(spark_type: str) -> exp.Expr:
            return exp.Anonymous(this="variant_get", expressions=[document, exp.Literal.string(json_path),
                                                                  exp.Literal.string(spark_type)])
        numeric = or_(exp.In(this=shape, expressions=[exp.Literal.string(t) for t in
                                                          ("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT")]),
                          exp.Like(this=shape, expression=exp.Literal.string("DECIMAL%")))
        return [
            case([(numeric, typed("double"))]),
            case([(exp.EQ(this=shape, expression=exp.Literal.string("STRING")), typed("string"))]),
            case([(exp.EQ(this=shape, expression=exp.Literal.string("BOOLEAN")), exp.Cast(this=typed("boolean"), to=BOOLEAN))]),
            case([(or_(exp.Like(this=shape, expression=exp.Literal.string("OBJECT%")),
                           exp.Like(this=shape, expression=exp.Literal.string("ARRAY%"))), exp.true())]),
        ]


def _typed(node: exp.Expr, kind: str | None) -> list[exp.Expr | None]:
    if kind is None:
        return [None, None, None, None]
    base = kind.split("(")[0]
    if base in _NUMERIC:
        return [exp.Cast(this=node, to=DOUBLE), None, None, None]
    if base == "string":
        return [None, node, None, None]
    if base == "boolean":
        return [None, None, node, None]
    if base in ("date", "timestamp", "timestamp_ntz"):
        return [None, exp.Cast(this=node, to=VARCHAR), None, None]
    return [None, None, None, case([(not_(exp.Is(this=node, expression=exp.Null())), exp.true())])]


def _struct_field(kind: str, name: str) -> str | None:
    if not kind.startswith("struct<"):
        return None
    for part in split_top_level(kind[len("struct<"):-1]):
        field_name, _, field_type = part.partition(":")
        if field_name.strip("`") == name:
            return field_type
    return None


def _spark_schema(table: Any) -> Any:
    from pyspark.sql.types import BooleanType, StringType, StructField, StructType

    return StructType([StructField(f.name, StringType() if str(f.type) == "string" else BooleanType())
                       for f in table.schema])
