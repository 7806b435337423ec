"""Memory of measuring from the decision log (issue 15): streamed against read whole.

    python benchmarks/bench_measure_log.py [--decisions 100000,400000]

For each size, a SQLite decision log of that many decisions (one rule experiment with a
10% holdout, one decision per customer) and a small events file; then, each in a fresh
process (so peak memory is its own), ``measure_duckdb`` over

- streamed: :func:`~treatment_engine.measure.inputs.log_decision_reader`, the log read a
  batch at a time (what ``treatment measure --decisions URL`` and ``GET /v1/results`` do);
- whole: every decision built as a Python object, then one Arrow table (what they did
  before).

Both must give the same statistics (checked). Prints a markdown table: peak resident
memory and time per variant, and for the whole log the peak before DuckDB starts (the
Python objects, which grow with the log; DuckDB's own share is bounded by its memory
limit, 1 GB by default, past which it spills to disk).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

PLAN = {"rules/plan.yaml": "rules:\n  - {id: r, then: {treatment: none, holdout: 0.1}}\n",
        "rules/metrics.yaml": "metrics:\n"
        "  - {id: revenue, event: payment, compute: sum, field: amount, within: 30d}\n"}
START = datetime(2026, 9, 1, tzinfo=UTC)
AS_OF = (START + timedelta(days=120)).timestamp()


def build(folder: Path, decisions: int) -> tuple[str, str]:
    """A log of ``decisions`` rows over 60 days, and payments for a tenth of the customers."""
    from sqlalchemy import insert

    from treatment_engine.store import DecisionLog
    from treatment_engine.store.tables import DecisionRow

    url = f"sqlite:///{folder / 'log.db'}"
    log = DecisionLog(url)
    table = DecisionRow.__table__  # type: ignore[attr-defined]
    with log.database.engine.begin() as connection:
        for start in range(0, decisions, 50_000):
            rows = []
            for i in range(start, min(start + 50_000, decisions)):
                held = i % 10 == 0
                moment = START + timedelta(seconds=i * 60 * 86_400 // decisions)
                rows.append({"id": f"{i:036d}", "customer_id": f"c{i}", "plan_version": "v1", "rule": "r",
                             "treatment": "none", "actions": "[]", "channels": "[]", "cost": 0.0 if held else 2.5,
                             "as_of": moment.date(), "created_at": moment, "arm": "holdout" if held else "champion",
                             "experiment": "r", "bucket": i % 10_000})
            connection.execute(insert(table), rows)
    log.close()
    events = folder / "events.jsonl"
    with events.open("w") as stream:
        for i in range(0, decisions, 10):
            moment = START + timedelta(seconds=i * 60 * 86_400 // decisions + 86_400)
            stream.write(json.dumps({"customer_id": f"c{i}", "type": "payment", "amount": i % 100,
                                     "timestamp": moment.isoformat().replace("+00:00", "Z")}) + "\n")
    return url, str(events)


def one(variant: str, url: str, events: str) -> None:
    from treatment_engine.measure.duckdb_stats import measure_duckdb
    from treatment_engine.measure.inputs import decisions_table, log_decisions, streamed_log_decisions
    from treatment_engine.plan import plan_from_texts

    plan = plan_from_texts(PLAN)
    started = time.perf_counter()
    python_peak: float | None = None
    if variant == "streamed":
        with streamed_log_decisions(url) as reader:
            measured = measure_duckdb(plan, reader, events, AS_OF)
    else:
        from treatment_engine.store import DecisionLog
        log = DecisionLog(url, create=False)
        table = decisions_table(log_decisions(log.database.engine))
        log.close()
        python_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before DuckDB's work
        measured = measure_duckdb(plan, table, events, AS_OF)
    seconds = time.perf_counter() - started
    rows = [[g.arm, g.metric, g.customers, g.n, g.sum] for g in measured.groups]
    print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "python_peak_mb": python_peak, "rows": rows}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", default="100000,400000")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one(*args.one)
        return 0
    print("| decisions in the log | streamed: peak memory, time | whole: peak memory (before DuckDB's work), time |\n"
          "|---|---|---|")
    for size in (int(part) for part in args.decisions.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            url, events = build(Path(folder), size)
            found = {}
            for variant in ("streamed", "whole"):
                child = subprocess.run([sys.executable, __file__, "--one", variant, url, events],
                                       capture_output=True, text=True, check=True)
                found[variant] = json.loads(child.stdout.strip().splitlines()[-1])
        if found["streamed"]["rows"] != found["whole"]["rows"]:
            print("the two disagree:", found, file=sys.stderr)
            return 1
        streamed, whole = found["streamed"], found["whole"]
        print(f"| {size:,} | {streamed['peak_mb']:,.0f} MB, {streamed['seconds']:.1f} s "
              f"| {whole['peak_mb']:,.0f} MB ({whole['python_peak_mb']:,.0f} MB), {whole['seconds']:.1f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
