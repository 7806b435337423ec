"""Experiments in the plan (docs/plan-format.md, appendix H): the bucket every back end
computes, the arms' sizes, stickiness, what each arm decides, and located plan errors."""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from treatment_engine import Engine, PlanError
from treatment_engine.experiments import bucket

from .conftest import REPO, write_plan

AS_OF = date(2026, 11, 1)
VECTORS = json.loads((REPO / "docs" / "experiment-vectors.json").read_text(encoding="utf-8"))

CATALOG = """
channels:
  email: {cost: 0.1, consent: consent.email}
  sms: {cost: 0.2, consent: consent.sms}
  app: {}
actions:
  gift: {kind: delight, cost: 5}
  tips: {kind: contain}
"""
RULES = """
policy:
  holdout: {share: 0.05, salt: uh}
rules:
  - id: gift-rule
    priority: 10
    when: {if: "spend > 100"}
    then:
      treatment: delight
      actions: [gift]
      channels: [email]
      holdout: {share: 0.2, control: CONTROL}
    challengers:
      - id: sms-first
        share: 0.3
        then: {treatment: delight, actions: [gift], channels: [sms]}
  - id: tips-rule
    then: {treatment: contain, actions: [tips], channels: [app]}
"""


def engine(tmp_path: Path, control: str = "next", rules: str = RULES) -> Engine:
    write_plan(tmp_path, {"rules/catalog.yaml": CATALOG, "rules/rules.yaml": rules.replace("CONTROL", control)})
    return Engine.load(tmp_path)


def spender(number: int, sms: bool = True) -> dict:
    return {"customer_id": f"c{number}", "spend": 200, "consent": {"email": True, "sms": sms}}


def test_the_bucket_is_md5_of_salt_and_id_as_the_vectors_say() -> None:
    for vector in VECTORS:
        digest = hashlib.md5(f"{vector['salt']}:{vector['customer_id']}".encode()).digest()
        assert int.from_bytes(digest[:4], "big") % 10_000 == vector["bucket"] == bucket(vector["salt"],
                                                                                        vector["customer_id"])
    assert {v["salt"] for v in VECTORS} >= {""} and any(not v["customer_id"].isascii() for v in VECTORS)


def test_duckdb_computes_the_vectors_buckets_natively_and_with_the_query_s_expression() -> None:
    import duckdb
    from sqlglot import exp

    from treatment_engine.sql.experiments import bucket_sql, digest_sql

    connection = duckdb.connect()
    expression = bucket_sql(digest_sql(exp.column("salt"), exp.column("cid"), "duckdb"), "duckdb").sql("duckdb")
    rows = connection.execute(
        f"SELECT ('0x' || substr(md5(salt || ':' || cid), 1, 8))::UBIGINT % 10000, {expression} "
        "FROM (SELECT unnest($1) AS salt, unnest($2) AS cid)",
        [[v["salt"] for v in VECTORS], [v["customer_id"] for v in VECTORS]]).fetchall()
    assert [list(row) for row in rows] == [[v["bucket"]] * 2 for v in VECTORS]


def test_arms_take_their_declared_shares_and_are_sticky(tmp_path: Path) -> None:
    """A sample-ratio check over 200,000 customers: every arm within 3 standard errors of
    its declared share, and deciding again gives the same arm."""
    plan = engine(tmp_path)
    people = [spender(n) for n in range(200_000)]
    arms = Counter(d.arm for d in plan.decide_many(people, AS_OF))
    total = len(people)
    universal = 0.05
    declared = {"universal_holdout": universal, "holdout": 0.95 * 0.2, "sms-first": 0.95 * 0.3,
                "champion": 0.95 * 0.5}
    assert set(arms) == set(declared)
    for arm, share in declared.items():
        error = math.sqrt(share * (1 - share) / total)
        assert abs(arms[arm] / total - share) < 3 * error, (arm, arms[arm] / total, share)
    again = [d.arm for d in plan.decide_many(people[:5000], AS_OF)]
    assert again == [d.arm for d in plan.decide_many(people[:5000], AS_OF)]


def test_changing_one_experiment_s_share_never_moves_another_s_customers(tmp_path: Path) -> None:
    first = engine(tmp_path / "a")
    second = engine(tmp_path / "b", rules=RULES.replace("share: 0.3", "share: 0.5"))
    people = [spender(n) for n in range(5000)]
    before = [d.arm == "universal_holdout" for d in first.decide_many(people, AS_OF)]
    after = [d.arm == "universal_holdout" for d in second.decide_many(people, AS_OF)]
    assert before == after and any(before)


