"""#15 item 7 end to end: decisions simulated, outcomes drawn with known effects, measured
with --write-evidence; the estimates find the planted effects, and the plan with that
evidence changes exactly the decisions whose rule the evidence says does not pay back."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from treatment_engine import Engine
from treatment_engine.cli import cli

from .conftest import REPO

AS_OF = date(2026, 11, 1)
GUARD = """
  profitability:
    evidence: {file: evidence/revenue_90d.json, metric: revenue_90d, confidence: 0.9, min_customers: 100}
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, list[dict]]:
    out = tmp_path_factory.mktemp("evidence")
    runner = CliRunner()
    for args in (["simulate", "--plan", str(REPO), "--sample", "8000", "--as-of", AS_OF.isoformat(), "-q",
                  "--output", str(out / "decisions.parquet")],
                 ["sample", "--plan", str(REPO), "--outcomes", str(out / "decisions.parquet"),
                  "--truth", str(out / "truth.json"), "--output", str(out / "outcomes.jsonl")],
                 ["measure", "--plan", str(REPO), "--decisions", str(out / "decisions.parquet"),
                  "--events", str(out / "outcomes.jsonl"), "--as-of", "2027-03-01", "--format", "json",
                  "--write-evidence", str(out / "evidence" / "revenue_90d.json"),
                  "--evidence-metric", "revenue_90d"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    evidence = json.loads((out / "evidence" / "revenue_90d.json").read_text(encoding="utf-8"))
    return out, evidence, json.loads((out / "truth.json").read_text(encoding="utf-8"))


def test_the_evidence_finds_the_planted_effects(measured: tuple[Path, dict, list[dict]]) -> None:
    _, evidence, truth = measured
    planted = {(t["rule"], t["arm"]): t["effect"] for t in truth if t["metric"] == "revenue_90d"
               and t["arm"] in ("champion", "treated") and t["control"] in ("holdout", "universal_holdout")}
    checked = 0
    for rule, found in evidence["rules"].items():
        overall = found.get("overall")
        if overall is None or overall["std_error"] == 0:
            continue
        effect = planted.get((rule, "champion"), planted.get((rule, "treated")))
        assert effect is not None, rule
        assert abs(overall["uplift"] - effect) <= 4 * overall["std_error"], (rule, overall, effect)
        checked += 1
    assert checked >= 5 and evidence["metric"] == "revenue_90d"
    assert all(key.count("/") == 2 for found in evidence["rules"].values() for key in found.get("cells", {}))


def test_the_plan_with_the_evidence_decides_otherwise_only_where_it_says_so(
        measured: tuple[Path, dict, list[dict]], tmp_path: Path) -> None:
    out, _, _ = measured
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, tmp_path / folder)
    shutil.copytree(out / "evidence", tmp_path / "evidence")
    policy = tmp_path / "rules" / "policy.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("policy:\n", "policy:" + GUARD, 1), encoding="utf-8")
    plain, guarded = Engine.load(REPO), Engine.load(tmp_path)
    assert guarded.plan.evidence_guard is not None
    verdicts = {rule.id: rule.evidence for rule in guarded.plan.rules if rule.evidence is not None}
    assert verdicts, "some rule has enough evidence"
    profiles = [json.loads(line) for line in (REPO / "examples" / "customers.jsonl").read_text().splitlines()]
    changed = 0
    for before, after in zip(plain.decide_many(profiles, AS_OF), guarded.decide_many(profiles, AS_OF), strict=True):
        if before.rule == after.rule:
            continue
        changed += 1
        verdict = verdicts[before.rule].for_cell((before.segment, before.lifecycle_stage, before.value_tier)) \
            if before.rule in verdicts else None
        # Either the rule that decided before fails its evidence here, or a rule above it
        # that the ratio test had refused passes on its evidence.
        if verdict is None or verdict.pays:
            rule = verdicts[after.rule].for_cell((after.segment, after.lifecycle_stage, after.value_tier))
            assert rule is not None and rule.pays, (before.rule, after.rule)
    assert changed > 0  # seeded: the evidence of several rules says they do not pay back


def test_each_rules_overall_figures_pool_from_its_cells(measured: tuple[Path, dict, list[dict]]) -> None:
    """--write-evidence measures once, by cell, and pools the cells for the overall figures:
    the pool is what measuring without --by gives."""
    from treatment_engine.measure.attribution import BY_DIMENSIONS
    from treatment_engine.measure.duckdb_stats import measure_duckdb
    from treatment_engine.measure.evidence_file import pooled
    from treatment_engine.measure.inputs import parse_instant
    from treatment_engine.plan import load_plan

    out, _, _ = measured
    plan, as_of = load_plan(REPO), parse_instant("2027-03-01") or 0.0
    decisions, events = str(out / "decisions.parquet"), str(out / "outcomes.jsonl")
    whole = measure_duckdb(plan, decisions, events, as_of)
    pool = pooled(measure_duckdb(plan, decisions, events, as_of, by=BY_DIMENSIONS))
    assert pool.assigned == whole.assigned
    assert [g.key for g in pool.groups] == [g.key for g in whole.groups]
    for mine, theirs in zip(pool.groups, whole.groups, strict=True):
        assert (mine.customers, mine.n) == (theirs.customers, theirs.n)
        assert (mine.sum, mine.sum_squares, mine.cost) == pytest.approx((theirs.sum, theirs.sum_squares, theirs.cost))


def test_a_plan_version_nothing_was_measured_of_is_refused(measured: tuple[Path, dict, list[dict]]) -> None:
    """A mistyped --evidence-version wrote an evidence file of that version with no rules in
    it, and said so as a success."""
    out, evidence, _ = measured
    written = out / "evidence" / "typo.json"
    result = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(out / "decisions.parquet"),
                                      "--events", str(out / "outcomes.jsonl"), "--as-of", "2027-03-01",
                                      "--write-evidence", str(written), "--evidence-metric", "revenue_90d",
                                      "--evidence-version", "0123456789abcdef"])
    assert result.exit_code == 2, result.output
    assert ("--write-evidence: nothing of plan version '0123456789abcdef' was measured on revenue_90d "
            f"(measured: {evidence['plan_version']})") in result.output
    assert not written.exists()


