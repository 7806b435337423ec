"""A real `treatment serve` on loopback, and what the service tests send it."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from ..conftest import REPO
from ..forkserver import Forked, start_treatment
from ..replicas import listens_on

PROFILE = {"customer_id": "c1", "annual_value": 2400, "nps": 4, "open_complaints": 1,
           "first_purchase_date": "2024-01-10", "last_purchase_date": "2026-10-20",
           "consent": {"phone": True, "email": True}}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Server:
    """A real `treatment serve` process on a free loopback port."""

    def __init__(self, plan: Path, *options: str, env: dict[str, str] | None = None) -> None:
        self.plan = plan
        self.db_url = f"sqlite:///{plan / 'decisions.db'}"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.options = options
        self.env = {**os.environ, **(env or {})}
        self.process: Forked | subprocess.Popen[bytes] | None = None
        self.log_path = plan / f"server-{self.port}.log"

    def start(self) -> Server:
        self.process = start_treatment(["serve", "--plan", str(self.plan), "--port", str(self.port),
                                        "--db", self.db_url, *self.options], self.log_path, self.env)
        deadline = time.monotonic() + 60
        while True:
            try:
                if (httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
                        and listens_on(self.process.pid, self.port)):  # ours, not a neighbour's
                    return self
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start: {self.log_path.read_text()}")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)


def plan_copy(root: Path) -> Path:
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def wait_for(condition: object, seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


EVENTS_TIMEOUT = 30.0  # the first events a server takes start its moments worker: seconds when busy


def post_events(base: str, body: dict[str, Any]) -> httpx.Response:
    """POST /v1/events with ``body``, waiting as long as a worker can take to start."""
    return httpx.post(f"{base}/v1/events", json=body, timeout=EVENTS_TIMEOUT)


def post_and_wait(base: str, events: list[dict]) -> dict:
    """Post events and wait for their partitions' owners: what they fired."""
    response = httpx.post(f"{base}/v1/events", params={"wait": 30}, json={"events": events}, timeout=60)
    assert response.status_code == 200 and response.json()["processed"] is True, response.text
    return dict(response.json())


def customer_event(cid: str, kind: str, when: str, **fields: object) -> dict:
    return {"customer_id": cid, "type": kind, "timestamp": when, **fields}
