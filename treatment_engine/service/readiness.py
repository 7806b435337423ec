"""Whether this replica can serve what it promises: its plan is loaded, and its decision
log's database, reached over the network (PostgreSQL), answers (``GET /readyz``, the load
balancer's health check).

A replica whose database is cut answers its requests with 503s (:mod:`.errors`); one whose
database stalls (a network that keeps connections open and passes nothing) hangs them
instead, and a load balancer that asks only whether a plan is loaded keeps sending it
traffic. So readiness asks the database too: ``SELECT 1``, within :data:`PROBE_SECONDS`.
The question goes over a connection of its own, made for it, never one of the pool's: a
replica whose pool is busy with requests is busy, not unready. At most one question is out
at a time: a question still unanswered from an earlier probe is waited on again rather
than another one sent (each would hold a connection for as long as the database stalls).
So where a network drops packets for good, the question waits until TCP gives its
connection up, and the replica is not ready until then even if the database came back
sooner.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as Unanswered
from typing import Any

PROBE_SECONDS = 2.0


class DatabaseProbe:
    def __init__(self, engine: Any, seconds: float = PROBE_SECONDS) -> None:
        """``engine``: the decision log's SQLAlchemy engine (its URL is asked, not its pool)."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        self._engine = create_engine(engine.url, poolclass=NullPool)
        self._seconds = seconds
        self._asking = ThreadPoolExecutor(1, thread_name_prefix="readiness")
        self._question: Future[None] | None = None

    def problem(self) -> str | None:
        """Why the database cannot be counted on now (None: it answered)."""
        if self._question is None or self._question.done():
            self._question = self._asking.submit(self._ask)
        try:
            self._question.result(timeout=self._seconds)
        except Unanswered:
            return f"the decision log's database did not answer within {self._seconds:g} s"
        except Exception as error:  # whatever the driver raises, the answer is the same
            cause = str(getattr(error, "orig", None) or error)
            return f"the decision log's database could not be reached: {cause.splitlines()[0] if cause else error!r}"
        return None

    def _ask(self) -> None:
        with self._engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self._asking.shutdown(wait=False, cancel_futures=True)
        self._engine.dispose()
