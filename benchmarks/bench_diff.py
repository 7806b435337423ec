"""`treatment diff` on DuckDB against the in-process diff, same customers, same run.

    python benchmarks/bench_diff.py [--customers 200000] [--rounds 3]

The customers are `treatment sample` output (Parquet), made once per run. The two plans
are the bundled plan and the same plan with a stricter delight ratio (0.01 for 0.03),
a real edit that moves customers between rules. Each round runs both back ends in fresh
processes, alternating, `treatment diff --format json`; their JSON must be equal (costs to
the cent) before any time is printed. CPU seconds (the children's, every thread) are
printed beside the wall clock, steadier on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TREATMENT = str(Path(sys.executable).parent / "treatment")


def run(args: list[str]) -> tuple[float, float, dict]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([TREATMENT, *args], capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, json.loads(done.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        for part in ("rules", "segments"):
            shutil.copytree(REPO / part, folder / "new" / part)
        policy = folder / "new" / "rules" / "policy.yaml"
        policy.write_text(policy.read_text().replace("delight_max_cost_ratio: 0.03", "delight_max_cost_ratio: 0.01"))
        customers = folder / "customers.parquet"
        subprocess.run([TREATMENT, "sample", "--plan", str(REPO), "--n", str(options.customers), "--as-of",
                        "2026-11-01", "-o", str(customers)], check=True, capture_output=True)
        times: dict[str, list[tuple[float, float]]] = {"python": [], "duckdb": []}
        results = {}
        for _ in range(options.rounds):
            for backend in times:
                seconds, cpu, found = run(["diff", "--base", str(REPO), "--plan", str(folder / "new"), "--profiles",
                                           str(customers), "--as-of", "2026-11-01", "--format", "json",
                                           "--backend", backend])
                times[backend].append((seconds, cpu))
                results[backend] = found
    python, duckdb = results["python"], results["duckdb"]
    costs = python.pop("cost"), duckdb.pop("cost")
    if python != duckdb or any(abs(costs[0][k] - costs[1][k]) > 0.011 for k in ("base", "new")):
        print("the back ends disagree: no times printed", file=sys.stderr)
        return 1
    print(f"{platform.python_version()}, {platform.machine()}, {options.customers:,} customers, "
          f"{python['changed']:,} change, median of {options.rounds}")
    floor = statistics.median(s for s, _ in times["python"]), statistics.median(c for _, c in times["python"])
    for backend, measured in times.items():
        wall, cpu = statistics.median(s for s, _ in measured), statistics.median(c for _, c in measured)
        print(f"{backend:7} {wall:7.2f} s ({wall / floor[0]:.2f}x)   CPU {cpu:7.2f} s ({cpu / floor[1]:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
