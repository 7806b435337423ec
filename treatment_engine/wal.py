"""SQLite write-ahead-log checkpoints on a thread of their own, off the request path.

By default SQLite checkpoints inside the commit that takes the log past 1,000 pages:
that commit copies the log into the database file and syncs it, so every few batches
one request waits for the whole copy (a third of a 10,000-decision batch's commit time
here). A commit is already durable once it is in the log, so the copy can happen later:
the service's connections turn automatic checkpoints off and this thread runs a PASSIVE
checkpoint (which never blocks readers or writers) after commits, on its own connection.
sqlite3 releases the GIL while it works, so the copy runs beside the event loop.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading

_log = logging.getLogger("treatment.log")


class Checkpointer:
    def __init__(self, path: str, every_seconds: float = 0.5) -> None:
        self.path = path
        self.every = every_seconds
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
                    connection.execute("PRAGMA busy_timeout=5000")
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as error:
                # Nothing committed is at risk (it is in the log); the next commit asks again,
                # so a passing problem does not leave the log growing for good.
                _log.warning("checkpoint of %s failed, will retry: %s", self.path, error)
            self._stop.wait(self.every)  # batches of commits share one checkpoint
        if connection is not None:
            connection.close()
