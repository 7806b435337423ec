"""What experiments (docs/plan-format.md, appendix H) cost, measured in one run.

    python benchmarks/bench_experiments.py [--profiles 100000] [--rows 2000000] [--rounds 5]

- in-process: the bundled default plan, whose policy has a 3% universal holdout and two
  rules an experiment, against the same plan with every experiment key taken out; the
  same sample customers, `Engine.decide_many`, rounds alternating on and off, the median
  of each (the machine is shared: a median is steadier than the best).
- DuckDB: the generated 500-rule plan of bench_simulate.py in two shapes: the default
  plan's experiments (:func:`default_shape`: a 3% universal holdout, one rule holdout with
  `control: next`, one rule challenger), and 50 experiments (:func:`with_experiments`: a
  universal holdout, and a holdout and a challenger on every tenth rule); against the
  same plan without them and against hand-written floors over the same generated Parquet
  file, `simulate_duckdb` (summary tables), rounds alternating, the median of each. The
  plain floor is bench_simulate's query (first matching rule, no consent, profit or
  experiments: it does not decide what the plan decides). Each shape's experiment floor
  (:func:`experiment_floor_sql`) hand-writes what that plan decides: consent and the
  profit ratio, the MD5 bucket as appendix H defines it, the universal holdout, each
  rule's holdout and challenger ranges, and `control: next` as a second CASE; the script
  checks that its rule, treatment and arm equal the engine's for every customer before
  timing anything.
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
from typing import TYPE_CHECKING

import yaml

if TYPE_CHECKING:
    from plangen import GenRule

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
CONSENT_COLUMNS = {"consent.email": "consent.email", "consent.sms": "consent.sms",
                   "consent_push": "consent_push", "consent_phone": "consent_phone"}
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
    return _experimenting(files, lambda index, rule: (0.1, 0.2) if index % 10 == 0 else (None, None))


def default_shape(files: dict[str, str], rules: list[GenRule]) -> dict[str, str]:
    """The bundled plan's experiments (rules/policy.yaml, retention.yaml, onboarding.yaml)
    on the generated plan: a 3% universal holdout, one rule holdout (10%, `control: next`)
    and one rule challenger (30%). The holdout is on the plan's first rule (highest
    priority) that treats, so the next-rule search spans every rule after it (the costliest
    place for it); the challenger on the next such rule."""
    treating = [r.id for r in sorted(rules, key=lambda r: -r.priority) if r.treatment != "none"]
    held, challenged = treating[0], treating[1]
    return _experimenting(files, lambda index, rule: (0.1 if rule["id"] == held else None,
                                                      0.3 if rule["id"] == challenged else None))


def _experimenting(files: dict[str, str],
                   shares: Callable[[int, dict], tuple[float | None, float | None]]) -> dict[str, str]:
    """A 3% universal holdout (salt `uh`), and on each rule that treats the (holdout,
    challenger `alt`) shares ``shares`` gives it; the challenger's then is the champion's."""
    out = {}
    for name, text in files.items():
        doc = yaml.safe_load(text)
        if isinstance(doc, dict) and "policy" in doc:
            doc["policy"]["holdout"] = {"share": 0.03, "salt": "uh"}
        for index, rule in enumerate(doc.get("rules") or [] if isinstance(doc, dict) else []):
            holdout, challenger = shares(index, rule)
            if rule["then"]["treatment"] == "none":
                continue
            if challenger is not None:
                rule["challengers"] = [{"id": "alt", "share": challenger, "then": dict(rule["then"])}]
            if holdout is not None:
                rule["then"]["holdout"] = {"share": holdout, "control": "next"}
        out[name] = yaml.safe_dump(doc, sort_keys=False) if isinstance(doc, dict) else text
    return out


def _rule_test(rule: GenRule) -> str:
    """Whether the rule decides a row, written by hand over the typed Parquet columns: its
    constraints and condition (SQL's NULL fails a comparison, as a missing field does in
    the spec), the profit ratio for delight, and a consented channel unless it is `none`."""
    from plangen import ACTIONS, CHANNELS

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
    if rule.treatment == "delight":
        cost = sum(ACTIONS[a]["cost"] for a in rule.actions)
        tests.append(f"{cost!r} <= 0.02 * annual_value")
    if rule.treatment != "none":
        consents = [CONSENT_COLUMNS.get(str(CHANNELS[c].get("consent")), "TRUE") for c in rule.channels]
        tests.append(f"({' OR '.join(consents)})")
    return " AND ".join(tests)


def experiment_floor_sql(rules: list[GenRule], experimenting: dict[str, tuple[int, int]], source: Path,
                         target: Path) -> str:
    """A plan of :func:`_experimenting` decided by hand in plain SQL: the champion (first
    rule that applies), then the universal holdout (salt `uh`, buckets 0-299), then the
    champion's experiment (salt: its rule id; ``experimenting`` gives each rule's holdout
    and challenger ends: holdout [0, held) gets the next rule that applies, challenger
    `alt` [held, alt) its own then, which is the champion's)."""
    ordered = sorted(rules, key=lambda r: -r.priority)
    tests = [_rule_test(rule) for rule in ordered]
    ids = ", ".join(f"'{r.id}'" for r in ordered)
    champion = " ".join(f"WHEN {t} THEN {i}" for i, t in enumerate(tests))
    held = [i for i, r in enumerate(ordered) if experimenting.get(r.id, (0, 0))[0]]
    after = " ".join(f"WHEN {i} > champion AND {t} THEN {i}" for i, t in enumerate(tests) if held and i > held[0])

    def by_champion(pick: Callable[[GenRule], str]) -> str:
        return " ".join(f"WHEN {i} THEN {pick(r)}" for i, r in enumerate(ordered) if r.id in experimenting)

    def bucket(salt: str) -> str:  # appendix H: MD5's first 4 bytes, big-endian, modulo 10,000
        return f"(('0x' || left(md5({salt} || ':' || customer_id), 8))::UBIGINT % 10000)"
    return f"""COPY (
      WITH champion AS (
        SELECT *, CASE {champion} ELSE {len(ordered)} END AS champion FROM read_parquet('{source}')),
      hashed AS (
        SELECT *, {bucket("'uh'")} AS uh, CASE champion {by_champion(lambda r: repr(r.id))} END AS salt,
               CASE champion {by_champion(lambda r: str(experimenting[r.id][0]))} END AS held,
               CASE champion {by_champion(lambda r: str(experimenting[r.id][1]))} END AS alt FROM champion),
      armed AS (
        SELECT customer_id, champion, CASE WHEN uh < 300 THEN 'universal_holdout'
               WHEN salt IS NULL THEN 'champion' WHEN {bucket("salt")} < held THEN 'holdout'
               WHEN {bucket("salt")} < alt THEN 'alt' ELSE 'champion' END AS arm,
               CASE WHEN uh >= 300 AND salt IS NOT NULL AND {bucket("salt")} < held
                    THEN {f"CASE {after} ELSE {len(ordered)} END" if after else len(ordered)} END AS next
        FROM hashed),
      decided AS (
        SELECT customer_id, arm, CASE WHEN arm = 'universal_holdout' THEN 'holdout'
               ELSE [{ids}, 'default'][coalesce(next, champion) + 1] END AS rule FROM armed)
      SELECT customer_id, rule, CASE WHEN rule = 'default' THEN 'contain' WHEN rule = 'holdout' THEN 'none'
             ELSE split_part(rule, '-', 2) END AS treatment, arm FROM decided
    ) TO '{target}' (FORMAT PARQUET)"""


