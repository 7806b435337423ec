"""The partitions repository: moments' partition leases, membership and owners' progress
(tables: :mod:`.tables`; how they are used: moments/owner.py, docs/design.md).

Time here is the database's clock, so replicas on machines whose clocks disagree still
agree on when a lease has expired. A lease is held by the process named in its row's
``owner`` until ``lease_expires``; its owner renews it with a heartbeat, and anyone may
take it once it has expired. Every write an owner makes for a partition happens in a
transaction that first updates the partition's row *where the owner is still itself*
(:meth:`PartitionStore.fenced`): an owner that lost its lease, however slow, cannot
commit anything for that partition afterwards.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from .decisions import DecisionRepository
from .events import retrying
from .rows import unflatten

# How far a partition's clock has gone (moments/clock.py): (time, inclusive).
Frontier = tuple[float, bool]
NOT_STARTED: Frontier = (float("-inf"), False)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a partition has been processed: its last sequence number and clock frontier."""

    seq: int
    frontier: Frontier


class LeaseLost(Exception):
    """A partition this process meant to write for has another owner now."""


class PartitionRepository:
    def __init__(self, decisions: DecisionRepository) -> None:
        """Over the decisions' database: an owner writes moments' decisions with its progress."""
        self.database = decisions.database
        self.engine = self.database.engine
        self.local = self.database.local
        self.mark = self.database.mark
        self._now_sql = ("SELECT (julianday('now') - 2440587.5) * 86400.0" if self.local
                         else "SELECT EXTRACT(EPOCH FROM clock_timestamp())")
        self._insert_decisions = decisions.insert_sql

    def now(self, connection: Connection) -> float:
        return float(connection.exec_driver_sql(self._now_sql).scalar_one())

    def count(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.exec_driver_sql("SELECT COUNT(*) FROM moment_partitions").scalar_one())

    # -- membership and leases ------------------------------------------------------------

    # The lease operations below lock several partition rows. Two processes can reach for
    # the same rows in different orders during a takeover (one renewing what the other is
    # claiming); PostgreSQL then aborts one of them, which is retried (``retrying``).

    def heartbeat(self, owner: str, ttl: float) -> tuple[int, set[int]]:
        """Say this process is alive, renew its leases; (live processes, partitions still its)."""
        return retrying(lambda: self._heartbeat(owner, ttl))

    def _heartbeat(self, owner: str, ttl: float) -> tuple[int, set[int]]:
        mark = self.mark
        with self.engine.begin() as connection:
            now = self.now(connection)
            updated = connection.exec_driver_sql(
                f"UPDATE moment_owners SET expires_at = {mark} WHERE owner = {mark}", (now + ttl, owner)).rowcount
            if updated == 0:
                connection.exec_driver_sql(f"INSERT INTO moment_owners (owner, expires_at) VALUES ({mark}, {mark})",
                                           (owner, now + ttl))
            connection.exec_driver_sql(f"DELETE FROM moment_owners WHERE expires_at < {mark}", (now,))
            live = int(connection.exec_driver_sql("SELECT COUNT(*) FROM moment_owners").scalar_one())
            # Renewed whether or not it had expired meanwhile: nobody took it, so it is still ours.
            mine = connection.exec_driver_sql(
                f"UPDATE moment_partitions SET lease_expires = {mark} WHERE owner = {mark} RETURNING partition_no",
                (now + ttl, owner)).all()
        return live, {int(p) for (p,) in mine}

    def claim(self, owner: str, ttl: float, wanted: int) -> dict[int, Progress]:
        """Take up to ``wanted`` partitions that nobody holds (or whose lease expired), a
        random choice so that two claimants rarely reach for the same; with their progress."""
        return retrying(lambda: self._claim(owner, ttl, wanted))

    def _claim(self, owner: str, ttl: float, wanted: int) -> dict[int, Progress]:
        mark = self.mark
        taken: dict[int, Progress] = {}
        with self.engine.begin() as connection:
            now = self.now(connection)
            free = [int(p) for (p,) in connection.exec_driver_sql(
                f"SELECT partition_no FROM moment_partitions WHERE owner IS NULL OR lease_expires < {mark}",
                (now,)).all()]
            for partition in sorted(random.sample(free, min(wanted, len(free)))):  # rows locked in order
                # The condition again, on the row itself: whoever updates it first takes it.
                row = connection.exec_driver_sql(
                    f"UPDATE moment_partitions SET owner = {mark}, lease_expires = {mark} WHERE partition_no = {mark} "
                    f"AND (owner IS NULL OR lease_expires < {mark}) RETURNING processed_seq, clock, clock_inclusive",
                    (owner, now + ttl, partition, now)).first()
                if row is not None:
                    taken[partition] = _progress(row)
        return taken

    def release(self, owner: str, partitions: Sequence[int]) -> None:
        if not partitions:
            return
        mark = self.mark

        def release() -> None:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"UPDATE moment_partitions SET owner = NULL, lease_expires = NULL WHERE owner = {mark} "
                    f"AND partition_no IN ({', '.join([mark] * len(partitions))})", (owner, *partitions))
        retrying(release)

    def leave(self, owner: str) -> None:
        """Let the partitions go at once (an orderly shutdown): others need not wait for expiry."""
        mark = self.mark

        def leave() -> None:
            with self.engine.begin() as connection:
                connection.exec_driver_sql(
                    f"UPDATE moment_partitions SET owner = NULL, lease_expires = NULL WHERE owner = {mark}", (owner,))
                connection.exec_driver_sql(f"DELETE FROM moment_owners WHERE owner = {mark}", (owner,))
        retrying(leave)

    def status(self) -> list[dict[str, Any]]:
        """Every partition: owner, lease, how far processed, how far numbered (the lag)."""
        with self.engine.connect() as connection:
            now = self.now(connection)
            rows = connection.exec_driver_sql(
                "SELECT m.partition_no, m.owner, m.lease_expires, m.processed_seq, e.next_seq FROM moment_partitions m "
                "JOIN event_partitions e ON e.partition_no = m.partition_no ORDER BY m.partition_no").all()
        return [{"partition": int(p), "owner": o, "lease_seconds_left": None if x is None else round(x - now, 3),
                 "processed_seq": int(s), "next_seq": int(n), "lag": int(n) - int(s)} for p, o, x, s, n in rows]

    # -- an owner's writes ------------------------------------------------------------------

    @contextmanager
    def fenced(self, owner: str, ttl: float, progress: dict[int, Progress]) -> Iterator[Connection]:
        """A transaction that first records ``progress`` for partitions this owner still holds
        (renewing their leases), then takes the owner's writes; :class:`LeaseLost`, with
        nothing written, if any of them has another owner now."""
        mark = self.mark
        with self.engine.begin() as connection:
            now = self.now(connection)
            for partition in sorted(progress):  # one lock order, as the inserting transactions
                done = progress[partition]
                clock, inclusive = done.frontier
                updated = connection.exec_driver_sql(
                    f"UPDATE moment_partitions SET processed_seq = {mark}, clock = {mark}, clock_inclusive = {mark}, "
                    f"lease_expires = {mark} WHERE partition_no = {mark} AND owner = {mark}",
                    (done.seq, None if clock == float("-inf") else clock, inclusive, now + ttl, partition,
                     owner)).rowcount
                if updated != 1:
                    raise LeaseLost(f"partition {partition} has another owner")
            yield connection
        self.database.committed()

    def already_fired(self, connection: Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (event id, moment) firings the outbox holds already."""
        found: set[tuple[str, str]] = set()
        ids = sorted({event_id for event_id, _ in keys})
        mark = self.mark
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found |= {(e, m) for e, m in connection.exec_driver_sql(
                f"SELECT event_id, moment FROM outbox WHERE event_id IN ({', '.join([mark] * len(chunk))})",
                tuple(chunk)).all()}
        return found & set(keys)

    def insert_firings(self, connection: Connection, decisions: Sequence[tuple[Any, ...]],
                       outbox: Sequence[tuple[Any, ...]]) -> None:
        """Decision rows (:data:`~.tables.INSERT_COLUMNS`) and outbox rows (moment, customer,
        time, decision id, payload, created, event id), in the fenced transaction."""
        if decisions:
            connection.exec_driver_sql(self._insert_decisions, list(decisions))
        if outbox:
            mark = self.mark
            if not self.local:
                # Downstream services read the outbox by id (`after=ID`), so ids must commit
                # in order: a row numbered 100 committing after 101 was read would be skipped.
                # PostgreSQL numbers rows at insert; this lock (plain reads still pass) keeps
                # owners' inserts one at a time from numbering to commit. SQLite's writes
                # are one at a time already.
                connection.exec_driver_sql("LOCK TABLE outbox IN EXCLUSIVE MODE")
            connection.exec_driver_sql(
                f"INSERT INTO outbox (moment, customer_id, fired_at, decision_id, payload, created_at, event_id) "
                f"VALUES ({', '.join([mark] * 7)})", list(outbox))


    def latest_inputs(self, customers: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Per customer, the profile fields stored with their latest logged decision (as
        :meth:`.DecisionRepository.latest_inputs`, for many customers in one query)."""
        wanted = sorted(set(customers))
        found: dict[str, dict[str, Any]] = {}
        mark = self.mark
        with self.engine.connect() as connection:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start:start + 500]
                found.update({cid: unflatten(json.loads(inputs)) for cid, inputs in connection.exec_driver_sql(
                    f"SELECT customer_id, inputs FROM (SELECT customer_id, inputs, ROW_NUMBER() OVER "
                    f"(PARTITION BY customer_id ORDER BY created_at DESC, id DESC) AS newest FROM decisions "
                    f"WHERE customer_id IN ({', '.join([mark] * len(chunk))}) AND inputs IS NOT NULL) AS ranked "
                    f"WHERE newest = 1", tuple(chunk)).all()})
        return found


def _progress(row: Any) -> Progress:
    seq, clock, inclusive = row
    return Progress(int(seq), NOT_STARTED if clock is None else (float(clock), bool(inclusive)))
