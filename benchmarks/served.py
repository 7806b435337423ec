"""`treatment serve` on loopback for a benchmark: the bundled plan copied aside, a fresh
SQLite decision log, stopped and cleaned up afterwards."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def served_default_plan(*options: str) -> Iterator[tuple[str, Path]]:
    """(base URL, scratch directory) of a running server; the scratch holds plan and log."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, scratch / folder)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "treatment_engine", "serve", "--plan", str(scratch), "--port",
                               str(port), "--db", f"sqlite:///{scratch / 'log.db'}", "--no-watch", *options],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                sys.exit("the server did not start")
            time.sleep(0.2)
        yield base, scratch
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def served_replicas(count: int, db_url: str, *options: str) -> Iterator[list[str]]:
    """``count`` servers of the bundled plan on one database (migrated, the plan registered,
    before they start: starting replicas at once on a fresh database is issue #11's item 3);
    their base URLs."""
    sys.path.insert(0, str(REPO))
    from treatment_engine import Engine
    from treatment_engine.load import read_plan_dir
    from treatment_engine.store import DecisionLog

    scratch = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, scratch / folder)
    log = DecisionLog(db_url)
    log.decisions.remember_plan(Engine.load(scratch).plan, read_plan_dir(scratch))
    log.close()
    servers, bases = [], []
    try:
        for _ in range(count):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            bases.append(f"http://127.0.0.1:{port}")
            servers.append(subprocess.Popen(
                [sys.executable, "-m", "treatment_engine", "serve", "--plan", str(scratch), "--port", str(port),
                 "--db", db_url, "--no-watch", *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for base, server in zip(bases, servers, strict=True):
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    sys.exit("a replica did not start")
                time.sleep(0.2)
        yield bases
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)
        shutil.rmtree(scratch, ignore_errors=True)
