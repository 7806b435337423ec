"""What `treatment measure` costs in DuckDB, against a hand-written floor (issue 15).

    python benchmarks/bench_measure.py [--decisions 10000000] [--events 30000000] [--rounds 3] [--data DIR] [--report]

Generates (with DuckDB, seeded by row number) a decisions file (Parquet, the columns of
appendix G; one rule experiment, a 10% holdout, decisions over 30 days, a tenth of the
customers decided twice) and an events file (JSON lines: churned and payment events over
120 days). Then measures, each round in a fresh process (so peak memory is its own):

- ours: ``measure_duckdb`` with a plan of two metrics (churn rate and revenue sum, 90 days);
  with ``--report``, also the report's curves, as ``treatment measure --report`` draws them;
- floor: one hand-written DuckDB query computing the same sufficient statistics from the
  same files (first decision per customer, both window edges, open windows left out),
  without the canonical view that reads events by the spec's type rules.

Both must return the same numbers (checked: counts equal, sums within 1e-9 relative, as
parallel sums may add in another order). Prints a markdown table for docs/benchmarks.md:
best time of the rounds, the ratio to the floor, each variant's CPU seconds (user + system:
steadier than the clock on a shared machine) and peak resident memory. ``--data DIR``
keeps the generated files there and reuses them on the next run of the same size
(10 million decisions and 30 million events take minutes to write).
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PLAN = {"rules/plan.yaml": "rules:\n  - {id: r, then: {treatment: none, holdout: 0.1}}\n",
        "rules/metrics.yaml": "metrics:\n"
        "  - {id: churn, event: churned, compute: rate, within: 90d, higher_is_better: false}\n"
        "  - {id: revenue, event: payment, compute: sum, field: amount, within: 90d}\n"}
AS_OF = 1_798_761_600.0  # 2027-01-01 00:00 UTC: the decisions of the last weeks still have open windows
WINDOW = 90 * 86_400


def generate(folder: Path, decisions: int, events: int) -> tuple[str, str]:
    import duckdb

    customers = max(decisions * 10 // 11, 1)
    decided, happened = str(folder / "decisions.parquet"), str(folder / "events.jsonl")
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    connection.execute(f"""COPY (SELECT 'c' || (i % {customers}) AS customer_id, NULL::VARCHAR AS segment,
            NULL::VARCHAR AS lifecycle_stage, NULL::VARCHAR AS value_tier, 'none' AS treatment,
            CASE WHEN hash(i % {customers}) % 10 = 0 THEN 'default' ELSE 'r' END AS rule,
            []::VARCHAR[] AS actions, []::VARCHAR[] AS channels,
            CASE WHEN hash(i % {customers}) % 10 = 0 THEN 0.0 ELSE 2.5 END AS cost, 'v1' AS plan_version,
            strftime(DATE '2026-09-01' + CAST(i // {customers} * 7 + i % 30 AS INTEGER), '%Y-%m-%d') AS as_of,
            CASE WHEN hash(i % {customers}) % 10 = 0 THEN 'holdout' ELSE 'champion' END AS arm,
            'r' AS experiment, CAST(hash(i % {customers}) % 10000 AS BIGINT) AS bucket,
            NULL::STRUCT(rule VARCHAR, treatment VARCHAR, actions VARCHAR[], channels VARCHAR[], cost DOUBLE)
                AS would_have, NULL::VARCHAR AS error
        FROM range({decisions}) t(i)) TO '{decided}' (FORMAT PARQUET)""")
    connection.execute(f"""COPY (SELECT 'c' || (hash(i) % {customers}) AS customer_id,
            CASE WHEN i % 3 = 0 THEN 'churned' ELSE 'payment' END AS type,
            strftime(TIMESTAMP '2026-09-01' + to_seconds(CAST(hash(i * 7) % (120 * 86400) AS BIGINT)),
                     '%Y-%m-%dT%H:%M:%SZ') AS timestamp,
            CASE WHEN i % 3 <> 0 THEN CAST(hash(i * 13) % 10000 AS DOUBLE) / 100 END AS amount
        FROM range({events}) t(i)) TO '{happened}' (FORMAT JSON)""")
    connection.close()
    return decided, happened


def floor_query(decided: str, happened: str) -> str:
    per_metric = []
    for metric, kind, value in (("churn", "churned", "CASE WHEN count(e.ts) > 0 THEN 1.0 ELSE 0.0 END"),
                                ("revenue", "payment", "coalesce(sum(e.amount), 0.0)")):
        per_metric.append(f"""SELECT f.arm, '{metric}' AS metric, f.cost, {value} AS value FROM firsts f
            LEFT JOIN events e ON e.customer_id = f.customer_id AND e.type = '{kind}'
             AND e.ts >= f.t0 AND e.ts <= f.t0 + {WINDOW}
            WHERE f.t0 + {WINDOW} <= {AS_OF} GROUP BY f.arm, f.customer_id, f.cost, f.seq""")
    return f"""WITH d AS (SELECT customer_id, arm, cost, epoch(CAST(CAST(as_of AS DATE) AS TIMESTAMP)) AS t0,
                             row_number() OVER () AS seq FROM read_parquet('{decided}')),
        firsts AS (SELECT * FROM d QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY t0, seq) = 1),
        events AS (SELECT customer_id, type, epoch(CAST(timestamp AS TIMESTAMPTZ)) AS ts, amount
                   FROM read_json('{happened}', format = 'newline_delimited', records = true,
                        columns = {{customer_id: 'VARCHAR', type: 'VARCHAR', timestamp: 'VARCHAR', amount: 'DOUBLE'}})),
        v AS ({' UNION ALL '.join(per_metric)})
        SELECT arm, metric, count(*), count(value), sum(value), sum(value * value), sum(cost)
        FROM v GROUP BY ALL ORDER BY ALL"""


def ours(plan: Any, decided: str, happened: str, report: bool) -> list[list]:
    """measure's statistics as rows (with ``report``, the curves drawn too, as the CLI does)."""
    from treatment_engine.measure.curves_sql import measure_with_curves_duckdb
    from treatment_engine.measure.duckdb_stats import measure_duckdb
    from treatment_engine.sql.duckdb_backend import Settings

    settings = Settings(memory_limit="1500MB")
    if report:
        measured, drawn = measure_with_curves_duckdb(plan, decided, happened, AS_OF, settings)
        assert len(drawn) == 2 and all(drawn.values()), "no curves drawn"
    else:
        measured = measure_duckdb(plan, decided, happened, AS_OF, settings)
    return sorted([g.arm, g.metric, g.customers, g.n, g.sum, g.sum_squares, g.cost] for g in measured.groups)


def one(variant: str, decided: str, happened: str) -> None:
    """A child process: run one variant, print its time, peak memory and result. The clock
    starts after the imports and the plan's compile, which both variants would pay once."""
    import duckdb

    import treatment_engine.measure.curves_sql  # noqa: F401  (imported before the clock, as the plan's compile)
    from treatment_engine.plan import plan_from_texts

    plan = plan_from_texts(PLAN)
    started = time.perf_counter()
    if variant in ("ours", "ours-report"):
        rows = ours(plan, decided, happened, variant == "ours-report")
    else:
        connection = duckdb.connect()
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET memory_limit = '1500MB'")
        rows = sorted([r[0], r[1], int(r[2]), int(r[3]), float(r[4]), float(r[5]), float(r[6])]
                      for r in connection.execute(floor_query(decided, happened)).fetchall())
    seconds = time.perf_counter() - started
    used = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"seconds": seconds, "cpu": used.ru_utime + used.ru_stime,
                      "peak_mb": used.ru_maxrss / 1024, "rows": rows}))  # ru_maxrss: KiB on Linux


