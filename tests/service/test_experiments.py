"""Experiments through the service (appendix H): the answer and the decision log carry
the arm, experiment, bucket and would_have the engine decides, and a logged decision in
an experiment reproduces, arm included."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")

import httpx

from treatment_engine import Engine

from ..conftest import write_plan
from ..test_experiments import CATALOG, RULES, spender
from .server import Server


def assert_arm_sizes(experiments: list[dict], answered: list[dict]) -> None:
    """GET /v1/plan's arm sizes are the customers answered in each arm, beside the plan's shares."""
    seen = {(e["experiment"], a["arm"]): (a["customers"], a["declared_share"], a["share"])
            for e in experiments for a in e["arms"]}
    held = sum(a["arm"] == "universal_holdout" for a in answered)
    assert seen[("universal_holdout", "universal_holdout")][:2] == (held, 0.05)
    assert seen[("universal_holdout", "champion")][:2] == (len(answered) - held, 0.95)
    in_rule = [a for a in answered if a["experiment"] == "gift-rule"]
    for arm, share in (("holdout", 0.2), ("sms-first", 0.3), ("champion", 0.5)):
        customers = sum(a["arm"] == arm for a in in_rule)
        assert seen[("gift-rule", arm)] == (customers, share, customers / len(in_rule)), arm


def test_the_service_answers_and_logs_the_arm(tmp_path: Path) -> None:
    plan = write_plan(tmp_path, {"rules/catalog.yaml": CATALOG, "rules/rules.yaml": RULES.replace("CONTROL", "none")})
    engine = Engine.load(plan)
    server = Server(plan, "--no-watch").start()
    try:
        people = [spender(n, sms=n % 3 == 0) for n in range(120)]
        single = [httpx.post(f"{server.base}/v1/decisions", json={"profile": p, "as_of": "2026-11-01"}).json()
                  for p in people[:60]]
        batch = httpx.post(f"{server.base}/v1/decisions:batch",
                           json={"profiles": people[60:], "as_of": "2026-11-01"}).json()["decisions"]
        answered = single + batch
        expected = [d.to_record() for d in engine.decide_many(people, date(2026, 11, 1))]
        assert [{k: v for k, v in a.items() if k != "id"} for a in answered] == expected
        assert {a["arm"] for a in answered} == {"champion", "holdout", "sms-first", "universal_holdout"}
        # The log keeps what was answered, and it reproduces: one customer of each arm and
        # every twentieth (reproducing compiles the stored plan again, a third of a second each).
        sampled = [next(a for a in answered if a["arm"] == arm) for arm in sorted({a["arm"] for a in answered})]
        for answer in sampled + answered[::20]:
            [logged] = httpx.get(f"{server.base}/v1/customers/{answer['customer_id']}/decisions").json()["decisions"]
            for key in ("arm", "experiment", "bucket", "would_have", "segment", "lifecycle_stage", "value_tier"):
                assert logged.get(key) == answer.get(key), key
            again = httpx.post(f"{server.base}/v1/decisions/{answer['id']}:reproduce").json()
            assert again["reproduces"] is True and again["again"]["arm"] == answer["arm"]
        explained = httpx.post(f"{server.base}/v1/explain", json={"profile": people[0], "as_of": "2026-11-01"})
        assert explained.json()["trace"]["experiments"][0]["arm"] == answered[0]["arm"]
        assert_arm_sizes(httpx.get(f"{server.base}/v1/plan").json()["experiments"], answered)
    finally:
        server.stop()
    reproduced = subprocess.run([sys.executable, "-m", "treatment_engine", "reproduce", answered[0]["id"],
                                 "--db", server.db_url], capture_output=True, text=True, timeout=60)
    assert reproduced.returncode == 0, reproduced.stdout + reproduced.stderr


def test_arm_sizes_are_counted_again_only_after_their_time(tmp_path: Path) -> None:
    from treatment_engine.service.arm_sizes import ArmSizes
    from treatment_engine.store import DecisionLog

    plan = write_plan(tmp_path, {"rules/catalog.yaml": CATALOG, "rules/rules.yaml": RULES.replace("CONTROL", "none")})
    engine = Engine.load(plan)
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    now = [0.0]
    sizes = ArmSizes(log.decisions, clock=lambda: now[0], ttl=30)
    try:
        def decide(people: list[dict]) -> None:
            log.decisions.record(engine.plan, [(p, d) for p, d in zip(
                people, engine.decide_many(people, date(2026, 11, 1)), strict=True)])

        def total() -> int:
            return sum(arm["customers"] for e in sizes.view(engine.plan) if e["experiment"] == "universal_holdout"
                       for arm in e["arms"])

        decide([spender(n) for n in range(40)])
        assert total() == 40
        decide([spender(n) for n in range(40, 60)] + [spender(0)])  # c0 again: still one customer
        now[0] = 29.0
        assert total() == 40  # kept
        now[0] = 31.0
        assert total() == 60
    finally:
        log.close()
