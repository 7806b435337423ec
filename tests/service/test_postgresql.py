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
