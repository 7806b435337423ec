"""The events repository: customer events stored for partitioned moments, what their
moments fired, and the outbox downstream services poll (docs/design.md, "Replicas").

Any replica stores events (:meth:`EventRepository.accept`); each partition's owner reads
them back in sequence order (:meth:`EventRepository.after`, :meth:`EventRepository.chains`).
Two rules are the database's, checked in the inserting transaction:

- **Late events.** Each customer's watermark row is upserted (locked) in customer-id order
  and returns its previous value: an event older than it, or than an earlier event of the
  same customer in the request, is refused. Two replicas taking the same customer's
  events wait for each other on that row.
- **Sequence numbers.** Each partition's counter row is updated (locked) in partition
  order and hands out the request's numbers; the lock is held until commit, so a later
  number is never committed before an earlier one, and an owner reading past its cursor
  never skips an event that commits late.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from .connection import now
from .decisions import DecisionRepository
from .rows import new_ids, to_json

CHUNK = 500  # customers per statement: well under every database's parameter limit
RETRIES = 5  # PostgreSQL deadlock or serialization failures, retried whole
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Incoming:
    customer_id: str
    type: str
    timestamp: float
    body: dict[str, Any]
    partition: int


@dataclass(frozen=True, slots=True)
class Stored:
    id: str
    partition: int
    seq: int
    customer_id: str
    type: str
    timestamp: float
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Late:
    """A refused event: older than the customer's latest accepted one."""

    latest: float


