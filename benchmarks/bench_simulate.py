"""Whole-base simulation speed and memory: DuckDB engine vs a hand-written floor vs Python.

    python benchmarks/bench_simulate.py [--rows 10000000] [--python-rows 1000000]

- Makes N generated customers as Parquet (once; cached in benchmarks/out/, seeded) with
  the columns of benchmarks/plangen.py, and the generated 500-rule plan.
- floor: a hand-written DuckDB query, one plain CASE WHEN per rule in priority order,
  with none of the spec's null/type rules, consent or profitability, writing the
  chosen rule per customer to Parquet.
- duckdb: `treatment simulate`'s DuckDB engine, full semantics, writing every decision
  (all MUST fields, channels, cost) to Parquet and summarising it.
- python: the in-process evaluator on --python-rows customers of the same file, end to end,
  against the DuckDB engine on the same rows.
Each run is a fresh process, so its peak RSS is its own. Prints a markdown table.
The engine's modules are compiled to bytecode first (:func:`compiled_engine`), as an
installed wheel has them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))
AS_OF = date(2026, 11, 1)


def make_profiles(rows: int) -> Path:
    import duckdb
    from plangen import NUMERIC_FIELDS, REGIONS, SEGMENTS, STAGES, TIERS

    path = OUT / f"profiles_{rows}.parquet"
    if path.exists():
        return path
    OUT.mkdir(exist_ok=True)
    connection = duckdb.connect()
    connection.execute("SELECT setseed(0.42)")

    def pick(values: tuple[str, ...]) -> str:
        listed = ", ".join(f"'{v}'" for v in values)
        return f"[{listed}][1 + floor(random() * {len(values)})::INTEGER]"

    numeric = []
    for name, (kind, low, high) in NUMERIC_FIELDS.items():
        value = (f"({low} + floor(random() * {high - low + 1}))::INTEGER" if kind == "int"
                 else f"round({low} + random() * {high - low}, 2)")
        numeric.append(f"CASE WHEN random() < 0.03 THEN NULL ELSE {value} END AS {name}")
    connection.execute(f"""
        COPY (SELECT 'c' || lpad(range::VARCHAR, 8, '0') AS customer_id,
                     {pick(SEGMENTS)} AS segment, {pick(STAGES)} AS lifecycle_stage,
                     {pick(TIERS)} AS value_tier, {pick(REGIONS)} AS region,
                     {{'email': random() < 0.8, 'sms': random() < 0.6}} AS consent,
                     random() < 0.5 AS consent_push, random() < 0.4 AS consent_phone,
                     {", ".join(numeric)}
              FROM range({rows}))
        TO '{path}' (FORMAT PARQUET, ROW_GROUP_SIZE 122880)""")
    return path


READERS = {"parquet": "read_parquet('{}')", "csv": "read_csv('{}')",
           "jsonl": "read_json('{}', format = 'newline_delimited')"}


def same_customers_as(kind: str, source: Path) -> Path:
    """The customers of ``source`` (Parquet) as CSV (consent.email columns) or JSON lines."""
    import duckdb

    target = source.with_suffix(f".{kind}")
    if kind == "parquet" or target.exists():
        return source if kind == "parquet" else target
    columns = "* EXCLUDE (consent), consent.email AS \"consent.email\", consent.sms AS \"consent.sms\""
    select = f"SELECT {columns} FROM read_parquet('{source}')" if kind == "csv" else f"SELECT * FROM read_parquet('{source}')"
    duckdb.connect().execute(f"COPY ({select}) TO '{target}' ({'FORMAT CSV, HEADER' if kind == 'csv' else 'FORMAT JSON'})")
    return target


def floor_sql(rules: list, source: Path, target: Path) -> str:
    from plangen import GenRule

    ordered: list[GenRule] = sorted(rules, key=lambda r: -r.priority)
    whens = []
    for rule in ordered:
        tests = []
        for column, values in (("segment", rule.segments), ("lifecycle_stage", rule.stages),
                               ("value_tier", rule.tiers)):
            if values:
                tests.append(f"{column} IN ({', '.join(repr(v) for v in values)})")
        for atom in rule.atoms:
            if atom.op == "in":
                tests.append(f"{atom.field} IN ({', '.join(repr(v) for v in atom.value)})")
            else:
                tests.append(f"{atom.field} {'=' if atom.op == '==' else atom.op} {atom.value!r}")
        whens.append(f"WHEN {' AND '.join(tests)} THEN '{rule.id}'")
    return (f"COPY (SELECT customer_id, CASE {' '.join(whens)} ELSE 'default' END AS rule "
            f"FROM {READERS[source.suffix.lstrip('.')].format(source)}) TO '{target}' (FORMAT PARQUET)")


def run_one(kind: str, source: Path, rows: int) -> dict:
    """Executed in a child process: one measured run."""
    from plangen import generate_rules, plan_files

    from treatment_engine import Engine
    from treatment_engine.simulation import simulate_duckdb, simulate_python

    rules = generate_rules(500, seed=1)
    plan = Engine.from_texts(plan_files(rules)).plan
    target = OUT / f"decisions_{kind}.parquet"
    if rows:  # a slice of the file, so both engines read the same customers
        source = first_rows(source, rows)
    if kind.startswith("format-"):  # format-<floor|duckdb>-<parquet|csv|jsonl>
        _, who, fmt = kind.split("-")
        source = same_customers_as(fmt, source)
        kind = who
    started, cpu_started = time.perf_counter(), time.process_time()
    if kind == "floor":
        import duckdb
        connection = duckdb.connect()
        connection.execute("SET memory_limit = '1GB'")
        connection.execute("SET enable_progress_bar = false")
        connection.execute(floor_sql(rules, source, target))
        count = connection.execute(f"SELECT count(*) FROM read_parquet('{target}')").fetchone()[0]
    elif kind == "duckdb-write":
        summary = simulate_duckdb(plan, str(source), AS_OF, output=str(target))
        count = summary.total
    elif kind.startswith("duckdb"):
        summary = simulate_duckdb(plan, str(source), AS_OF)  # tables only, like the floor's one column
        count = summary.total
    else:
        summary = simulate_python(plan, str(source), AS_OF)
        count = summary.total
    seconds = time.perf_counter() - started
    # CPU seconds of the whole process (DuckDB's threads included): on a shared machine
    # they move far less with the neighbours' load than the wall clock does.
    return {"kind": kind, "rows": count, "seconds": seconds, "cpu_seconds": time.process_time() - cpu_started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def first_rows(source: Path, rows: int) -> Path:
    """The first ``rows`` customers of ``source`` as a Parquet file of their own."""
    import duckdb

    sliced = OUT / f"profiles_first_{rows}.parquet"
    if not sliced.exists():
        duckdb.connect().execute(f"COPY (SELECT * FROM read_parquet('{source}') LIMIT {rows}) "
                                 f"TO '{sliced}' (FORMAT PARQUET)")
    return sliced


def spark_check(source: Path, rows: int) -> None:
    """Spark and DuckDB decide the same slice, each writing every decision to one Parquet
    file; every MUST field of every row must agree."""
    import duckdb
    from plangen import generate_rules, plan_files

    from treatment_engine import Engine
    from treatment_engine.simulation import simulate_duckdb, simulate_spark

    plan = Engine.from_texts(plan_files(generate_rules(500, seed=1))).plan
    sliced = first_rows(source, rows)
    started = time.perf_counter()
    simulate_duckdb(plan, str(sliced), AS_OF, output=str(OUT / "check_duckdb.parquet"))
    duck_seconds = time.perf_counter() - started
    started = time.perf_counter()
    simulate_spark(plan, str(sliced), AS_OF, output=str(OUT / "check_spark.parquet"))
    spark_seconds = time.perf_counter() - started
    must = "segment, lifecycle_stage, value_tier, treatment, rule, actions, channels"
    differing, total = duckdb.connect().execute(f"""
        SELECT count(*) FILTER (WHERE d.row IS DISTINCT FROM s.row OR s.row IS NULL), count(*)
        FROM (SELECT customer_id, ({must}) AS row FROM read_parquet('{OUT / "check_duckdb.parquet"}')) d
        LEFT JOIN (SELECT customer_id, ({must}) AS row FROM read_parquet('{OUT / "check_spark.parquet"}')) s
        USING (customer_id)""").fetchone()
    print(f"  spark vs duckdb on {total:,} customers: {differing} rows differ "
          f"(duckdb {duck_seconds:.1f} s, spark local {spark_seconds:.1f} s)", file=sys.stderr)


def compiled_engine() -> None:
    """Compile the engine's package (the one the runs import: PYTHONPATH may name another
    checkout) to bytecode, as pip does when it installs a wheel. The engine imports most of
    its modules inside the measured run; where PYTHONDONTWRITEBYTECODE is set (as on the
    machines these figures come from) Python would compile them from source in every
    fresh process, 0.05-0.1 s of CPU the floor's libraries, installed compiled, never pay."""
    import compileall
    import importlib.util

    spec = importlib.util.find_spec("treatment_engine")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def measure(kind: str, source: Path, rows: int = 0) -> dict:
    run = subprocess.run([sys.executable, __file__, "--child", kind, "--source", str(source),
                          "--slice", str(rows)], capture_output=True, text=True, check=True)
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"  {kind}: {result['rows']:,} rows in {result['seconds']:.2f} s ({result['cpu_seconds']:.2f} s CPU), "
          f"peak RSS {result['peak_rss_mb']:.0f} MB", file=sys.stderr)
    return result


