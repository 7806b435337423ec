"""CSV on Spark, read as Python's csv module reads it (:func:`treatment_engine.profiles.csv_rows`).

Spark's own CSV reader read hostile files otherwise than the rule's reader, mostly without
a word: it kept a row with a cell too many (dropping the cell) where the rule refuses the
row (single quotes are no quotes to the rule, a backslash no escape), lost a row of a file
with mixed line ends, kept a doubled quote's quotes, trimmed a space after a closing quote,
read bytes that are not UTF-8 as replacement characters where Python refuses the file, and
failed the whole query on an empty file or a row past its 20,480 cells. So it reads only a
file whose lines a scan finds plain (:func:`plain_csv`), where none of that can arise. Any
other file is read row by row by the rule's own reader on the driver
(:func:`.careful_csv.careful_batches`, as the DuckDB engine reads a file its reader
refuses) and handed to Spark as Arrow: exact, but read by one process, and held in the
driver's memory while Spark takes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..shape_check import ShapeCheck
from .careful_csv import careful_batches
from .sources import CSV_PROBLEM, csv_header


def csv_frame(spark: Any, path: str, shape: ShapeCheck, paths: Sequence[tuple[str, ...]]) -> tuple[Any, str | None]:
    """A DataFrame of the cells ``c0``, ``c1``, ... (text; empty ones null) and ``__order``
    (input order), and the name of its column of the reason a row is no profile: None for
    Spark's own reading, whose blank rows are still in it (the caller leaves out a row whose
    cells are all blank). ``shape`` sees each profile of the careful reading; after Spark's
    own reading it is left for the caller to count. ``paths``: the field paths the plan
    reads; the careful reading hands Spark only their columns."""
    columns, width = csv_header(path)
    if 0 < width <= SPARK_READS_COLUMNS and plain_csv(spark, path, width):
        frame = (spark.read.option("header", True).option("multiLine", False).option("quote", '"')
                 .option("escape", '"').option("maxColumns", SPARK_READS_COLUMNS + 1).csv(path))
        return frame.toDF(*(f"c{i}" for i in range(len(frame.columns)))), None
    read = [name for column, name in columns.items()  # the columns sources.csv_parts reads for paths
            if any(column[:len(wanted)] == wanted for wanted in paths)]
    return _careful_frame(spark, path, shape, read), CSV_PROBLEM


# Spark's reader and planner slow down with a file's width faster than linearly (a file of
# 22,000 columns ran for 14 minutes without an answer): a wider file is read the careful
# way, which hands Spark only the columns the plan reads.
SPARK_READS_COLUMNS = 1_000


def plain_csv(spark: Any, path: str, width: int) -> bool:
    """True when Spark's reader, one line a row (``multiLine`` off), reads every line of
    ``path`` as Python's csv module does: each line (as Spark's text reader splits them, at
    a line feed, a carriage return or both, as Python's reader does) is UTF-8, holds no
    double quote and no backslash (no quoting or escaping, so no row spans lines), and no
    more cells than the header (whose width, ``width``, Python read)."""
    from pyspark.sql import functions as F

    value = F.col("value")
    commas = F.length(value) - F.length(F.replace(value, F.lit(","), F.lit("")))
    suspicious = (~F.is_valid_utf8(value)) | value.contains('"') | value.contains("\\") | (commas >= width)
    found = spark.read.text(path).select(F.count_if(suspicious)).collect()
    return bool(found) and found[0][0] == 0


def _careful_frame(spark: Any, path: str, shape: ShapeCheck, read: list[str]) -> Any:
    """The rows as :func:`.careful_csv.careful_batches` reads them, their columns ``read``
    only, numbered in order. A file the rule cannot read (not UTF-8) raises its :class:`...profiles.ProfileFileError`
    here, in the Python engine's words."""
    import pyarrow as pa
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    batches = list(careful_batches(path, shape.observe, shape.objects))
    table = pa.Table.from_batches(batches).select([*read, CSV_PROBLEM])
    table = table.append_column("__order", pa.array(range(table.num_rows), pa.int64()))
    if table.num_rows:
        return spark.createDataFrame(table)
    return spark.createDataFrame([], StructType([*(StructField(name, StringType()) for name in table.column_names[:-1]),
                                                 StructField("__order", LongType())]))