class EventRepository:
    def __init__(self, decisions: DecisionRepository) -> None:
        """Over the decisions' database."""
        self.database = decisions.database
        self.engine = self.database.engine
        self.mark = self.database.mark

    # -- in ---------------------------------------------------------------------------

    def accept(self, events: Sequence[Incoming]) -> list[Stored | Late]:
        """Store what is not late, in one transaction; per event, what became of it."""
        return retrying(lambda: self._accept(events)) if events else []

    def _accept(self, events: Sequence[Incoming]) -> list[Stored | Late]:
        newest: dict[str, float] = {}
        for item in events:
            newest[item.customer_id] = max(item.timestamp, newest.get(item.customer_id, item.timestamp))
        with self.engine.begin() as connection:
            running = self._move_watermarks(connection, newest)
            accepted: list[Incoming] = []
            outcome: list[Incoming | Late] = []
            for item in events:
                latest = running.get(item.customer_id)
                if latest is not None and item.timestamp < latest:
                    outcome.append(Late(latest))
                    continue
                running[item.customer_id] = item.timestamp
                accepted.append(item)
                outcome.append(item)
            numbers = self._number(connection, accepted)
            stored = {id(item): Stored(row_id, item.partition, numbers[id(item)], item.customer_id, item.type,
                                       item.timestamp, item.body)
                      for item, row_id in zip(accepted, new_ids(len(accepted)), strict=True)}
            if stored:
                received = self.database.bind("created_at", now())
                connection.exec_driver_sql(
                    f"INSERT INTO events (id, customer_id, type, occurred_at, body, received_at, partition_no, seq) "
                    f"VALUES ({', '.join([self.mark] * 8)})",
                    [(s.id, s.customer_id, s.type, s.timestamp, to_json(s.body), received, s.partition, s.seq)
                     for s in stored.values()])
        self.database.committed()
        return [o if isinstance(o, Late) else stored[id(o)] for o in outcome]

    def _move_watermarks(self, connection: Connection, newest: dict[str, float]) -> dict[str, float]:
        """Move each customer's watermark to their newest event here (never back); their
        previous watermarks (customers never seen have none)."""
        previous: dict[str, float] = {}
        customers = sorted(newest)  # one lock order for every transaction: no deadlock between two
        for start in range(0, len(customers), CHUNK):
            chunk = customers[start:start + CHUNK]
            rows = connection.exec_driver_sql(
                f"INSERT INTO customer_watermarks (customer_id, latest, previous) VALUES "
                f"{', '.join([f'({self.mark}, {self.mark}, NULL)'] * len(chunk))} "
                f"ON CONFLICT (customer_id) DO UPDATE SET previous = customer_watermarks.latest, "
                f"latest = CASE WHEN excluded.latest > customer_watermarks.latest THEN excluded.latest "
                f"ELSE customer_watermarks.latest END RETURNING customer_id, previous",
                tuple(value for cid in chunk for value in (cid, newest[cid]))).all()
            previous.update({cid: float(was) for cid, was in rows if was is not None})
        return previous

    def _number(self, connection: Connection, accepted: list[Incoming]) -> dict[int, int]:
        """Sequence numbers for the accepted events, per partition in request order."""
        per_partition: dict[int, list[Incoming]] = {}
        for item in accepted:
            per_partition.setdefault(item.partition, []).append(item)
        numbers: dict[int, int] = {}
        mark = self.mark
        for partition in sorted(per_partition):
            items = per_partition[partition]
            latest = max(item.timestamp for item in items)
            last = connection.exec_driver_sql(
                f"UPDATE event_partitions SET next_seq = next_seq + {mark}, latest = CASE WHEN latest IS NULL "
                f"OR latest < {mark} THEN {mark} ELSE latest END WHERE partition_no = {mark} RETURNING next_seq",
                (len(items), latest, latest, partition)).scalar_one()
            for offset, item in enumerate(items):
                numbers[id(item)] = int(last) - len(items) + 1 + offset
        return numbers

    # -- out, for partition owners ----------------------------------------------------

    def heads(self) -> dict[int, tuple[int, float | None]]:
        """Per partition: the last sequence number given, and the latest event time."""
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT partition_no, next_seq, latest FROM event_partitions").all()
        return {int(p): (int(n), None if t is None else float(t)) for p, n, t in rows}

    def after(self, partition: int, seq: int, limit: int) -> list[Stored]:
        """A partition's events after ``seq``, in order, at most ``limit``."""
        mark = self.mark
        return self._read(f"partition_no = {mark} AND seq > {mark} ORDER BY seq LIMIT {int(limit)}",
                          (partition, seq))

    def chains(self, partition: int, through: int, since: float, horizon: float) -> list[Stored]:
        """What a new owner replays to get back a partition's correlation state, in order:
        the events up to ``through`` from ``since`` on, and for each of their customers the
        earlier events chained to them (each within ``horizon`` of the next). An event more
        than the longest pattern before a customer's next one can share no match with it or
        anything after, so the chain stops there."""
        mark = self.mark
        if since == float("-inf"):  # from the beginning: every event, nothing before to chain
            return self._read(f"partition_no = {mark} AND seq <= {mark} ORDER BY seq", (partition, through))
        found = {s.seq: s for s in self._read(f"partition_no = {mark} AND seq <= {mark} AND occurred_at >= {mark}",
                                              (partition, through, since))}
        earliest: dict[str, float] = {}
        for item in found.values():
            earliest[item.customer_id] = min(item.timestamp, earliest.get(item.customer_id, item.timestamp))
        bound = since
        while earliest:  # walk back a horizon at a time while some customer's chain goes on
            low = min(earliest.values()) - horizon
            customers = sorted(earliest)
            older: list[Stored] = []
            for start in range(0, len(customers), CHUNK):
                chunk = customers[start:start + CHUNK]
                older += self._read(f"partition_no = {mark} AND seq <= {mark} AND occurred_at >= {mark} "
                                    f"AND occurred_at < {mark} AND customer_id IN ({', '.join([mark] * len(chunk))})",
                                    (partition, through, low, bound, *chunk))
            going_on: dict[str, float] = {}
            for item in sorted(older, key=lambda s: -s.seq):  # newest first: each customer's chain backwards
                reach = going_on.get(item.customer_id, earliest[item.customer_id])
                if item.timestamp >= reach - horizon:
                    found[item.seq] = item
                    going_on[item.customer_id] = item.timestamp
            earliest = {cid: when for cid, when in going_on.items() if when - horizon < low}
            bound = low
        return [found[seq] for seq in sorted(found)]

    def ids_of(self, partition: int, seqs: Iterable[int]) -> dict[int, str]:
        wanted = sorted(set(seqs))
        if not wanted:
            return {}
        mark = self.mark
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT seq, id FROM events WHERE partition_no = {mark} AND seq IN ({', '.join([mark] * len(wanted))})",
                (partition, *wanted)).all()
        return {int(seq): row_id for seq, row_id in rows}

    def _read(self, where: str, values: tuple[Any, ...]) -> list[Stored]:
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT id, partition_no, seq, customer_id, type, occurred_at, body FROM events WHERE {where}",
                values).all()
        return [Stored(i, int(p), int(s), c, t, float(o), json.loads(b)) for i, p, s, c, t, o, b in rows]

    # -- results -------------------------------------------------------------------------

    def lookup(self, event_id: str) -> dict[str, Any] | None:
        """A stored event, whether its partition's owner has processed it, and what it fired."""
        mark = self.mark
        with self.engine.connect() as connection:
            row = connection.exec_driver_sql(
                f"SELECT e.body, e.partition_no, e.seq, e.received_at, p.processed_seq FROM events e "
                f"JOIN moment_partitions p ON p.partition_no = e.partition_no WHERE e.id = {mark}",
                (event_id,)).first()
        if row is None:
            return None
        body, partition, seq, received, processed = row
        return {"id": event_id, "event": json.loads(body), "partition": int(partition), "seq": int(seq),
                "received_at": str(received), "processed": int(processed) >= int(seq),
                "fired": self.fired_by([event_id])}

    def processed(self, partitions: Iterable[int]) -> dict[int, int]:
        wanted = sorted(set(partitions))
        if not wanted:  # (PostgreSQL refuses an empty IN list)
            return {}
        mark = self.mark
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT partition_no, processed_seq FROM moment_partitions "
                f"WHERE partition_no IN ({', '.join([mark] * len(wanted))})", tuple(wanted)).all()
        return {int(p): int(s) for p, s in rows}

    def fired_by(self, event_ids: Sequence[str]) -> list[dict[str, Any]]:
        """The outbox items of the moments these events completed (an absence: armed)."""
        found: list[dict[str, Any]] = []
        mark = self.mark
        with self.engine.connect() as connection:
            for start in range(0, len(event_ids), CHUNK):
                chunk = event_ids[start:start + CHUNK]
                rows = connection.exec_driver_sql(
                    f"SELECT id, payload FROM outbox WHERE event_id IN ({', '.join([mark] * len(chunk))})",
                    tuple(chunk)).all()
                found += [{"id": int(row_id), **json.loads(payload)} for row_id, payload in rows]
        return sorted(found, key=lambda item: int(item["id"]))


    def outbox(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT id, payload FROM outbox WHERE id > {self.mark} ORDER BY id LIMIT {int(limit)}", (after,))
            return [{"id": int(row_id), **json.loads(payload)} for row_id, payload in rows]


def retrying(work: Callable[[], T]) -> T:
    """``work`` (one transaction), again after a deadlock or serialization failure: PostgreSQL
    aborts one of two transactions that wait for each other, and the whole retry is safe."""
    for attempt in range(RETRIES):
        try:
            return work()
        except DBAPIError as error:
            code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
            if code not in ("40P01", "40001") or attempt == RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover
