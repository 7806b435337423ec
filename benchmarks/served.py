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