def test_each_arm_decides_as_appendix_h_says(tmp_path: Path) -> None:
    plan = engine(tmp_path / "next")
    none = engine(tmp_path / "none", control="none")
    seen = set()
    for number in range(400):
        decision = plan.decide(spender(number, sms=number % 2 == 0), AS_OF)
        record = decision.to_record()
        seen.add(decision.arm)
        if decision.arm == "champion":
            assert decision.rule == "gift-rule" and decision.channels == ("email",) and "would_have" not in record
            assert record["experiment"] == "gift-rule" and 0 <= record["bucket"] < 10_000
            continue
        assert record["would_have"] == {"rule": "gift-rule", "treatment": "delight", "actions": ["gift"],
                                        "channels": ["email"], "cost": 5.1}
        if decision.arm == "universal_holdout":
            assert (decision.treatment, decision.rule, decision.channels) == ("none", "holdout", ())
        elif decision.arm == "holdout":  # control: next, the rule below decides
            assert (decision.rule, decision.channels) == ("tips-rule", ("app",))
            held = none.decide(spender(number, sms=number % 2 == 0), AS_OF)
            assert (held.arm, held.treatment, held.rule, held.cost) == ("holdout", "none", "gift-rule", 0.0)
        else:  # the challenger: sms where consented, else the champion's then (intent to treat)
            assert decision.arm == "sms-first" and decision.rule == "gift-rule"
            assert decision.channels == (("sms",) if number % 2 == 0 else ("email",))
    assert seen == {"champion", "holdout", "sms-first", "universal_holdout"}


def test_explain_names_the_bucket_the_arm_and_why(tmp_path: Path) -> None:
    plan = engine(tmp_path)
    for number in range(60):
        explained = plan.explain(spender(number), AS_OF)
        assert explained.to_record() | {"trace": None} == plan.decide(spender(number), AS_OF).to_record() | {
            "trace": None}
        assert explained.trace is not None
        [check] = explained.trace.experiments
        assert check.arm == explained.arm and check.bucket == explained.bucket
        assert check.reason and "champion" in check.arms


def test_without_experiments_every_decision_is_the_champion_s(default_engine: Engine,
                                                               sample_profiles: list) -> None:
    """The bundled plan with its experiment keys taken out decides every customer as its
    champion does, with arm champion and no experiment fields."""
    import yaml

    texts = {}
    for path in sorted(p for folder in ("rules", "segments") for p in (REPO / folder).rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        (doc.get("policy") or {}).pop("holdout", None)
        for rule in doc.get("rules") or []:
            rule.pop("challengers", None)
            rule["then"].pop("holdout", None)
        texts[str(path.relative_to(REPO))] = yaml.safe_dump(doc)
    plain = Engine.from_texts(texts)
    for with_, without in zip(default_engine.decide_many(sample_profiles, AS_OF),
                              plain.decide_many(sample_profiles, AS_OF), strict=True):
        record = without.to_record()
        assert "error" in record or (record["arm"] == "champion" and "experiment" not in record)
        if with_.to_record().get("arm") == "champion" and "experiment" not in with_.to_record():
            assert {k: v for k, v in with_.to_record().items() if k != "plan_version"} == \
                {k: v for k, v in record.items() if k != "plan_version"}


@pytest.mark.parametrize(("rules", "expected"), [
    ("rules:\n  - id: r\n    then: {treatment: contain, channels: [app], holdout: 1.5}\n",
     ["rules.yaml:3:", "out-of-range: 'holdout' must be a number between 0 and 1, both excluded"]),
    ("rules:\n  - id: r\n    then: {treatment: contain, channels: [app], holdout: 0.6}\n"
     "    challengers:\n      - {id: c, share: 0.5, then: {treatment: contain, channels: [app]}}\n",
     ["shares-over-one: the shares of this rule's holdout and challengers add up to 1.1"]),
    ("policy:\n  holdout: {share: 0.1, salt: r}\nrules:\n  - id: r\n    then: {treatment: contain, channels: [app], holdout: 0.1}\n"
     "    challengers:\n      - {id: holdout, share: 0.1, then: {treatment: contain, channels: [fax], actions: [x]}}\n",
     ["duplicate-salt: rule 'r' salts its experiment with 'r', as the universal holdout does",
      "duplicate-id: challenger id 'holdout' is reserved for an arm",
      "unknown-ref: unknown channel 'fax' in challenger 'holdout' of rule 'r'",
      "unknown-ref: unknown action 'x' in challenger 'holdout' of rule 'r'"]),
])
def test_experiment_mistakes_are_located_plan_errors(tmp_path: Path, rules: str, expected: list[str]) -> None:
    write_plan(tmp_path, {"rules/catalog.yaml": CATALOG, "rules/rules.yaml": rules})
    with pytest.raises(PlanError) as raised:
        Engine.load(tmp_path)
    issues = raised.value.issues
    text = "\n".join(map(str, issues))
    for part in expected:
        assert part in text, text
    assert all(issue.location.line for issue in issues), text  # every one located