def compare_formats(rows: int, rounds: int) -> None:
    """The DuckDB engine (summary tables) against the floor, per input format, same
    customers; rounds alternate floor and engine, each a fresh process, medians kept."""
    source = make_profiles(rows)
    lines = []
    for fmt in ("parquet", "csv", "jsonl"):
        size = same_customers_as(fmt, source).stat().st_size / 1e6
        runs: dict[str, list[dict]] = {"floor": [], "duckdb": []}
        for _ in range(rounds):
            for who in runs:
                runs[who].append(measure(f"format-{who}-{fmt}", source))
        floor, engine = (statistics.median(r["seconds"] for r in runs[who]) for who in runs)
        floor_cpu, engine_cpu = (statistics.median(r["cpu_seconds"] for r in runs[who]) for who in runs)
        peak = max(r["peak_rss_mb"] for r in runs["duckdb"])
        lines.append(f"| {fmt}, {size:.0f} MB | {floor:.2f} s ({floor_cpu:.2f} s CPU) | {engine:.2f} s "
                     f"({engine_cpu:.2f} s CPU, {peak:.0f} MB peak) | **{engine / floor:.2f}x** "
                     f"({engine_cpu / floor_cpu:.2f}x CPU) |")
    print(f"""
| {rows:,} customers ({date.today().isoformat()}, {os.cpu_count()} cores, median of {rounds}) | floor: hand-written query | DuckDB engine | ratio |
|---|---|---|---|
""" + "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--python-rows", type=int, default=1_000_000)
    parser.add_argument("--spark", action="store_true",
                        help="also run Spark local mode on the --python-rows slice and compare every row with DuckDB")
    parser.add_argument("--formats", type=int, default=0, metavar="N",
                        help="only compare input formats: the first N customers as Parquet, CSV and JSON lines, "
                             "the engine against the hand-written floor over the same file")
    parser.add_argument("--rounds", type=int, default=3, help="with --formats: runs of each, medians kept")
    parser.add_argument("--spark-only", action="store_true",
                        help="only the --spark check: Spark local mode and DuckDB on the first --python-rows "
                             "customers of the --rows file")
    parser.add_argument("--child")
    parser.add_argument("--source")
    parser.add_argument("--slice", type=int, default=0)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, Path(args.source), args.slice)))
        return
    compiled_engine()
    if args.formats:
        compare_formats(args.formats, args.rounds)
        return
    started = time.perf_counter()
    source = make_profiles(args.rows)
    print(f"profiles: {args.rows:,} rows, {source.stat().st_size / 1e6:.0f} MB Parquet "
          f"({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    if args.spark_only:
        spark_check(source, args.python_rows)
        return
    floor = measure("floor", source)
    full = measure("duckdb", source)
    written = measure("duckdb-write", source)
    small_duck = measure("duckdb-slice", source, args.python_rows)
    small_python = measure("python", source, args.python_rows)
    if args.spark:
        spark_check(source, args.python_rows)
    day = date.today().isoformat()
    print(f"""
| measured ({day}, Python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores) | time | peak RSS | ratio |
|---|---|---|---|
| floor: hand-written CASE WHEN per rule, {floor['rows']:,} rows | {floor['seconds']:.1f} s | {floor['peak_rss_mb']:.0f} MB | 1.00 |
| DuckDB engine, full semantics, summary tables, {full['rows']:,} rows | {full['seconds']:.1f} s | {full['peak_rss_mb']:.0f} MB | {full['seconds'] / floor['seconds']:.2f}x the floor's time |
| DuckDB engine, also writing every decision (10 columns) to Parquet | {written['seconds']:.1f} s | {written['peak_rss_mb']:.0f} MB | {written['seconds'] / floor['seconds']:.2f}x the floor's time |
| DuckDB engine, {small_duck['rows']:,} rows | {small_duck['seconds']:.1f} s ({small_duck['rows'] / small_duck['seconds']:,.0f} rows/s) | {small_duck['peak_rss_mb']:.0f} MB | {small_python['seconds'] / small_duck['seconds']:.1f}x the rows/s of python |
| python engine, {small_python['rows']:,} rows | {small_python['seconds']:.1f} s ({small_python['rows'] / small_python['seconds']:,.0f} rows/s) | {small_python['peak_rss_mb']:.0f} MB | |
""")


if __name__ == "__main__":
    main()