def agree(ours: list[list], floor: list[list]) -> bool:
    """Same groups and counts; sums equal within 1e-9 relative (parallel sums add in any order)."""
    return len(ours) == len(floor) and all(
        a[:4] == b[:4] and all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6) for x, y in zip(a[4:], b[4:], strict=True))
        for a, b in zip(ours, floor, strict=True))


def prepared(folder: Path, decisions: int, events: int) -> tuple[str, str]:
    """The generated files in ``folder``, made unless a run of the same size left them there."""
    marker = folder / "made.json"
    size = {"decisions": decisions, "events": events}
    if marker.is_file() and json.loads(marker.read_text()) == size:
        return str(folder / "decisions.parquet"), str(folder / "events.jsonl")
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    made = generate(folder, decisions, events)
    marker.write_text(json.dumps(size))
    print(f"generated in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=10_000_000)
    parser.add_argument("--events", type=int, default=30_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data", type=Path, help="keep the generated files here (and reuse them)")
    parser.add_argument("--report", action="store_true", help="ours also draws the report's curves (measure --report)")
    parser.add_argument("--one", nargs=3, metavar=("VARIANT", "DECISIONS", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        decided, happened = prepared(args.data or Path(scratch), args.decisions, args.events)
        mine = "ours-report" if args.report else "ours"
        best: dict[str, dict] = {}
        results: list[dict] = []
        for _ in range(args.rounds):
            for variant in (mine, "floor"):  # alternating, so a busy moment hits both
                child = subprocess.run([sys.executable, __file__, "--one", variant, decided, happened],
                                       capture_output=True, text=True)
                if child.returncode != 0:
                    print(f"{variant} failed:", child.stderr[-2000:], file=sys.stderr)
                    return 1
                result = json.loads(child.stdout.strip().splitlines()[-1])
                print(f"{variant}: {result['seconds']:.1f} s, {result['cpu']:.1f} s CPU, "
                      f"{result['peak_mb']:,.0f} MB", file=sys.stderr)
                results.append(result)
                if variant not in best or result["seconds"] < best[variant]["seconds"]:
                    best[variant] = result
    fastest, floor = best[mine], best["floor"]
    if not all(agree(result["rows"], floor["rows"]) for result in results):  # every round of both
        print("the two disagree:", [result["rows"] for result in results], file=sys.stderr)
        return 1
    print(f"| decisions | events | measure{' --report' if args.report else ''} (DuckDB) | hand-written floor | ratio | CPU (ours / floor) "
          f"| peak memory (ours / floor) |\n|---|---|---|---|---|---|---|\n"
          f"| {args.decisions:,} | {args.events:,} | {fastest['seconds']:.1f} s | {floor['seconds']:.1f} s "
          f"| {fastest['seconds'] / floor['seconds']:.2f}x | {fastest['cpu']:.1f} s / {floor['cpu']:.1f} s "
          f"({fastest['cpu'] / floor['cpu']:.2f}x) | {fastest['peak_mb']:,.0f} MB / {floor['peak_mb']:,.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
