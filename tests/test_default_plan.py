"""The bundled default plan and sample customers: valid, realistic, every rule reachable."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import date

from treatment_engine import Decision, Engine
from treatment_engine.profiles import read_csv
from treatment_engine.sample import generate, write_csv

from .conftest import REPO, SAMPLE_AS_OF


def test_the_default_plan_has_what_a_real_plan_needs(default_engine: Engine) -> None:
    plan = default_engine.plan
    assert [s.id for s in plan.lifecycle] == ["exit", "decline", "awareness", "acquisition",
                                              "consolidation", "maturity"]
    assert len(plan.segments) >= 5 and len(plan.tiers) == 4 and len(plan.rules) >= 20
    assert {plan.action_kinds[a] for a in plan.action_kinds} == {"delight", "contain"}
    assert any(c.consent for c in plan.channels.values()) and plan.policy is not None
    assert plan.default.treatment == "contain"
    assert len({r.location.path for r in plan.rules}) >= 4


def test_bundled_customers_are_what_the_seeded_generator_makes(sample_profiles: list[dict]) -> None:
    assert len(sample_profiles) >= 1000
    assert sample_profiles == json.loads(json.dumps(generate(len(sample_profiles), seed=7, as_of=SAMPLE_AS_OF)))


def test_sample_customers_reach_every_rule(default_engine: Engine, sample_profiles: list[dict]) -> None:
    decided = Counter(d.rule for d in default_engine.decide_many(sample_profiles) if isinstance(d, Decision))
    # Rules answering a moment of truth are reached through events (test_moments.py).
    never = [r.id for r in default_engine.plan.rules if decided[r.id] == 0 and not r.id.startswith("moment-")]
    assert never == [], f"no sample customer reaches {never}"
    assert decided["default"] > 0


def test_every_moment_of_the_default_plan_has_a_rule(default_engine: Engine, sample_profiles: list[dict]) -> None:
    plan = default_engine.plan
    assert {m.id for m in plan.moments} >= {"repeat-complaint", "detractor", "stalled-install"}
    for moment in plan.moments:
        decided = Counter(d.rule for d in default_engine.decide_many(
            [{**p, **moment.sets} for p in sample_profiles[:300]]) if isinstance(d, Decision))
        assert any(rule.startswith("moment-") for rule in decided), moment.id


def test_csv_and_jsonl_samples_decide_alike(default_engine: Engine, sample_profiles: list[dict]) -> None:
    with open(REPO / "examples" / "customers.csv", encoding="utf-8", newline="") as stream:
        from_csv = list(read_csv(stream))
    assert len(from_csv) == len(sample_profiles)
    for json_profile, csv_profile in zip(sample_profiles, from_csv, strict=True):
        if isinstance(json_profile.get("nps"), str):
            continue  # a number written as text in JSON is just a number in CSV, which has no types
        a = default_engine.decide(json_profile)
        b = default_engine.decide(csv_profile)
        assert a == b, json_profile["customer_id"]


def test_csv_round_trip_keeps_values() -> None:
    customers = generate(200, seed=11, as_of=date(2026, 1, 1))
    buffer = io.StringIO()
    write_csv(customers, buffer)
    buffer.seek(0)
    for original, read in zip(customers, read_csv(buffer), strict=True):
        expected = {k: v for k, v in original.items() if v is not None}
        if isinstance(expected.get("nps"), str):
            expected["nps"] = int(expected["nps"])
        assert read == expected
