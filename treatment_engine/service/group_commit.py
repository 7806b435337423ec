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
"""

from __future__ import annotations

import asyncio
import queue
import threading
from dataclasses import dataclass
from typing import Any

from ..store import DecisionRepository

Rows = list[tuple[Any, ...]]  # made by the log's RowMaker


@dataclass
class _Pending:
    rows: Rows
    future: asyncio.Future[None]
    loop: asyncio.AbstractEventLoop


class GroupCommitter:
    def __init__(self, log: DecisionRepository) -> None:
        self.log = log
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
        self._thread.start()

    async def record(self, rows: Rows) -> None:
        """Returns once ``rows`` are committed (raises if they could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._queue.put(_Pending(rows, future, loop))
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
        try:
            self.log.insert_rows([row for pending in group for row in pending.rows])
        except Exception as error:  # every waiting request learns it was not committed
            for pending in group:
                pending.loop.call_soon_threadsafe(_fail, pending.future, error)
            return
        for pending in group:
            pending.loop.call_soon_threadsafe(_resolve, pending.future)


class LoopCommitter:
    def __init__(self, log: DecisionRepository) -> None:
        self.log = log
        self._pending: list[tuple[Rows, asyncio.Future[None]]] = []
        self._scheduled = False

    async def record(self, rows: Rows) -> None:
        """Returns once ``rows`` are committed (raises if they could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._pending.append((rows, future))
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
        try:
            self.log.insert_rows([row for rows, _ in group for row in rows])
        except Exception as error:  # every waiting request learns it was not committed
            for _, future in group:
                _fail(future, error)
            return
        for _, future in group:
            _resolve(future)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[None], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
