"""The profitability guard that learns (docs/plan-format.md, appendix K): measured
evidence decides a delight rule where it is enough, the ratio test elsewhere; every
engine agrees; the evidence is part of the plan version; errors are located."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from treatment_engine import Engine, PlanError
from treatment_engine.evidence import Estimate, RuleEvidence, evidence_document, lower_bound
from treatment_engine.load import read_plan_dir
from treatment_engine.sql.duckdb_backend import DuckDBBackend

from .conftest import write_plan

AS_OF = date(2026, 11, 1)
PLAN = """
segments:
  - {id: young, if: "age < 30"}
  - {id: rest}
value_tiers:
  field: annual_value
  tiers: [{id: gold, min: 1000}, {id: bronze, min: 0}]
channels:
  email: {}
actions:
  gift: {kind: delight, cost: 20}
  voucher: {kind: delight, cost: 5}
  tips: {kind: contain}
policy:
  value_field: annual_value
  delight_max_cost_ratio: 0.01
GUARD
rules:
  - id: gift-rule
    priority: 20
    when: {if: "spend > 100"}
    then: {treatment: delight, actions: [gift], channels: [email]}
  - id: voucher-rule
    priority: 10
    then: {treatment: delight, actions: [voucher], channels: [email]}
default: {treatment: contain, actions: [tips], channels: [email]}
metrics:
  - {id: revenue_90d, event: payment, compute: sum, field: amount, within: 90d, value: 1}
"""
GUARD = """  profitability:
    evidence: {file: evidence/revenue_90d.json, metric: revenue_90d, confidence: 0.9, min_customers: 1000}