def experimenting_rules(files: dict[str, str]) -> dict[str, tuple[int, int]]:
    """The rules that carry an experiment in a plan's files of :func:`_experimenting`: rule
    id -> the end of its holdout's buckets and of its challenger's (appendix H: shares
    become ranges in order, the holdout's first)."""
    out = {}
    for text in files.values():
        for rule in (yaml.safe_load(text) or {}).get("rules") or []:
            held = round(rule["then"].get("holdout", {}).get("share", 0) * 10_000)
            challenger = round(sum(c["share"] for c in rule.get("challengers", [])) * 10_000)
            if held or challenger:
                out[rule["id"]] = (held, held + challenger)
    return out


def differing_rows(engine: Path, floor: Path) -> tuple[int, int]:
    """Customers whose (rule, treatment, arm) differ between two decision files, and all."""
    import duckdb

    row = duckdb.connect().execute(f"""
        SELECT count(*) FILTER (WHERE f.row IS DISTINCT FROM e.row), count(*)
        FROM (SELECT customer_id, (rule, treatment, arm) AS row FROM read_parquet('{engine}')) e
        FULL JOIN (SELECT customer_id, (rule, treatment, arm) AS row FROM read_parquet('{floor}')) f
        USING (customer_id)""").fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


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
    plans = {"off": base, "on": with_experiments(base), "default": default_shape(base, rules)}
    engines = {name: Engine.from_texts(files) for name, files in plans.items()}

    def floor(query: str) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            connection = duckdb.connect()
            connection.execute("SET enable_progress_bar = false")
            connection.execute(query)
            return time.perf_counter() - started
        return run

    def engine(plan: Engine) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            simulate_duckdb(plan.plan, str(source), AS_OF)
            return time.perf_counter() - started
        return run
    runs = {"floor": floor(floor_sql(rules, source, OUT / "decisions_floor.parquet"))}
    agreed = {}
    for name in ("on", "default"):
        # An experiment floor must decide what the engine decides, or it is no floor for it.
        floor_target, engine_target = OUT / f"decisions_floor_{name}.parquet", OUT / f"decisions_engine_{name}.parquet"
        runs[f"xfloor_{name}"] = floor(experiment_floor_sql(rules, experimenting_rules(plans[name]), source,
                                                            floor_target))
        runs[f"xfloor_{name}"]()
        simulate_duckdb(engines[name].plan, str(source), AS_OF, output=str(engine_target))
        differ, agreed[name] = differing_rows(engine_target, floor_target)
        if differ:
            raise SystemExit(f"the experiment floor of '{name}' differs from the engine on {differ:,} of "
                             f"{agreed[name]:,} customers")
    runs.update({name: engine(plan) for name, plan in engines.items()})
    got, cpu = median_cpu(rounds, runs)

    def versus(name: str, floor_name: str | None = None) -> str:
        def ratio(over: str) -> str:
            return f"{got[name] / got[over]:.2f}x ({cpu[name] / cpu[over]:.2f}x)"
        plain = f"**{ratio('floor')}**" if name in ("default", "on") else ratio("floor")
        return " | ".join([plain, ratio(floor_name) if floor_name else "", ratio("off") if name in engines else ""])

    def timed(name: str) -> str:
        return f"{got[name]:.2f} s ({cpu[name]:.2f} s)"
    return f"""
| DuckDB, generated 500-rule plan, {rows:,} customers (median of {rounds}; wall, CPU in brackets) | time | vs plain floor | vs its experiment floor | vs experiments off |
|---|---|---|---|---|
| plain floor: first matching rule (no consent, profit or experiments) | {timed('floor')} | 1.00 | | |
| engine, experiments off | {timed('off')} | {versus('off')} |
| **default plan's experiments** (universal holdout, one rule holdout with `control: next`, one rule challenger) | | | | |
| experiment floor: the same decisions by hand (rule, treatment, arm equal the engine's on {agreed['default']:,} of {agreed['default']:,} customers) | {timed('xfloor_default')} | {versus('xfloor_default')} |
| engine | {timed('default')} | {versus('default', 'xfloor_default')} |
| **50 experiments** (universal holdout, 50 rules with a holdout and a challenger) | | | | |
| experiment floor: the same decisions by hand (equal on {agreed['on']:,} of {agreed['on']:,} customers) | {timed('xfloor_on')} | {versus('xfloor_on')} |
| engine | {timed('on')} | {versus('on', 'xfloor_on')} |"""


def median_cpu(rounds: int, runs: dict[str, Callable[[], float]]) -> tuple[dict[str, float], dict[str, float]]:
    """:func:`median`, and the median CPU seconds of each run (user and system, this process
    and DuckDB's threads in it), which a shared machine disturbs less than the clock."""
    import resource

    def cpu_now() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime
    spent: dict[str, list[float]] = {name: [] for name in runs}

    def with_cpu(name: str, run: Callable[[], float]) -> Callable[[], float]:
        def measured() -> float:
            before = cpu_now()
            seconds = run()
            spent[name].append(cpu_now() - before)
            return seconds
        return measured
    got = median(rounds, {name: with_cpu(name, run) for name, run in runs.items()})
    return got, {name: statistics.median(values) for name, values in spent.items()}


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
