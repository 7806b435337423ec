"""Group commit: many requests' decisions in one transaction, each answered only after it.

A request hands its decisions to the committer and awaits a future; the committer takes
everything pending, inserts it in one transaction, commits, and only then resolves the
futures. So a 2xx still means "committed" (nothing is acknowledged from a queue), while
the commit cost is shared by all requests that arrived meanwhile.

Two forms. :class:`GroupCommitter` commits on a thread of its own, for a database across
the network, whose round trips must not hold up the event loop. :class:`LoopCommitter`
commits on the event loop itself, for SQLite: a local commit in WAL mode takes well under
a millisecond, less than the two thread hand-offs it saves (each one a wake-up of an
idle thread and a wait for the GIL).

Under a plan with contact limits a request hands over its profiles instead (a
:class:`~treatment_engine.serialize.Job`): the committer reads limits, decides and
inserts in the group's transaction, under the customers' locks (serialize.py).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass
from typing import Any

from ..serialize import Job, decide_jobs
from ..store import DecisionRepository

Rows = list[tuple[Any, ...]]  # made by the log's RowMaker
Work = Rows | Job  # rows to insert, or profiles to decide and log under their customers' locks


class CommitFailed(Exception):
    """The decision log could not commit a request's decisions: the request is answered
    503 and may be sent again (a batch of more than 500 customers on PostgreSQL may have
    committed its first transactions: serialize.py)."""


@dataclass
class _Pending:
    work: Work
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


def _commit_group(log: DecisionRepository, works: list[Work]) -> list[Exception | None]:
    """Commit a group's work: the plain rows in one transaction, the jobs in theirs; per
    work, None when committed or the error that stopped it."""
    rows = [row for work in works if not isinstance(work, Job) for row in work]
    jobs = [work for work in works if isinstance(work, Job)]
    failed: Exception | None = None
    try:
        log.insert_rows(rows)
    except Exception as error:
        failed = error
    try:
        job_errors = iter(decide_jobs(log, jobs) if jobs else [])
    except Exception as error:  # a bug, not the database: the jobs fail, the committer carries on
        job_errors = iter([error] * len(jobs))
    return [next(job_errors) if isinstance(work, Job) else failed for work in works]


class GroupCommitter:
    def __init__(self, log: DecisionRepository) -> None:
        self.log = log
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
        self._thread.start()

    async def record(self, work: Work) -> None:
        """Returns once ``work`` is committed (raises CommitFailed if it could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Pending(work, future, loop))
        await future

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while True:  # everything that arrived while the last commit ran
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._commit(group)
                    return
                group.append(more)
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        # Every waiting request learns whether its work was committed.
        for pending, error in zip(group, _commit_group(self.log, [p.work for p in group]), strict=True):
            pending.loop.call_soon_threadsafe(_settle, pending.future, error)


class LoopCommitter:
    def __init__(self, log: DecisionRepository) -> None:
        self.log = log
        self._pending: list[tuple[Work, asyncio.Future[None]]] = []
        self._scheduled = False

    async def record(self, work: Work) -> None:
        """Returns once ``work`` is committed (raises CommitFailed if it could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((work, future))
        if not self._scheduled:
            # After the callbacks already due: requests read in the same turn of the loop
            # join this commit.
            self._scheduled = True
            loop.call_soon(self._commit)
        await future

    def close(self) -> None:
        if self._pending:
            self._commit()

    def _commit(self) -> None:
        self._scheduled = False
        group, self._pending = self._pending, []
        for (_, future), error in zip(group, _commit_group(self.log, [work for work, _ in group]), strict=True):
            _settle(future, error)


def _settle(future: asyncio.Future[None], error: Exception | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        failed = CommitFailed(f"the decision log could not commit: {error}")
        failed.__cause__ = error
        future.set_exception(failed)
