"""What experiments (docs/plan-format.md, appendix H) cost, measured in one run.

    python benchmarks/bench_experiments.py [--profiles 100000] [--rows 2000000] [--rounds 5]

- in-process: the bundled default plan, whose policy has a 3% universal holdout and two
  rules an experiment, against the same plan with every experiment key taken out; the
  same sample customers, `Engine.decide_many`, rounds alternating on and off, the median
  of each (the machine is shared: a median is steadier than the best).
- DuckDB: the generated 500-rule plan of bench_simulate.py with a universal holdout and a
  holdout and a challenger on every tenth rule, against the same plan without them and
  against bench_simulate's hand-written floor query, over the same generated Parquet file,
  `simulate_duckdb` (summary tables), rounds alternating, the median of each.
Prints markdown tables for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
REPO = HERE.parent
AS_OF = date(2026, 11, 1)


def without_experiments(files: dict[str, str]) -> dict[str, str]:
    """The plan's files with every experiment key taken out (appendix H)."""
    out = {}
    for name, text in files.items():
        doc = yaml.safe_load(text)
        if isinstance(doc, dict):
            policy = doc.get("policy") or {}
            policy.pop("holdout", None)
            policy.pop("expected_customers", None)
            for rule in doc.get("rules") or []:
                rule.pop("challengers", None)
                rule.get("then", {}).pop("holdout", None)
            text = yaml.safe_dump(doc, sort_keys=False)
        out[name] = text
    return out


def with_experiments(files: dict[str, str]) -> dict[str, str]:
    """A universal holdout, and a holdout and a challenger on every tenth rule."""
    out = {}
    for name, text in files.items():
        doc = yaml.safe_load(text)
        if isinstance(doc, dict) and "policy" in doc:
            doc["policy"]["holdout"] = {"share": 0.03, "salt": "uh"}
        for index, rule in enumerate(doc.get("rules") or [] if isinstance(doc, dict) else []):
            if index % 10 == 0 and rule["then"]["treatment"] != "none":
                rule["challengers"] = [{"id": "alt", "share": 0.2, "then": dict(rule["then"])}]
                rule["then"]["holdout"] = {"share": 0.1}
        out[name] = yaml.safe_dump(doc, sort_keys=False) if isinstance(doc, dict) else text
    return out


def plan_texts(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text(encoding="utf-8")
            for folder in ("rules", "segments") for p in sorted((root / folder).rglob("*.yaml"))}


def median(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Each run returns its seconds; alternated round by round, the median of each kept."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
    return {name: statistics.median(values) for name, values in times.items()}


def in_process(profiles: int, rounds: int) -> str:
    from treatment_engine import Engine
    from treatment_engine.sample import generate

    on = Engine.from_texts(plan_texts(REPO))
    off = Engine.from_texts(without_experiments(plan_texts(REPO)))
    people = list(generate(profiles, seed=7, as_of=AS_OF))

    def timed(engine: Engine) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            for _ in engine.decide_many(people, AS_OF):
                pass
            return time.perf_counter() - started
        return run
    got = median(rounds, {"off": timed(off), "on": timed(on)})
    arms = sum(1 for d in on.decide_many(people, AS_OF) if getattr(d, "arm", "champion") != "champion")
    return f"""
| in-process, default plan, {profiles:,} sample customers (median of {rounds}) | decisions/s | ratio |
|---|---|---|
| experiments off | {profiles / got['off']:,.0f} | 1.00 |
| experiments on ({arms:,} customers off the champion's arm) | {profiles / got['on']:,.0f} | **{got['off'] / got['on']:.2f}x** |"""


def duckdb_runs(rows: int, rounds: int) -> str:
    import duckdb
    from bench_simulate import OUT, floor_sql, make_profiles
    from plangen import generate_rules, plan_files

    from treatment_engine import Engine
    from treatment_engine.simulation import simulate_duckdb

    source = make_profiles(rows)
    rules = generate_rules(500, seed=1)
    base = plan_files(rules)
    off = Engine.from_texts(base)
    on = Engine.from_texts(with_experiments(base))

    def floor() -> float:
        started = time.perf_counter()
        connection = duckdb.connect()
        connection.execute("SET enable_progress_bar = false")
        connection.execute(floor_sql(rules, source, OUT / "decisions_floor_xp.parquet"))
        return time.perf_counter() - started

    def engine(plan: Engine) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            simulate_duckdb(plan.plan, str(source), AS_OF)
            return time.perf_counter() - started
        return run
    got = median(rounds, {"floor": floor, "off": engine(off), "on": engine(on)})
    return f"""
| DuckDB, generated 500-rule plan, {rows:,} customers (median of {rounds}) | time | vs floor | vs experiments off |
|---|---|---|---|
| floor: hand-written CASE WHEN per rule | {got['floor']:.2f} s | 1.00 | |
| engine, experiments off | {got['off']:.2f} s | {got['off'] / got['floor']:.2f}x | 1.00 |
| engine, experiments on (universal holdout, 50 rules with a holdout and a challenger) | {got['on']:.2f} s | **{got['on'] / got['floor']:.2f}x** | {got['on'] / got['off']:.2f}x |"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duckdb-only", action="store_true", help="skip the in-process comparison")
    args = parser.parse_args()
    print(f"### {date.today().isoformat()}, Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} cores")
    if not args.duckdb_only:
        print(in_process(args.profiles, args.rounds))
    print(duckdb_runs(args.rows, args.rounds))


if __name__ == "__main__":
    main()
