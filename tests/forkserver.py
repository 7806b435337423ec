"""Start `treatment serve` processes by forking one that has already imported the engine.

A server start costs about 3.5 CPU seconds, two thirds of them importing FastAPI,
SQLAlchemy, pydantic and the engine; the service and replica tests start over a hundred
servers, which made this the largest share of CI's time after Spark. Each test process
keeps one *fork server*: a Python process that imports those modules once and, on
request, forks a child that runs the `treatment` command's ``main`` with the given
arguments, environment, working directory and stderr file. The child is a real process
serving on loopback like any other (its own pid, signals, sockets, database
connections); only the imports are shared. Nothing is imported that starts a thread (the
fork server checks), so forking is safe.

Set TREATMENT_TEST_NO_FORK=1 to start every server with a plain subprocess instead.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

# The fork server's loop. Requests and replies are JSON lines on its stdin and stdout.
_LOOP = r'''
import json, os, sys, threading, traceback
import uvicorn, uvicorn.config, uvicorn.main
import treatment_engine.cli, treatment_engine.service.app, treatment_engine.store
from treatment_engine.cli import main

exits = {}
for line in sys.stdin:
    request = json.loads(line)
    if request["op"] == "spawn":
        if threading.active_count() != 1:
            print(json.dumps({"error": "the fork server has threads"}), flush=True)
            continue
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                if request["new_session"]:
                    os.setsid()
                null = os.open(os.devnull, os.O_RDWR)
                err = os.open(request["stderr"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(err, 2)
                os.environ.clear()
                os.environ.update(request["env"])
                if request["cwd"]:
                    os.chdir(request["cwd"])
                sys.argv = ["treatment", *request["argv"]]
                try:
                    main()
                    code = 0
                except SystemExit as stop:
                    code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
            except BaseException:
                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        print(json.dumps({"pid": pid}), flush=True)
    elif request["op"] == "poll":
        pid = request["pid"]
        if pid not in exits:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # not a child of this server: its exit status is not ours to know
                print(json.dumps({"error": f"process {pid} is no child of the fork server"}), flush=True)
                continue
            if done:
                exits[pid] = os.waitstatus_to_exitcode(status)
        print(json.dumps({"returncode": exits.get(pid)}), flush=True)
'''


class _ForkServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.process = subprocess.Popen([sys.executable, "-c", _LOOP], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        atexit.register(self.close)

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            assert self.process.stdin is not None and self.process.stdout is not None
            self.process.stdin.write(json.dumps(request) + "\n")
            reply = self.process.stdout.readline()
        if not reply:
            raise RuntimeError("the fork server ended")
        answer: dict[str, Any] = json.loads(reply)
        if "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


_server: _ForkServer | None = None
_server_lock = threading.Lock()


def _fork_server() -> _ForkServer:
    global _server
    with _server_lock:
        if _server is None or _server.process.poll() is not None:
            _server = _ForkServer()
        return _server


class Forked:
    """The part of :class:`subprocess.Popen` the server harnesses use, for a forked child."""

    def __init__(self, server: _ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self.server.ask({"op": "poll", "pid": self.pid})["returncode"]
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(["treatment", "serve"], timeout or 0)
            time.sleep(0.05)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def start_treatment(argv: list[str], stderr: Path, env: dict[str, str], cwd: Path | None = None,
                    new_session: bool = False) -> Forked | subprocess.Popen[bytes]:
    """`treatment *argv`, stdout to /dev/null and stderr appended to ``stderr``."""
    if os.environ.get("TREATMENT_TEST_NO_FORK"):
        with open(stderr, "ab") as log:
            return subprocess.Popen([sys.executable, "-m", "treatment_engine", *argv], stdout=subprocess.DEVNULL,
                                    stderr=log, env=env, cwd=cwd, start_new_session=new_session)
    server = _fork_server()
    reply = server.ask({"op": "spawn", "argv": argv, "stderr": str(stderr), "env": env,
                        "cwd": None if cwd is None else str(cwd), "new_session": new_session})
    return Forked(server, int(reply["pid"]))
