"""The moments' clock, kept per domain: absence deadlines waiting for time to pass them,
and what the worker holds, waiting for time to pass it far enough to be forgotten.

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
# (the message's time, its sequence number (its id in the worker), the moments it was posted to)
Held = tuple[float, int, tuple[int, ...]]


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


class Retention:
    """The messages the worker holds, per domain, oldest first: each is forgotten once its
    domain's clock is more than ``keep`` seconds past it (docs/plan-format.md, appendix D)."""

    def __init__(self, keep: float) -> None:
        self.keep = keep
        self._heaps: dict[int, list[Held]] = {}

    def add(self, domain: int, held: Held) -> None:
        heapq.heappush(self._heaps.setdefault(domain, []), held)

    def expired(self, domain: int, clock: float) -> Iterator[Held]:
        """The messages ``domain``'s clock at ``clock`` has left behind, oldest first."""
        heap = self._heaps.get(domain)
        while heap and heap[0][0] + self.keep < clock:
            yield heapq.heappop(heap)

    def drop(self, domain: int) -> list[Held]:
        """Everything held for ``domain``, oldest first (its partition went to another owner)."""
        return sorted(self._heaps.pop(domain, []))

    def __len__(self) -> int:
        return sum(len(heap) for heap in self._heaps.values())
