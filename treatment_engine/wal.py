"""SQLite write-ahead-log checkpoints on a thread of their own, off the request path.

By default SQLite checkpoints inside the commit that takes the log past 1,000 pages:
that commit copies the log into the database file and syncs it, so every few batches
one request waits for the whole copy (a third of a 10,000-decision batch's commit time
here). A commit is already durable once it is in the log, so the copy can happen later:
the service's connections turn automatic checkpoints off and this thread runs a PASSIVE
checkpoint (which never blocks readers or writers) after commits, on its own connection.
sqlite3 releases the GIL while it works, so the copy runs beside the event loop.

A PASSIVE checkpoint never starts the log over, though: SQLite rewinds the WAL only when
a writer begins after a checkpoint copied every frame while no reader was using the log,
and under steady load (commits every few milliseconds, the moments' owner reading) that
moment never comes. The log then grows for good: 1.7 GB after 3 minutes of the soak
(benchmarks/soak_service.py), its index (the -shm file, mapped into the process) growing
with it. So once the log passes ``bound_bytes`` (64 MiB by default), the checkpoint is a
TRUNCATE: it takes the writer lock, copies the frames the passive ones left, waits for the
readers of old snapshots to finish, and empties the log. Writers wait meanwhile (the
service's commits run on its event loop), so the checkpoint waits at most
``WAIT_MS`` for the lock and for readers, and otherwise gives up until the next commit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading

_log = logging.getLogger("treatment.log")

BOUND_BYTES = 64 * 1024 * 1024  # the WAL's size past which a checkpoint starts it over
WAIT_MS = 200  # the longest a TRUNCATE waits for the writer lock, then for readers


class Checkpointer:
    def __init__(self, path: str, every_seconds: float = 0.5, bound_bytes: int = BOUND_BYTES) -> None:
        self.path = path
        self.every = every_seconds
        self.bound_bytes = bound_bytes
        self._due = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoints", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """A commit grew the log: checkpoint soon (at most one checkpoint runs at a time)."""
        self._due.set()

    def close(self) -> None:
        """Stop, then fold the whole log into the database (the file is left compact)."""
        self._stop.set()
        self._due.set()
        self._thread.join(timeout=30)
        try:
            with contextlib.closing(sqlite3.connect(self.path)) as connection:
                connection.execute("PRAGMA busy_timeout=5000")
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as error:  # the log stays whole: the next open folds it in
            _log.warning("could not checkpoint %s on close: %s", self.path, error)

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        connection: sqlite3.Connection | None = None
        while not self._stop.is_set():
            if not self._due.wait(timeout=self.every * 20):
                continue
            self._due.clear()
            try:
                if connection is None:
                    connection = sqlite3.connect(self.path, check_same_thread=False)
                    connection.execute(f"PRAGMA busy_timeout={WAIT_MS}")  # PASSIVE never waits
                connection.execute(f"PRAGMA wal_checkpoint({self._mode()})").fetchall()
            except sqlite3.Error as error:
                # Nothing committed is at risk (it is in the log); the next commit asks again,
                # so a passing problem does not leave the log growing for good.
                _log.warning("checkpoint of %s failed, will retry: %s", self.path, error)
            self._stop.wait(self.every)  # batches of commits share one checkpoint
        if connection is not None:
            connection.close()

    def _mode(self) -> str:
        """PASSIVE, or TRUNCATE once the log is past its bound (a TRUNCATE that readers
        kept from finishing leaves the log as big, so the next checkpoint tries again)."""
        try:
            size = os.stat(f"{self.path}-wal").st_size
        except OSError:
            return "PASSIVE"
        return "TRUNCATE" if size > self.bound_bytes else "PASSIVE"
