"""The decision log on SQLite and on a real PostgreSQL ($TREATMENT_TEST_PG_URL, set by .ci/run)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine import Engine
from treatment_engine.load import read_plan_dir
from treatment_engine.store import DecisionLog, unflatten

from .conftest import REPO

PG_URL = os.environ.get("TREATMENT_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionLog]:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("TREATMENT_TEST_PG_URL is not set (.ci/run starts a PostgreSQL and sets it)")
    opened = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else str(PG_URL))
    yield opened
    opened.close()


def test_decisions_round_trip_and_replay(log: DecisionLog) -> None:
    files = read_plan_dir(REPO)
    engine = Engine.from_texts(files)
    log.remember_plan(engine.plan, files)
    log.remember_plan(engine.plan, files)  # a version is stored once
    customer = f"store-{uuid.uuid4()}"
    profile = {"customer_id": customer, "annual_value": 2400, "nps": 4, "open_complaints": 1,
               "first_purchase_date": "2024-01-10", "consent": {"phone": True}, "secret": "x"}
    decision = engine.decide(profile, date(2026, 11, 1))
    [row_id] = log.record(engine.plan, [(profile, decision)])
    second = engine.decide({**profile, "nps": 10}, date(2026, 11, 2))
    log.record(engine.plan, [({**profile, "nps": 10}, second)])

    history = log.history(customer)
    assert [h["as_of"] for h in history] == ["2026-11-02", "2026-11-01"]  # newest first
    row = log.decision(row_id)
    assert row is not None and row.rule == decision.rule and row.plan_version == engine.version
    stored = __import__("json").loads(row.inputs or "{}")
    assert "secret" not in stored and stored["consent.phone"] is True
    replayed = Engine.from_texts(log.plan_files(row.plan_version) or {}).decide(
        {**unflatten(stored), "customer_id": customer}, row.as_of)
    assert (replayed.rule, replayed.channels, replayed.cost) == (decision.rule, decision.channels, decision.cost)


def test_no_inputs_policy_keeps_no_profile_data(tmp_path: Path) -> None:
    log = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}", inputs="none")
    engine = Engine.load(REPO)
    profile = {"customer_id": "c", "annual_value": 10}
    [row_id] = log.record(engine.plan, [(profile, engine.decide(profile, date(2026, 11, 1)))])
    row = log.decision(row_id)
    log.close()
    assert row is not None and row.inputs is None
