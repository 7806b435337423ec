"""The moments worker process never outlives the server that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# A stand-in for the server: starts a worker, hands it a batch that takes it most of a
# minute (200,000 events), prints the worker's pid, and waits to be killed.
SERVER = """
import sys
from treatment_engine.moments.rulesets import StepSpec
from treatment_engine.moments.worker import Worker, _send

worker = Worker([(StepSpec("a", False, 1, None, False), StepSpec("b", False, 1, 86400, False))], "v")
posts = [(0, {"sid": "0", "id": i, "cid": f"c{i}", "t": "a", "seq": i, "ts": float(i), "d1": i + 86400.0})
         for i in range(1, 200_000)]
_send(worker._requests, posts)
print(worker._process.pid, flush=True)
sys.stdin.read()
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
@pytest.mark.timeout(120)
def test_the_worker_exits_when_its_server_is_killed_mid_batch() -> None:
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdout is not None
    worker = int(server.stdout.readline())
    try:
        time.sleep(1)  # into the batch
        assert _running(worker)
        server.send_signal(signal.SIGKILL)
        server.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _running(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _running(worker), "the worker carried on alone after its server was killed"
    finally:
        if _running(worker):
            os.kill(worker, signal.SIGKILL)
        for stream in (server.stdin, server.stdout):
            if stream is not None:
                stream.close()
