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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..compile import CompiledPlan
from ..decision import Decision
from ..store import DecisionLog


@dataclass
class _Pending:
    plan: CompiledPlan
    pairs: list[tuple[Mapping[str, Any], Decision]]
    future: asyncio.Future[list[str]]
    loop: asyncio.AbstractEventLoop


class GroupCommitter:
    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self._queue: queue.Queue[_Pending | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="decision-log-writer", daemon=True)
        self._thread.start()

    async def record(self, plan: CompiledPlan, pairs: list[tuple[Mapping[str, Any], Decision]]) -> list[str]:
        """The log ids of ``pairs``, once they are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[str]] = loop.create_future()
        self._queue.put(_Pending(plan, pairs, future, loop))
        return await future

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
            ids = self.log.record_groups([(p.plan, p.pairs) for p in group])
        except Exception as error:  # every waiting request learns it was not committed
            for pending in group:
                pending.loop.call_soon_threadsafe(_fail, pending.future, error)
            return
        for pending, committed in zip(group, ids, strict=True):
            pending.loop.call_soon_threadsafe(_resolve, pending.future, committed)


class LoopCommitter:
    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        self._pending: list[tuple[CompiledPlan, list[tuple[Mapping[str, Any], Decision]],
                                  asyncio.Future[list[str]]]] = []
        self._scheduled = False

    async def record(self, plan: CompiledPlan, pairs: list[tuple[Mapping[str, Any], Decision]]) -> list[str]:
        """The log ids of ``pairs``, once they are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[str]] = loop.create_future()
        self._pending.append((plan, pairs, future))
        if not self._scheduled:
            # After the callbacks already due: requests read in the same turn of the loop
            # join this commit.
            self._scheduled = True
            loop.call_soon(self._commit)
        return await future

    def close(self) -> None:
        if self._pending:
            self._commit()

    def _commit(self) -> None:
        self._scheduled = False
        group, self._pending = self._pending, []
        try:
            ids = self.log.record_groups([(plan, pairs) for plan, pairs, _ in group])
        except Exception as error:  # every waiting request learns it was not committed
            for _, _, future in group:
                _fail(future, error)
            return
        for (_, _, future), committed in zip(group, ids, strict=True):
            _resolve(future, committed)


def _resolve(future: asyncio.Future[list[str]], ids: list[str]) -> None:
    if not future.done():
        future.set_result(ids)


def _fail(future: asyncio.Future[list[str]], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
