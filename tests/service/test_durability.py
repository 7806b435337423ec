"""What survives: acknowledged decisions through a kill, requests through a reload,
correlation state through a restart."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")

from .server import PROFILE, Server, customer_event, plan_copy, post_and_wait, wait_for  # noqa: E402


def _hammer(base: str, stop: threading.Event, acknowledged: list[dict], failures: list[str]) -> None:
    with httpx.Client(timeout=10) as client:
        number = 0
        while not stop.is_set():
            number += 1
            try:
                response = client.post(f"{base}/v1/decisions",
                                       json={"profile": {**PROFILE, "customer_id": f"load-{number}"}})
            except httpx.TransportError as error:
                failures.append(repr(error))
                continue
            if response.status_code == 200:
                acknowledged.append(response.json())
            else:
                failures.append(f"{response.status_code} {response.text[:200]}")


class Load:
    """A client posting decisions as fast as answers come back, in a thread, until stopped."""

    def __init__(self, base: str) -> None:
        self.acknowledged: list[dict] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=_hammer, args=(base, self._stop, self.acknowledged, self.failures))
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_every_acknowledged_decision_survives_a_kill(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch").start()
    load = Load(server.base)
    acknowledged = load.acknowledged
    wait_for(lambda: len(acknowledged) >= 200)
    server.stop(signal.SIGKILL)  # mid-stream, no chance to flush anything
    load.stop()
    restarted = Server(server.plan, "--no-watch")
    restarted.port, restarted.base = server.port, server.base
    restarted.start()
    try:
        from sqlmodel import Session, select

        from treatment_engine.store import DecisionLog, DecisionRow
        log = DecisionLog(server.db_url)
        with Session(log.database.engine) as session:
            stored = set(session.exec(select(DecisionRow.id)).all())
        log.close()
        missing = [d["id"] for d in acknowledged if d["id"] not in stored]
        assert len(acknowledged) >= 200 and missing == []
    finally:
        restarted.stop()


def test_reload_under_load_fails_no_request(tmp_path: Path) -> None:
    server = Server(plan_copy(tmp_path), "--no-watch").start()
    load = Load(server.base)
    acknowledged, failures = load.acknowledged, load.failures
    try:
        wait_for(lambda: len(acknowledged) >= 50)
        old = httpx.get(f"{server.base}/v1/plan").json()["plan_version"]
        policy = server.plan / "rules" / "policy.yaml"
        good = policy.read_text()
        policy.write_text(good.replace("ratio: 0.03", "ratio: [broken"))
        assert httpx.post(f"{server.base}/v1/plan:reload").status_code == 409
        seen = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= seen + 50)
        policy.write_text(good.replace("ratio: 0.03", "ratio: 0.01"))
        new = httpx.post(f"{server.base}/v1/plan:reload").json()["plan_version"]
        seen = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= seen + 50)
    finally:
        load.stop()
        server.stop()
    assert failures == []
    versions = [d["plan_version"] for d in acknowledged]
    assert set(versions) == {old, new} and versions.index(new) > versions.index(old)


def test_correlation_state_survives_a_restart(tmp_path: Path) -> None:
    plan = plan_copy(tmp_path)
    before = [customer_event("r1", "complaint", "2026-11-01T10:00:00Z"), customer_event("r2", "order_placed", "2026-11-01T10:00:00Z"),
              customer_event("r3", "payment_failed", "2026-11-02T10:00:00Z")]
    after = [customer_event("r1", "complaint", "2026-11-10T10:00:00Z"), customer_event("r3", "payment_failed", "2026-11-05T10:00:00Z"),
             customer_event("r4", "complaint", "2026-11-20T10:00:00Z")]  # r4 moves the clock past r2's deadline

    def outbox(base: str) -> list[tuple[str, str, str]]:
        return sorted((f["moment"], f["customer_id"], f["fired_at"]) for f in httpx.get(f"{base}/v1/outbox").json()["items"])

    # A short lease: the killed server's partitions are free again soon after.
    server = Server(plan, "--no-watch", "--moment-clock", "events", "--moment-lease", "1").start()
    try:
        assert post_and_wait(server.base, before)["fired"] == []
    finally:
        server.stop(signal.SIGKILL)  # no orderly shutdown: only what was committed counts
    server = Server(plan, "--no-watch", "--moment-clock", "events", "--moment-lease", "1").start()
    try:
        post_and_wait(server.base, after)
        split = outbox(server.base)
    finally:
        server.stop()
    expected = [("payment-trouble", "r3", "2026-11-05T10:00:00Z"), ("repeat-complaint", "r1", "2026-11-10T10:00:00Z"),
                ("stalled-install", "r2", "2026-11-15T10:00:00Z")]
    assert split == expected
    # The same events in one run, without a restart, fire the same.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    server = Server(plan_copy(fresh), "--no-watch", "--moment-clock", "events").start()
    try:
        post_and_wait(server.base, before)
        post_and_wait(server.base, after)
        assert outbox(server.base) == expected
    finally:
        server.stop()
