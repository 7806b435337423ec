"""The moments' clock, kept per domain: absence deadlines waiting for time to pass them.

A domain is a set of customers whose time moves together. Replay has one (every event
moves the clock for everyone). A partition owner (moments/owner.py) has one per
partition it owns, so that rebuilding one partition from its stored events, on their
own clock, never lets time pass for another partition's customers.

How far a domain's clock has gone is its *frontier*: ``(time, inclusive)``; every
deadline before ``time`` (or at it, when ``inclusive``) has passed. Events move it
exclusively (a deadline at an event's own time is still open when the event comes:
`within` includes its last instant); an ``until`` or the wall clock inclusively.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator

Frontier = tuple[float, bool]  # (time, inclusive); stored as such by store/partitions.py
START: Frontier = (float("-inf"), False)

# (deadline, sequence number of the arming event, moment index, customer id)
Deadline = tuple[float, int, int, str]


def later(a: Frontier, b: Frontier) -> Frontier:
    """The further of two frontiers (at the same time, the inclusive one is further)."""
    return max(a, b)


class Deadlines:
    def __init__(self) -> None:
        self._heaps: dict[int, list[Deadline]] = {}
        self._frontiers: dict[int, Frontier] = {}

    def add(self, domain: int, deadline: Deadline) -> None:
        heapq.heappush(self._heaps.setdefault(domain, []), deadline)

    def frontier(self, domain: int) -> Frontier:
        return self._frontiers.get(domain, START)

    def domains(self) -> list[int]:
        return sorted(self._heaps.keys() | self._frontiers.keys())

    def pass_time(self, domain: int, until: float, inclusive: bool) -> Iterator[Deadline]:
        """Move ``domain``'s clock to ``until``; the deadlines it passes, in time order."""
        heap = self._heaps.get(domain)
        while heap and (heap[0][0] < until or (inclusive and heap[0][0] <= until)):
            yield heapq.heappop(heap)
        self._frontiers[domain] = later(self.frontier(domain), (until, inclusive))

    def drop(self, domain: int) -> None:
        """Forget a domain (its partition went to another owner)."""
        self._heaps.pop(domain, None)
        self._frontiers.pop(domain, None)
