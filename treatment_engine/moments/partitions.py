"""Customers hashed into partitions, and this process's fair share of them (leases).

Every customer belongs to one partition: CRC-32 (ISO-HDLC, as zlib, Java's CRC32 and
PostgreSQL extensions compute it) of the UTF-8 id, modulo the number of partitions the
database was made with (migration 0007: 16). Python's ``hash()`` would not do: it is
salted per process, and every replica must agree.

Each live process holds about ``ceil(partitions / live processes)`` of them. On each
heartbeat (a quarter of the lease) it renews its leases, learns which it lost, gives back
what it holds beyond its share, and claims free or expired ones up to it. A process that
dies stops renewing: its leases expire after ``lease`` seconds and the others take its
partitions over on their next heartbeat.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass, field

from ..store.partitions import PartitionRepository, Progress


def partition_of(customer_id: str, count: int) -> int:
    return zlib.crc32(customer_id.encode("utf-8")) % count


@dataclass
class Changes:
    lost: set[int] = field(default_factory=set)  # taken by another owner (ours had expired)
    released: set[int] = field(default_factory=set)  # given back: beyond this process's share
    gained: dict[int, Progress] = field(default_factory=dict)  # claimed, with their progress


class Leases:
    def __init__(self, store: PartitionRepository, owner: str, lease: float) -> None:
        self.store = store
        self.owner = owner
        self.lease = lease
        self.every = lease / 4
        self.count = store.count()
        self._next = 0.0  # the next heartbeat
        self._renewed = 0.0  # the last time the leases were renewed (by a heartbeat or not)
        self._joined = False

    def due(self) -> bool:
        return time.monotonic() >= self._next

    def renewal_due(self) -> bool:
        return time.monotonic() >= self._renewed + self.every

    def beat(self, held: set[int], eligible: bool) -> Changes:
        """One heartbeat. ``eligible``: this process can correlate (its plan has moments);
        if not, it lets everything go and takes no share."""
        changes = Changes()
        if not eligible:
            if self._joined:
                self.store.leave(self.owner)
                self._joined = False
            changes.released = set(held)
            self._next = time.monotonic() + self.every
            return changes
        live, mine = self.store.heartbeat(self.owner, self.lease)
        self._renewed = time.monotonic()
        changes.lost = held - mine
        stray = mine - held  # ours in the database, unknown here (a claim whose answer was lost)
        if stray:
            self.store.release(self.owner, sorted(stray))
            mine -= stray
        if not self._joined:
            # Claim from the next beat on: processes started together see each other first,
            # instead of the first taking everything and handing most of it back.
            self._joined = True
            self._next = time.monotonic() + min(self.every, 0.5)
            return changes
        share = math.ceil(self.count / max(live, 1))
        if len(mine) > share:
            changes.released = set(sorted(mine)[share:])
            self.store.release(self.owner, sorted(changes.released))
        elif len(mine) < share:
            changes.gained = self.store.claim(self.owner, self.lease, share - len(mine))
        self._next = time.monotonic() + self.every
        return changes

    def renew(self) -> None:
        """Only renew (in the middle of long work): no claims, no releases; the next
        heartbeat stays due when it was."""
        self.store.heartbeat(self.owner, self.lease)
        self._renewed = time.monotonic()

    def leave(self) -> None:
        if self._joined:
            self.store.leave(self.owner)
            self._joined = False
