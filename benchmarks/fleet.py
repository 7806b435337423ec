"""Several `treatment serve` replicas on loopback sharing one decision log, for a benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx

# The tests' scratch databases (one way to make and drop them, tests/scratch_databases.py).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import scratch_databases


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_fleet(plan: Path, db_url: str, replicas: int, *options: str, env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> Iterator[list[str]]:
    """The base URLs of ``replicas`` running servers on ``plan`` and ``db_url``, all
    started at once (migrations and plan releases are safe to race), stopped afterwards.
    ``env`` adds to the environment and ``cwd`` sets the directory they run in."""
    ports = [_free_port() for _ in range(replicas)]
    servers = [subprocess.Popen([sys.executable, "-m", "treatment_engine", "serve", "--plan", str(plan),
                                 "--port", str(port), "--db", db_url, "--no-watch", *options],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, **(env or {})}, cwd=cwd) for port in ports]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        for base, server in zip(bases, servers, strict=True):
            deadline = time.monotonic() + 90
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"a replica did not start on {db_url}")
                time.sleep(0.2)
        yield bases
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=15)


def fresh_postgresql(url: str) -> AbstractContextManager[str]:
    """A new, empty database on the PostgreSQL server of ``url`` (its role needs
    CREATEDB), dropped afterwards: each run starts from the same empty log."""
    return scratch_databases.fresh_postgresql(url, prefix="treatment_bench")
