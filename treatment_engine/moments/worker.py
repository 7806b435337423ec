"""The process that owns durable-rules for one plan version.

durable-rules keeps rulesets in process-global state that can be neither redefined nor
deleted (its issues #262, #157, #136), and grows with each ruleset (#137, #371); its
host starts background threads that pick up pending actions while the caller is still
posting (wrong results in batches, measured here), and posting from several threads
fails (#291). So: one worker process per plan version, one thread in it, its host's
background threads switched off, fed through a pipe. A new plan means a new worker;
stopping the old one frees everything durable-rules held.

A worker never outlives its server: a closed pipe ends it between batches, and a thread
of its own ends it within a fraction of a second once the server is gone (even killed
with SIGKILL) while a long batch is still being worked through.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import struct
import subprocess
import sys
import threading
import time
from typing import IO, Any

from .rulesets import StepSpec, definition, positive_names

# (moment index, customer id, seconds of the completing event, seqs of the matched events)
Firing = tuple[int, str, float, tuple[int, ...]]
# (moment index, message for its ruleset), or (moment index, id of a message to forget)
Post = tuple[int, dict[str, Any] | int]
HELD = "held"  # a request for how many messages the rulesets hold (tests, diagnostics)


def _send(stream: IO[bytes], value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(struct.pack(">I", len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> Any:
    header = stream.read(4)
    if len(header) < 4:
        raise EOFError("the other side closed the pipe")
    (size,) = struct.unpack(">I", header)
    return pickle.loads(stream.read(size))


def exit_with(parent: int, every: float = 0.2) -> threading.Thread:
    """Watch the server (``parent``) on a daemon thread; end this process once it is gone.

    Its children are handed to another process when it dies, so the parent id changes.
    Polled, not signalled: Linux's PR_SET_PDEATHSIG fires when the *thread* that started
    the worker ends, and the service starts workers from a pool whose threads come and go.
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(0)  # nothing to save: the server that wanted the answers is gone

    watcher = threading.Thread(target=watch, name="exit-with-server", daemon=True)
    watcher.start()
    return watcher


def serve(requests: IO[bytes], replies: IO[bytes]) -> None:
    import durable.engine as durable

    class QuietHost(durable.Host):  # type: ignore[misc]
        def _run(self) -> None:  # no dispatch threads: every post completes before the next
            pass

    moments, version = _receive(requests)
    firings: list[Firing] = []

    def action_for(index: int, steps: tuple[StepSpec, ...]) -> Any:
        names = [f"e{i}" for i in range(positive_names(steps))]
        absent = steps[-1].absent

        def fire(c: Any) -> None:
            matched = [getattr(c, n) for n in names]
            when = c.tick.ts if absent else matched[-1].ts
            firings.append((index, matched[0].cid, when, tuple(int(e.seq) for e in matched)))
        return fire

    names = [f"moment{i}_{version}" for i in range(len(moments))]
    host = QuietHost({name: definition(steps, action_for(i, steps))
                      for i, (name, steps) in enumerate(zip(names, moments, strict=True))})
    not_handled = durable.MessageNotHandledException
    sessions: set[int] = set()  # the moments that were posted to
    _send(replies, ("ready", None))
    while True:
        try:
            posts = _receive(requests)
        except EOFError:
            return
        if posts is None:
            return
        if posts == HELD:  # a ruleset's session exists from its first message on
            _send(replies, ("ok", sum(len(host.get_pending_events(names[i], "0")) for i in sessions)))
            continue
        firings.clear()
        try:
            for index, message in posts:
                if type(message) is int:
                    before = len(firings)
                    host.retract_fact(names[index], {"sid": "0", "id": message})
                    # Retracting the event that blocked an absence lets it fire: forgetting
                    # never fires a moment (and the correlator retracts the arming event first).
                    del firings[before:]
                    continue
                # Not handled: no rule wanted it yet; durable-rules keeps it for later matches.
                with contextlib.suppress(not_handled):
                    host.post(names[index], message)
                sessions.add(index)
            _send(replies, ("ok", list(firings)))
        except Exception as error:  # reported to the caller, which stops this worker
            _send(replies, ("error", f"{type(error).__name__}: {error}"))


class Worker:
    """A durable-rules worker process for one plan version's moments.

    A plain child process (``python -m treatment_engine.moments.worker``) talking pickles
    over its standard input and output: nothing of the parent (threads, the event loop,
    database connections) is inherited, and no main module is re-imported.
    """

    def __init__(self, moments: list[tuple[StepSpec, ...]], version: str) -> None:
        command = [sys.executable, "-m", "treatment_engine.moments.worker", str(os.getpid())]
        self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE)
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests, self._replies = self._process.stdin, self._process.stdout
        _send(self._requests, (moments, version))
        self._expect("ready")

    def run(self, posts: list[Post]) -> list[Firing]:
        with contextlib.suppress(OSError):  # it is gone; _expect says how it ended
            _send(self._requests, posts)
        return list(self._expect("ok"))

    def held(self) -> int:
        """How many messages (events, ticks) the rulesets hold, all moments together."""
        with contextlib.suppress(OSError):
            _send(self._requests, HELD)
        return int(self._expect("ok"))

    def _expect(self, wanted: str) -> Any:
        try:
            status, payload = _receive(self._replies)
        except (EOFError, OSError) as error:
            self._process.wait(timeout=10)
            reason = (self._process.stderr.read() if self._process.stderr else b"").decode(errors="replace")
            raise RuntimeError(f"the moments worker stopped (exit {self._process.returncode}): "
                               f"{reason.strip()[-500:] or error}") from None
        if status != wanted:
            raise RuntimeError(f"the moments worker failed: {payload}")
        return payload

    def stop(self) -> None:
        with contextlib.suppress(OSError):  # a worker that died has closed its end already
            _send(self._requests, None)
        with contextlib.suppress(OSError):
            self._requests.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=5)
        for stream in (self._replies, self._process.stderr):
            if stream is not None:
                stream.close()


if __name__ == "__main__":
    exit_with(int(sys.argv[1]) if len(sys.argv) > 1 else os.getppid())
    serve(sys.stdin.buffer, sys.stdout.buffer)