"""
EVIDENCE = evidence_document("revenue_90d", {
    # Overall it does not pay back (10 - 1.28 x 2 < 20); young gold customers it does.
    "gift-rule": RuleEvidence(overall=Estimate(treated=5000, control=500, uplift=10, std_error=2, df=600),
                              cells={"young/-/gold": Estimate(treated=1500, control=200, uplift=60,
                                                              std_error=5, df=250)}),
    # Too few customers: the ratio test still decides.
    "voucher-rule": RuleEvidence(overall=Estimate(treated=300, control=30, uplift=-50, std_error=1)),
}, as_of="2026-10-01")


def plan_texts(guard: str = GUARD, evidence: dict[str, Any] | None = None) -> dict[str, str]:
    return {"rules/plan.yaml": PLAN.replace("GUARD", guard),
            "evidence/revenue_90d.json": json.dumps(EVIDENCE if evidence is None else evidence, indent=2)}


def customer(number: int, age: int, value: float, spend: float = 200) -> dict[str, Any]:
    return {"customer_id": f"c{number}", "age": age, "annual_value": value, "spend": spend}


CUSTOMERS = [
    customer(1, 45, 5000),  # rest/gold: gift-rule passes the ratio (20 <= 50); evidence says no
    customer(2, 25, 1500),  # young/gold: the ratio fails (20 > 15); the cell's evidence says yes
    customer(3, 25, 600),  # young/bronze: no cell evidence, overall says no; voucher by ratio (5 <= 6)
    customer(4, 45, 300),  # voucher fails its ratio (5 > 3), its evidence is too thin: the default
    customer(5, 25, 1500, spend=50),  # gift-rule does not match: voucher by ratio
]


def test_the_evidence_changes_exactly_the_decisions_it_says_do_not_pay_back() -> None:
    guarded = Engine.from_texts(plan_texts())
    plain = Engine.from_texts(plan_texts(guard=""))
    before = [d.rule for d in plain.decide_many(CUSTOMERS, AS_OF)]
    after = [d.rule for d in guarded.decide_many(CUSTOMERS, AS_OF)]
    assert before == ["gift-rule", "voucher-rule", "voucher-rule", "default", "voucher-rule"]
    assert after == ["voucher-rule", "gift-rule", "voucher-rule", "default", "voucher-rule"]


def test_explain_shows_the_evidence_it_used() -> None:
    engine = Engine.from_texts(plan_texts())
    skipped = engine.explain(CUSTOMERS[0], AS_OF).trace.rules[0]
    assert skipped.outcome == "skipped"
    assert "evidence (revenue_90d, overall, 5,500 customers)" in skipped.reason
    assert "lower bound 7.43" in skipped.reason and "< cost 20" in skipped.reason
    decided = engine.explain(CUSTOMERS[1], AS_OF).trace.rules[0]
    assert decided.outcome == "decided" and "young/-/gold, 1,700 customers" in decided.reason


def test_the_lower_bound_is_student_t_from_scipy() -> None:
    from scipy import stats

    estimate = Estimate(treated=100, control=100, uplift=3.0, std_error=1.5, df=40)
    assert lower_bound(estimate, 0.95) == pytest.approx(3.0 - stats.t.ppf(0.95, 40) * 1.5)
    normal = Estimate(treated=100, control=100, uplift=3.0, std_error=1.5)
    assert lower_bound(normal, 0.9) == pytest.approx(3.0 - 1.2815515655 * 1.5)


def test_duckdb_decides_as_python_with_evidence(tmp_path: Path) -> None:
    engine = Engine.from_texts(plan_texts())
    path = tmp_path / "customers.jsonl"
    path.write_text("".join(json.dumps(c) + "\n" for c in CUSTOMERS), encoding="utf-8")
    sql = [record["rule"] for record in DuckDBBackend(engine.plan).records(path, AS_OF)]
    assert sql == [d.rule for d in engine.decide_many(CUSTOMERS, AS_OF)]


def test_the_evidence_is_part_of_the_plan_version_and_reproduced(tmp_path: Path) -> None:
    from treatment_engine.reproduce import reproduce_decision
    from treatment_engine.store import DecisionLog

    write_plan(tmp_path, plan_texts())
    engine = Engine.load(tmp_path)
    texts = read_plan_dir(tmp_path)
    assert "evidence/revenue_90d.json" in texts
    changed = json.loads(json.dumps(EVIDENCE))
    changed["rules"]["gift-rule"]["overall"]["uplift"] = 100
    assert Engine.from_texts(plan_texts(evidence=changed)).plan.version != engine.plan.version
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        log.decisions.remember_plan(engine.plan, texts)
        decisions = list(engine.decide_many(CUSTOMERS[:2], AS_OF))
        ids = log.decisions.record(engine.plan, zip(CUSTOMERS[:2], decisions, strict=True))
        for decision_id, decision in zip(ids, decisions, strict=True):
            reproduced = reproduce_decision(log.decisions, decision_id)
            assert reproduced.reproduces and reproduced.again["rule"] == decision.rule
    finally:
        log.close()


def test_a_missing_file_and_another_metric_are_located_errors() -> None:
    with pytest.raises(PlanError) as missing:
        Engine.from_texts({"rules/plan.yaml": PLAN.replace("GUARD", GUARD)})
    issue = missing.value.issues[0]
    assert (issue.code, str(issue.location)) == ("unknown-ref", "rules/plan.yaml:18:22")
    assert "no evidence file 'evidence/revenue_90d.json'" in issue.message
    other = {**EVIDENCE, "metric": "churned_90d"}
    with pytest.raises(PlanError) as wrong:
        Engine.from_texts(plan_texts(evidence=other))
    issue = wrong.value.issues[0]
    assert issue.code == "evidence-metric" and str(issue.location) == "evidence/revenue_90d.json:3:13"


def test_the_guard_names_a_metric_of_the_plan() -> None:
    with pytest.raises(PlanError) as error:
        Engine.from_texts(plan_texts(guard=GUARD.replace("metric: revenue_90d", "metric: revenue_9d")))
    [issue] = [i for i in error.value.issues if i.code == "unknown-ref"]
    assert "unknown metric 'revenue_9d'" in issue.message and "revenue_90d" in (issue.hint or "")


def test_bad_evidence_files_are_located_errors_all_at_once() -> None:
    broken = {**EVIDENCE, "rules": {"gift-rule": {"overall": {"treated": "many", "control": 1,
                                                                "uplift": 1, "std_error": -1}}}}
    with pytest.raises(PlanError) as error:
        Engine.from_texts({**plan_texts(evidence=broken), "evidence/other.json": '{"format": "x",\n  "metric": 1}'})
    where = sorted(str(issue.location) for issue in error.value.issues)
    assert any(w.startswith("evidence/other.json:") for w in where)
    assert any(w.startswith("evidence/revenue_90d.json:") for w in where)
    assert len([w for w in where if w.startswith("evidence/revenue_90d.json:")]) == 2  # treated, std_error


def test_a_plan_directory_reads_only_json_under_evidence(tmp_path: Path) -> None:
    write_plan(tmp_path, {**plan_texts(), "evidence/notes.txt": "not read", "rules/old.json": "{not read"})
    assert sorted(read_plan_dir(tmp_path)) == ["evidence/revenue_90d.json", "rules/plan.yaml"]


def test_lint_warns_of_a_rule_the_evidence_says_does_not_pay_back(tmp_path: Path) -> None:
    from treatment_engine.lint import lint_plan

    write_plan(tmp_path, plan_texts())
    found = [f for f in lint_plan(tmp_path).findings if f.code == "TP013"]
    assert [f.location.path for f in found] == ["rules/plan.yaml"]
    assert "rule 'gift-rule' does not pay back on the evidence" in found[0].message
    assert "lower bound 7.43" in found[0].message
    write_plan(tmp_path, plan_texts(guard=""))
    assert not [f for f in lint_plan(tmp_path).findings if f.code == "TP013"]