def test_the_evidence_options_without_write_evidence_are_refused(tmp_path: Path) -> None:
    """--evidence-metric and --evidence-version were passed over without a word when
    --write-evidence was left out: the evidence the user asked for was never written."""
    for option, value in (("--evidence-metric", "revenue_90d"), ("--evidence-version", "aa658616789fec03")):
        result = CliRunner().invoke(cli, ["measure", "--plan", str(REPO), "--decisions", str(tmp_path / "d.parquet"),
                                          "--events", str(tmp_path / "e.jsonl"), option, value])
        assert result.exit_code == 2, result.output
        assert f"{option} says what --write-evidence FILE writes: give --write-evidence too" in result.output


@pytest.mark.parametrize("amount", [1e200, float("inf")])
def test_a_cell_with_a_value_too_large_to_compute_with_gives_no_estimate(amount: float) -> None:
    """One payment of 1e200 (its square overflows the sum of squares) or 1e400 (infinite)
    made `measure --write-evidence` stop with a traceback: the Welch standard error was
    NaN, which the evidence file's model refuses. Such a cell has no estimate; the
    others keep theirs."""
    from treatment_engine.measure.attribution import GroupStats, Measured
    from treatment_engine.measure.evidence_file import evidence_for
    from treatment_engine.plan import plan_from_texts

    plan = plan_from_texts({"rules/p.yaml": "actions:\n  gift: {kind: delight, cost: 5}\nrules:\n  - id: r\n"
                            "    then: {treatment: delight, actions: [gift], holdout: 0.5}\n"
                            "metrics:\n  - {id: revenue, event: payment, compute: sum, field: amount, within: 1d, "
                            "value: 1}\n"})
    v = plan.version
    young, old = "segment=young, lifecycle_stage=-, value_tier=-", "segment=old, lifecycle_stage=-, value_tier=-"
    groups = []
    for cell, top in ((young, amount), (old, 40.0)):
        for arm, values in (("champion", [top] + [10.0] * 99), ("holdout", [8.0, 12.0] * 50)):
            total = sum(values)
            squares = sum(x * x for x in values) if top != 1e200 or arm == "holdout" else float("inf")
            groups.append(GroupStats(v, "r", "r", cell, arm, "revenue", 100, 100, total, squares, 0.0))
    assigned = {(g.plan_version, g.experiment, g.rule, g.cell, g.arm): 100 for g in groups}
    document = evidence_for(plan, plan.metrics[0], Measured(tuple(groups), assigned))
    assert list(document["rules"]["r"]["cells"]) == ["old/-/-"]
