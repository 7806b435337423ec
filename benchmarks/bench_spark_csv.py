"""What reading CSV the careful way costs Spark: Spark's own reader against sql/spark_csv.py.

    python benchmarks/bench_spark_csv.py FILE.csv [FILE.csv ...] [--rounds 3]

For each file, in one Spark session (local[2], the engine's settings), alternated round by
round: ``spark``, the reading the engine had (``spark.read.csv`` with a header, multiLine,
the columns renamed) and ``engine``, :func:`treatment_engine.sql.spark_csv.csv_frame` (the
plain-file scan, then Spark's reader, or the careful reading on the driver), each made and
read to its end (the longest text of every column: a bare ``count()`` lets Spark's reader
skip parsing the cells). Wall seconds and CPU seconds of this process and of
the JVM together (the JVM's from /proc), and which way the engine read the file. The
decision query after the reading is the same either way, so it is left out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _jvm_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spark_reading(spark: object, path: str) -> object:
    frame = spark.read.option("header", True).option("multiLine", True).csv(path)  # type: ignore[attr-defined]
    return frame.toDF(*(f"c{i}" for i in range(len(frame.columns))))


def _engine_reading(spark: object, path: str) -> tuple[object, str]:
    from treatment_engine.shape_check import ShapeCheck
    from treatment_engine.sql.spark_csv import csv_frame
    frame, invalid = csv_frame(spark, path, ShapeCheck([]))
    return frame, "careful" if invalid else "Spark's reader"


def _read_through(frame: object) -> int:
    from pyspark.sql import functions as F
    columns = [c for c in frame.columns if c.startswith("c")]  # type: ignore[attr-defined]
    found = frame.agg(F.count(F.lit(1)), *(F.max(F.length(c)) for c in columns)).collect()  # type: ignore[attr-defined]
    return int(found[0][0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from treatment_engine.sql.spark_backend import session
    spark = session("local[2]")
    jvm = int(spark._jvm.java.lang.ProcessHandle.current().pid())  # type: ignore[attr-defined]
    _spark_reading(spark, args.files[0]).count()  # type: ignore[attr-defined]  # warm the JVM once
    print(f"load {Path('/proc/loadavg').read_text().split()[:3]}")
    print("| file | round | reading | rows | wall s | CPU s | way |\n|---|---|---|---|---|---|---|")
    for number in range(1, args.rounds + 1):
        for path in args.files:
            for name in ("spark", "engine"):
                wall, cpu = time.perf_counter(), time.process_time() + _jvm_cpu(jvm)
                way = "Spark's reader"
                if name == "spark":
                    frame = _spark_reading(spark, path)
                else:
                    frame, way = _engine_reading(spark, path)
                rows = _read_through(frame)
                wall, cpu = time.perf_counter() - wall, time.process_time() + _jvm_cpu(jvm) - cpu
                print(f"| {Path(path).name} | {number} | {name} | {rows:,} | {wall:.2f} | {cpu:.2f} | {way} |", flush=True)
    print(f"load {Path('/proc/loadavg').read_text().split()[:3]}")
    spark.stop()


if __name__ == "__main__":
    main()
