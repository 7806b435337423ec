"""The service on a real PostgreSQL ($TREATMENT_TEST_PG_URL, set by .ci/run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import PROFILE, Server, customer_event, plan_copy, post_and_wait  # noqa: E402


@pytest.mark.skipif(not os.environ.get("TREATMENT_TEST_PG_URL"),
                    reason="TREATMENT_TEST_PG_URL is not set (.ci/run starts a PostgreSQL and sets it)")
def test_the_service_on_postgresql(tmp_path: Path) -> None:
    # A key of its own: the shared database may hold other tests' keys, which close history.
    server = Server(plan_copy(tmp_path), "--no-watch", env={"TREATMENT_API_KEYS": "pg-test-key"})
    server.db_url = os.environ["TREATMENT_TEST_PG_URL"]
    server.start()
    try:
        customer = f"pg-{os.getpid()}-{time.time_ns()}"
        acknowledged = httpx.post(f"{server.base}/v1/decisions", json={
            "profile": {**PROFILE, "customer_id": customer}, "as_of": "2026-11-01"}).json()
        history = httpx.get(f"{server.base}/v1/customers/{customer}/decisions",
                            headers={"X-API-Key": "pg-test-key"}).json()["decisions"]
        assert [h["id"] for h in history] == [acknowledged["id"]]
        replayed = subprocess.run([sys.executable, "-m", "treatment_engine", "reproduce", acknowledged["id"],
                                   "--db", server.db_url], capture_output=True, text=True, timeout=60)
        assert replayed.returncode == 0 and "reproduces" in replayed.stdout
        # Events, their decisions and the outbox, through the PostgreSQL driver too.
        fired = post_and_wait(server.base, [customer_event(customer, "complaint", "2026-11-01T10:00:00Z"),
                                            customer_event(customer, "complaint", "2026-11-02T10:00:00Z")])["fired"]
        assert [f["moment"] for f in fired] == ["repeat-complaint"] and fired[0]["decision_id"]
        seen, after = set(), 0
        while page := httpx.get(f"{server.base}/v1/outbox", params={"after": after, "limit": 1000},
                                headers={"X-API-Key": "pg-test-key"}).json()["items"]:
            seen |= {item["decision_id"] for item in page}
            after = page[-1]["id"]
        assert fired[0]["decision_id"] in seen
    finally:
        server.stop()


@pytest.mark.skipif(not os.environ.get("TREATMENT_TEST_PG_URL"),
                    reason="TREATMENT_TEST_PG_URL is not set (.ci/run starts a PostgreSQL and sets it)")
def test_an_id_postgresql_cannot_hold_finds_nothing_rather_than_failing(tmp_path: Path) -> None:
    """A NUL in a customer or decision id: PostgreSQL's driver refuses to send it, so a
    lookup by it failed with a 500 (explain's limits, history, reproduce, a customer's
    journeys). Nothing can be logged under such an id: each finds nothing."""
    from ..replicas import Replica, fresh_database

    with fresh_database("postgresql", tmp_path) as url:
        server = Replica(plan_copy(tmp_path / "plan"), url, "--no-watch").launch().wait_ready()
        try:
            explained = httpx.post(f"{server.base}/v1/explain", json={
                "profile": {**PROFILE, "customer_id": "a\u0000b"}, "as_of": "2026-11-01"})
            assert explained.status_code == 200, explained.text
            assert explained.json()["customer_id"] == "a\u0000b"
            history = httpx.get(f"{server.base}/v1/customers/a%00b/decisions")
            assert history.status_code == 200 and history.json()["decisions"] == [], history.text
            reproduced = httpx.post(f"{server.base}/v1/decisions/a%00b:reproduce")
            assert reproduced.status_code == 404, reproduced.text
            assert reproduced.headers["content-type"] == "application/problem+json"
            journeys = httpx.get(f"{server.base}/v1/customers/a%00b/journeys")
            assert journeys.status_code == 200 and journeys.json()["runs"] == [], journeys.text
            # and a batch naming one such customer among others decides the rest
            batch = httpx.post(f"{server.base}/v1/decisions:batch", json={"profiles": [
                {**PROFILE, "customer_id": "a\u0000b"}, PROFILE], "as_of": "2026-11-01"}).json()["decisions"]
            assert "error" in batch[0] and batch[1]["customer_id"] == PROFILE["customer_id"]
            assert "the service failed on" not in server.log()
        finally:
            server.stop()


@pytest.mark.skipif(not os.environ.get("TREATMENT_TEST_PG_URL"),
                    reason="TREATMENT_TEST_PG_URL is not set (.ci/run starts a PostgreSQL and sets it)")
def test_waiting_on_no_stored_events_answers_at_once(tmp_path: Path) -> None:
    """POST /v1/events?wait= whose events were all refused (or none sent) asked PostgreSQL
    for the progress of no partitions, 'IN ()', a syntax error: 500. There is nothing to
    wait for: processed, nothing fired."""
    from ..replicas import Replica, fresh_database

    with fresh_database("postgresql", tmp_path) as url:
        server = Replica(plan_copy(tmp_path / "plan"), url, "--no-watch").launch().wait_ready()
        try:
            for events in ([], [None, {"type": "complaint"}]):
                answer = httpx.post(f"{server.base}/v1/events", params={"wait": 5}, json={"events": events})
                assert answer.status_code == 200, answer.text
                assert answer.json()["processed"] is True and answer.json()["fired"] == []
                assert answer.json()["accepted"] == 0 and len(answer.json()["refused"]) == len(events)
        finally:
            server.stop()
