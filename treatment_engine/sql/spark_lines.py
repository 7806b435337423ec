"""JSON lines on Spark, read by the profile rule (:mod:`treatment_engine.profile_json`).

Spark's own JSON parser refuses repeated names (the rule keeps the last) and its text
reader does not check UTF-8, so every line is read by the rule itself, in Spark's Python
workers (a Python UDF, so it scales with the cluster and needs no pandas), and Spark
parses only the canonical JSON that comes back. Lines are numbered as in the file, for the reasons: the
text reader's partitions are counted once and each row's number is its partition's
offset plus its place in the partition.
"""

from __future__ import annotations

from typing import Any

from ..profile_json import BLANK, BOM
from .careful_lines import canonical_line


def json_lines_frame(spark: Any, path: str) -> Any:
    """A DataFrame (``__order``: the line number, ``doc``, ``__invalid``), blank lines left out."""
    from pyspark.sql import functions as F

    raw = (spark.read.option("lineSep", "\n").text(path)
           .select(F.col("value").cast("binary").alias("raw"), F.spark_partition_id().alias("pid"),
                   F.monotonically_increasing_id().alias("mid")))
    counts = {row[0]: row[1] for row in raw.groupBy("pid").count().collect()}
    offsets, total = [], 0
    for pid in range(max(counts, default=-1) + 1):
        offsets.append(total)
        total += counts.get(pid, 0)
    # monotonically_increasing_id holds the partition in its upper 31 bits, the row in the rest.
    within = F.col("mid") - F.shiftleft(F.col("pid").cast("long"), 33)
    offset = F.element_at(F.array(*(F.lit(o) for o in offsets or [0])), F.col("pid") + 1)
    # A lambda: PySpark warns when a UDF's own type hints are not pandas types.
    read = F.udf(lambda number, line: canonical_row(number, line), "struct<doc: string, problem: string>",
                 useArrow=False)  # Arrow UDFs need pandas
    lines = raw.select((offset + within + 1).alias("__order"), read(offset + within + 1, "raw").alias("line"))
    return lines.where(F.col("line").isNotNull()).select("__order", F.col("line.doc").alias("doc"),
                                                         F.col("line.problem").alias("__invalid"))


def canonical_row(number: int, raw: bytes | bytearray) -> tuple[str | None, str | None] | None:
    """One line as (canonical JSON, None) or (None, reason); None for a blank line."""
    raw = bytes(raw)
    if number == 1 and raw.startswith(BOM):
        raw = raw[len(BOM):]
    if not raw.strip(BLANK):
        return None
    return canonical_line(number, raw)
