"""Several real `treatment serve` processes on loopback, sharing one decision log.

The scale-out guarantees (contact caps, exactly-once moments, plan versions) are about
separate processes on one database, so their tests start real replicas, not app objects:

    with fleet(plan_dir, db_url, replicas=2) as servers:
        httpx.post(f"{servers[0].base}/v1/decisions", json=...)

Databases: :func:`fresh_database` gives each test an empty one, a SQLite file or a new
PostgreSQL database on the server named by $TREATMENT_TEST_PG_URL (its role needs
CREATEDB, which .ci/postgres.sh grants), dropped afterwards.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from .forkserver import Forked, start_treatment
from .scratch_databases import fresh_postgresql

PG_URL = os.environ.get("TREATMENT_TEST_PG_URL")
START_SECONDS = 90  # a replica that is not ready by then failed to start


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def listens_on(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the socket listening on loopback ``port``. A free port
    is only free when probed: another test's server may take it first, and then answers
    /healthz for ours (it happened: a reload went to the wrong server). Linux: the port's
    LISTEN sockets in /proc/net/tcp, by inode, against the process's open files."""
    inodes = set()
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":  # 0A: LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") in inodes for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # the process ended, or a descriptor closed while we looked
        return False


class _PortTaken(Exception):
    """The port probed free was taken before the server bound it."""


class Replica:
    """One `treatment serve` process on a free loopback port; its stderr goes to a file."""

    def __init__(self, plan: Path, db_url: str, *options: str, env: dict[str, str] | None = None,
                 name: str = "replica", cwd: Path | None = None) -> None:
        self.plan = plan
        self.db_url = db_url
        self.name = name
        self.options = options
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.process: Forked | subprocess.Popen[bytes] | None = None
        self._take_port()

    def _take_port(self) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = self.plan.parent / f"{self.plan.name}-{self.name}-{self.port}.log"

    def launch(self) -> Replica:
        """Start the process without waiting for it (replicas start at the same moment)."""
        self.process = start_treatment(["serve", "--plan", str(self.plan), "--host", "127.0.0.1",
                                        "--port", str(self.port), "--db", self.db_url, *self.options],
                                       self.log_path, self.env, cwd=self.cwd, new_session=True)
        return self

    def wait_ready(self, seconds: float = START_SECONDS, port_retries: int = 3) -> Replica:
        """Block until /readyz answers 200; raise with the server's log if it died or hung.
        A free port is only free when probed: a server that found it taken by the time it
        bound (another test's, under xdist) is launched again on another one."""
        for _ in range(port_retries):
            try:
                return self._await_ready(seconds)
            except _PortTaken:
                self._take_port()
                self.launch()
        return self._await_ready(seconds)

    def _await_ready(self, seconds: float) -> Replica:
        deadline = time.monotonic() + seconds
        while True:
            try:
                if (httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200 and self.process is not None
                        and listens_on(self.process.pid, self.port)):
                    return self
            except httpx.TransportError:
                pass
            if self.process is None or self.process.poll() is not None or time.monotonic() > deadline:
                code = None if self.process is None else self.process.poll()
                self.stop(signal.SIGKILL)
                if code is not None and "[Errno 98] Address already in use" in self.log():
                    raise _PortTaken(self.port)
                raise RuntimeError(f"replica on port {self.port} did not become ready (exit {code}):\n"
                                   f"{self.log()}")
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Signal the process (SIGKILL simulates a crash) and wait for it to end."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextmanager
def fleet(plan: Path, db_url: str, replicas: int = 2, *options: str,
          env: dict[str, str] | None = None, cwd: Path | None = None) -> Iterator[list[Replica]]:
    """``replicas`` servers on one plan and one database, all launched before any is awaited
    (the benchmarks start theirs here too: benchmarks/fleet.py)."""
    servers = [Replica(plan, db_url, *options, env=env, name=f"r{index}", cwd=cwd) for index in range(replicas)]
    try:
        for server in servers:
            server.launch()
        for server in servers:
            server.wait_ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


@contextmanager
def fresh_database(kind: str, scratch: Path) -> Iterator[str]:
    """An empty database of ``kind`` ("sqlite" or "postgresql") as a SQLAlchemy URL.

    Skips the test (pytest.skip) when PostgreSQL is asked for and not configured."""
    if kind == "sqlite":
        yield f"sqlite:///{scratch / f'log-{uuid.uuid4().hex[:8]}.db'}"
        return
    import pytest

    if not PG_URL:
        pytest.skip("TREATMENT_TEST_PG_URL is not set (.ci/run starts a PostgreSQL and sets it)")
    with fresh_postgresql(PG_URL) as url:
        yield url


def database_kinds() -> Sequence[str]:
    """The kinds a replica test runs on: SQLite always, PostgreSQL when configured (it is
    still listed without one, so the skip says why)."""
    return ("sqlite", "postgresql")
