"""The log router: a customer's logged decisions and replay, and contact limits from the log."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import PROFILE, Server, customer_event, plan_copy  # noqa: E402


def test_history_limit_is_validated(served: tuple[str, Path]) -> None:
    """Found by schemathesis: a huge negative limit reached SQL and gave a 500."""
    base, _ = served
    for limit in ("-46751454357234046652754557564767698944", "0", "1001", "many"):
        assert httpx.get(f"{base}/v1/customers/c1/decisions", params={"limit": limit}).status_code == 422
    assert httpx.get(f"{base}/v1/customers/c1/decisions", params={"limit": "5"}).status_code == 200


def test_acknowledged_decisions_are_in_the_log_and_replay(served: tuple[str, Path]) -> None:
    base, plan = served
    profile = {**PROFILE, "customer_id": "logged-1", "private_note": "never stored"}
    acknowledged = httpx.post(f"{base}/v1/decisions", json={"profile": profile, "as_of": "2026-11-01"}).json()
    batch = httpx.post(f"{base}/v1/decisions:batch", json={"profiles": [
        {**PROFILE, "customer_id": "logged-1"}, {"customer_id": ""}], "as_of": "2026-11-01"}).json()
    assert batch["decisions"][0]["id"] and "id" not in batch["decisions"][1]

    from sqlmodel import Session, select

    from treatment_engine.store import DecisionLog, DecisionRow
    log = DecisionLog(f"sqlite:///{plan / 'decisions.db'}")
    with Session(log.database.engine) as session:  # committed before the 200: visible to another connection
        row = session.exec(select(DecisionRow).where(DecisionRow.id == acknowledged["id"])).one()
    log.close()
    assert row.rule == acknowledged["rule"] and "never stored" not in (row.inputs or "")
    history = httpx.get(f"{base}/v1/customers/logged-1/decisions").json()["decisions"]
    assert {acknowledged["id"], batch["decisions"][0]["id"]} <= {d["id"] for d in history}

    replayed = subprocess.run([sys.executable, "-m", "treatment_engine", "reproduce", acknowledged["id"],
                               "--db", f"sqlite:///{plan / 'decisions.db'}"], capture_output=True, text=True,
                              timeout=60)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "reproduces: delight by rule 'gold-detractor-recovery'" in replayed.stdout
    missing = subprocess.run([sys.executable, "-m", "treatment_engine", "replay", "no-such-id",  # the old name
                              "--db", f"sqlite:///{plan / 'decisions.db'}"], capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 1 and "no decision 'no-such-id'" in missing.stderr
    assert "deprecated" in missing.stderr.lower()


def delighted_customer(plan: Path, prefix: str) -> dict:
    """PROFILE under a fresh id that no holdout holds: a random id lands in the default plan's
    3% universal holdout (or a rule's) about one time in thirty, and is then not delighted."""
    from datetime import date

    from treatment_engine import Engine

    engine = Engine.load(plan)
    for number in range(200):
        profile = {**PROFILE, "customer_id": f"{prefix}-{time.time_ns()}-{number}"}
        if engine.decide(profile, date(2026, 11, 1)).treatment == "delight":
            return profile
    raise AssertionError("no customer id outside the holdouts in 200 tries")


def test_contact_limits_count_the_log_and_replay_reproduces_them(served: tuple[str, Path]) -> None:
    base, plan = served
    profile = delighted_customer(plan, "cooldown")
    first = httpx.post(f"{base}/v1/decisions", json={"profile": profile, "as_of": "2026-11-01"}).json()
    assert first["treatment"] == "delight"
    # The default plan's delight_cooldown_days is 30: the next delight waits, by the log.
    second = httpx.post(f"{base}/v1/decisions", json={"profile": profile, "as_of": "2026-11-05"}).json()
    assert second["treatment"] != "delight"
    why = httpx.post(f"{base}/v1/explain", json={"profile": profile, "as_of": "2026-11-05"}).json()
    assert any(c["reason"].startswith("cooling down: delighted on 2026-11-01") for c in why["trace"]["rules"])
    later = httpx.post(f"{base}/v1/decisions:batch", json={"profiles": [profile], "as_of": "2026-12-01"}).json()
    assert later["decisions"][0]["treatment"] == "delight"  # 30 days on, the cooldown is over
    for decision in (first, second):  # each replays against the history it was decided with
        replay = httpx.post(f"{base}/v1/decisions/{decision['id']}:reproduce")
        assert replay.status_code == 200 and replay.json()["reproduces"] is True, replay.text
    assert httpx.post(f"{base}/v1/decisions/nope:reproduce").status_code == 404
    assert httpx.post(f"{base}/v1/decisions/{first['id']}:replay").json()["reproduces"] is True  # the old name
    assert httpx.get(f"{base}/v1/plan").json()["contact_limits"] == "applied from the decision log"


def test_without_a_log_its_endpoints_say_so(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch")
    server.db_url = "none"
    server.start()
    try:
        base = server.base
        for response in (httpx.get(f"{base}/v1/customers/c1/decisions"), httpx.post(f"{base}/v1/decisions/x:replay"),
                         httpx.get(f"{base}/v1/outbox")):
            assert response.status_code == 404 and "keeps no decision log" in response.json()["detail"]
        # A bad query is still a 422: FastAPI checks it before the route looks for the log.
        assert httpx.get(f"{base}/v1/customers/c1/decisions", params={"limit": 0}).status_code == 422
        decided = httpx.post(f"{base}/v1/decisions", json={"profile": PROFILE})
        assert decided.status_code == 200 and "id" not in decided.json()
        assert httpx.get(f"{base}/v1/plan").json()["contact_limits"].startswith("not applied")
        # Moments are stored and correlated through the database: without one, none.
        events = httpx.post(f"{base}/v1/events", json={"event": customer_event("n1", "complaint", "2026-11-01")})
        assert events.status_code == 409 and "moments need the database" in events.json()["detail"]
    finally:
        server.stop()
