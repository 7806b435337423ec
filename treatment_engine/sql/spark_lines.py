"""JSON lines on Spark, read by the profile rule (:mod:`treatment_engine.profile_json`).

Spark's own JSON parser refuses repeated names (the rule keeps the last) and its text
reader does not check UTF-8, so every line is read by the rule itself, in Spark's Python
workers (``mapInArrow``, so it scales with the cluster), and Spark parses only the
canonical JSON that comes back. Lines are numbered as in the file, for the reasons: the
text reader's partitions are counted once and each row's number is its partition's
offset plus its place in the partition.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..profile_json import BLANK, BOM
from .json_lines import canonical_line

SCHEMA = "__order long, doc string, __invalid string"


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
    numbered = raw.select((offset + within + 1).alias("n"), "raw")
    return numbered.mapInArrow(canonical_batches, SCHEMA)


def canonical_batches(batches: Iterator[Any]) -> Iterator[Any]:
    """``mapInArrow``: (n, raw bytes) in, (line number, canonical JSON, reason) out."""
    import pyarrow as pa

    for batch in batches:
        numbers, docs, problems = [], [], []
        for number, raw in zip(batch.column("n").to_pylist(), batch.column("raw").to_pylist(), strict=True):
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            if not raw.strip(BLANK):
                continue
            doc, problem = canonical_line(number, raw)
            numbers.append(number)
            docs.append(doc)
            problems.append(problem)
        yield pa.RecordBatch.from_arrays(
            [pa.array(numbers, pa.int64()), pa.array(docs, pa.string()), pa.array(problems, pa.string())],
            names=["__order", "doc", "__invalid"])
