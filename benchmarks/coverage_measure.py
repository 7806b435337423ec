"""Does `treatment measure` recover known effects? (issue 15: "How it is checked")

    python benchmarks/coverage_measure.py [--runs 400] [--customers 5000]

The bundled plan decides the sample customers once (its universal holdout, rule holdout
and challenger assign the arms). Each run then draws new true effects per rule, arm and
metric (half of them exactly zero) and new outcome events from them (seeded:
treatment_engine/measure/synthetic.py), measures, and checks every comparison with at
least 30 customers with a value in both arms against its truth:

- coverage: the share of 95% intervals holding the true difference (target 93-97%);
- false "pays back": the share of comparisons of a metric with a value whose true effect
  is zero that were called *pays back* (target at most 5%).

Too slow for CI (about 1.5 s a run on two shared cores); tests/test_measure_stats.py runs
a quick version of the same check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7, help="the sample customers' seed")
    args = parser.parse_args()

    from treatment_engine.measure.synthetic import Recovery, check_recovery, sample_decisions
    from treatment_engine.plan import load_plan

    plan = load_plan(REPO)
    decisions = sample_decisions(plan, args.customers, args.seed, "2026-11-01")
    started, total = time.perf_counter(), Recovery()
    for run in range(args.runs):
        one = check_recovery(plan, decisions, [1000 + run])
        total.compared += one.compared
        total.covered += one.covered
        total.null_priced += one.null_priced
        total.null_pays_back += one.null_pays_back
        if (run + 1) % 50 == 0:
            print(f"{run + 1} runs: coverage {total.coverage:.3f} over {total.compared:,} comparisons", file=sys.stderr)
    elapsed = time.perf_counter() - started
    coverage_ok = 0.93 <= total.coverage <= 0.97
    false_ok = total.false_pays_back <= 0.05
    print(f"| runs | customers | comparisons | 95% intervals holding the truth | zero-effect comparisons called "
          f"pays back | seconds |\n|---|---|---|---|---|---|\n| {args.runs} | {args.customers:,} | "
          f"{total.compared:,} | {total.coverage:.1%} ({'in' if coverage_ok else 'OUTSIDE'} 93-97%) | "
          f"{total.null_pays_back} of {total.null_priced} ({total.false_pays_back:.1%}) | {elapsed:.0f} |")
    return 0 if coverage_ok and false_ok else 1


if __name__ == "__main__":
    sys.exit(main())
