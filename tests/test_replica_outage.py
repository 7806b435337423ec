"""A replica whose database goes away: every request it cannot serve is a 503 to send
again (RFC 9457, Retry-After), never a 500, and it serves again once the database is back.

The shared PostgreSQL server is never stopped: the replica reaches it through a proxy
that the test cuts (tests/db_proxy.py), as a network partition or a restart looks from
the replica's side.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")

from .db_proxy import DatabaseProxy
from .replicas import Replica, fresh_database
from .service.server import PROFILE, plan_copy

EVENT = {"customer_id": "c1", "type": "complaint", "timestamp": "2026-11-01T09:00:00Z"}
# Every route that reads or writes the database, as (method, path, JSON body).
ROUTES: list[tuple[str, str, dict | None]] = [
    ("POST", "/v1/decisions", {"profile": PROFILE, "as_of": "2026-11-02"}),
    ("POST", "/v1/decisions:batch", {"profiles": [PROFILE], "as_of": "2026-11-02"}),
    ("POST", "/v1/explain", {"profile": PROFILE, "as_of": "2026-11-02"}),
    ("POST", "/v1/events", {"event": EVENT}),
    ("GET", "/v1/events/00000000-0000-0000-0000-000000000000", None),
    ("GET", "/v1/customers/c1/decisions", None),
    ("POST", "/v1/decisions/00000000-0000-0000-0000-000000000000:reproduce", None),
    ("GET", "/v1/outbox", None),
    ("GET", "/v1/moments", None),
    ("GET", "/v1/results", None),
    ("GET", "/v1/journeys", None),
    ("GET", "/v1/journeys/installation", None),
    ("GET", "/v1/customers/c1/journeys", None),
    ("GET", "/v1/plan", None),
    ("POST", "/v1/plan:reload", None),
]


def _send(client: httpx.Client, base: str, method: str, path: str, body: dict | None) -> httpx.Response:
    return client.request(method, base + path, json=body)


@pytest.mark.slow
def test_a_replica_that_loses_its_database_answers_503_and_serves_again_once_it_is_back(tmp_path: Path) -> None:
    with (fresh_database("postgresql", tmp_path) as db_url, DatabaseProxy.of(db_url) as proxy,
          httpx.Client(timeout=30) as client):
        replica = Replica(plan_copy(tmp_path / "plan"), proxy.url_for(db_url), "--no-watch").launch().wait_ready()
        try:
            first = _send(client, replica.base, *ROUTES[0])
            assert first.status_code == 200, first.text
            decision_id = first.json()["id"]
            proxy.cut()
            for method, path, body in ROUTES:
                answer = _send(client, replica.base, method, path, body)
                assert answer.status_code == 503, (method, path, answer.status_code, answer.text)
                assert answer.headers["content-type"] == "application/problem+json", (method, path)
                assert answer.headers.get("retry-after") == "1", (method, path)
                problem = answer.json()
                assert problem["status"] == 503 and problem["type"] == "urn:treatment:try-again", (path, problem)
            assert "the service failed on" not in replica.log()  # no request was taken for a bug
            proxy.restore()
            # Back: each route answers as it did before the outage (the pool's dropped
            # connections are replaced), the decision logged before it is still there.
            deadline = time.monotonic() + 20
            for method, path, body in ROUTES:
                while (answer := _send(client, replica.base, method, path, body)).status_code == 503:
                    assert time.monotonic() < deadline, (method, path, answer.text)
                    time.sleep(0.2)
                assert answer.status_code < 500, (method, path, answer.text)
            history = client.get(f"{replica.base}/v1/customers/c1/decisions").json()["decisions"]
            assert decision_id in [d["id"] for d in history]
        finally:
            replica.stop()


@pytest.mark.slow
def test_a_replica_whose_database_stalls_answers_503_when_it_runs_out_of_connections(tmp_path: Path) -> None:
    """A database that stops answering without dropping the connections (a stalled
    network): requests hold the pool's 15 connections, and the next ones waited 30 s for
    one and failed with SQLAlchemy's pool TimeoutError, answered 500. They are 503s to
    send again; once the database answers, the held requests complete."""
    with (fresh_database("postgresql", tmp_path) as db_url, DatabaseProxy.of(db_url) as proxy,
          httpx.Client(timeout=120) as client):
        replica = Replica(plan_copy(tmp_path / "plan"), proxy.url_for(db_url), "--no-watch").launch().wait_ready()
        try:
            assert client.get(f"{replica.base}/v1/customers/c1/decisions").status_code == 200
            proxy.freeze()
            statuses: list[int] = []

            def read(index: int) -> None:
                statuses.append(client.get(f"{replica.base}/v1/customers/c{index}/decisions").status_code)

            readers = [threading.Thread(target=read, args=(index,)) for index in range(20)]
            for reader in readers:
                reader.start()
            deadline = time.monotonic() + 60
            while len(statuses) < 5 and time.monotonic() < deadline:  # the pool waits 30 s
                time.sleep(0.2)
            proxy.thaw()
            for reader in readers:
                reader.join()
            assert 503 in statuses and set(statuses) <= {200, 503}, statuses
            assert "the service failed on" not in replica.log()
        finally:
            proxy.thaw()
            replica.stop()


@pytest.mark.slow
def test_readiness_says_not_ready_while_the_database_stalls_or_is_cut(tmp_path: Path) -> None:
    """GET /readyz, the load balancer's health check, said ready while the replica's
    database stalled (every decision hanging until the client gave up) or was cut: it
    asked only whether a plan was loaded. It asks the database too, within 2 s, and is
    ready again once the database answers; one question is out at a time."""
    with (fresh_database("postgresql", tmp_path) as db_url, DatabaseProxy.of(db_url) as proxy,
          httpx.Client(timeout=30) as client):
        replica = Replica(plan_copy(tmp_path / "plan"), proxy.url_for(db_url), "--no-watch").launch().wait_ready()

        def ready_within(seconds: float, expected: int) -> httpx.Response:
            deadline = time.monotonic() + seconds
            while (answer := client.get(f"{replica.base}/readyz")).status_code != expected:
                assert time.monotonic() < deadline, (expected, answer.status_code, answer.text)
                time.sleep(0.2)
            return answer

        try:
            assert ready_within(5, 200).json()["status"] == "ready"
            for stop, start, words in ((proxy.freeze, proxy.thaw, "did not answer within 2 s"),
                                       (proxy.cut, proxy.restore, "could not be reached")):
                stop()
                started = time.monotonic()
                refused = ready_within(15, 503)
                assert time.monotonic() - started < 10, "readiness waited on the database"
                problem = refused.json()
                assert problem["type"] == "urn:treatment:try-again" and words in problem["detail"], problem
                assert refused.headers.get("retry-after") == "1"
                assert client.head(f"{replica.base}/readyz").status_code == 503
                start()
                assert ready_within(30, 200).json()["status"] == "ready"
            assert "the service failed on" not in replica.log()
        finally:
            proxy.thaw()
            proxy.restore()
            replica.stop()
