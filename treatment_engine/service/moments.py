"""The service's moments of truth: any replica takes events, partition owners fire moments.

``POST /v1/events`` checks each event, stores the good ones (the late-event rule and the
partitions' sequence numbers are the database's: event_store.py) and answers once they are
committed, with their ids. Correlation is asynchronous: the owner of each event's
partition (moments/owner.py, one thread in some replica, maybe this one) processes it,
decides what fires and writes it to the outbox. A caller that wants the outcome can wait
for it (:meth:`EventIntake.wait`) or read it later (:meth:`EventIntake.lookup`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import SQLAlchemyError

from ..compile import CompiledPlan
from ..moments.events import Event, EventError, iso, parse_event
from ..moments.owner import PartitionOwner
from ..store import CUSTOMER_ID_MAX, EventRepository
from ..store.events import Incoming, Late, Stored

WAIT_STEP = 0.02  # seconds between looks at the owners' progress
# With the wall clock, how far past it an event's timestamp may be (sources' clocks differ
# by this much); with --moment-clock events, time is the events' own and any is taken.
FUTURE_TOLERANCE_SECONDS = 300.0


class MomentsUnavailable(Exception):
    """The events could not be stored; nothing of the request was kept, it may be sent again."""


@dataclass
class Accepted:
    ids: list[str | None] = field(default_factory=list)  # per event of the request; None: refused
    refused: list[EventError] = field(default_factory=list)
    stored: list[Stored] = field(default_factory=list)


class EventIntake:
    def __init__(self, plan_of: Callable[[], CompiledPlan], owner: PartitionOwner) -> None:
        self.plan_of = plan_of
        self.owner = owner
        self.store: EventRepository = owner.events

    async def accept(self, raws: list[Any]) -> Accepted:
        """Check and store; raises :class:`MomentsUnavailable` if the database refuses."""
        known = self.plan_of().event_types
        not_after = time.time() + FUTURE_TOLERANCE_SECONDS if self.owner.wall_clock else None
        answer = Accepted(ids=[None] * len(raws))
        parsed: list[Event] = []
        for index, raw in enumerate(raws):
            item = parse_event(raw, index, known, CUSTOMER_ID_MAX, not_after)
            if isinstance(item, EventError):
                answer.refused.append(item)
            else:
                parsed.append(item)
        incoming = [Incoming(e.customer_id, e.type, e.timestamp, e.fields, self.owner.partition(e.customer_id))
                    for e in parsed]
        try:
            outcomes = await run_in_threadpool(self.store.accept, incoming)
        except SQLAlchemyError as error:
            raise MomentsUnavailable(str(error).splitlines()[0]) from None
        for event, outcome in zip(parsed, outcomes, strict=True):
            if isinstance(outcome, Late):
                answer.refused.append(EventError(
                    event.index, event.customer_id,
                    f"late event: {iso(event.timestamp)} is before this customer's latest event "
                    f"({iso(outcome.latest)}); events of a customer must arrive in time order"))
            else:
                answer.ids[event.index] = outcome.id
                answer.stored.append(outcome)
        answer.refused.sort(key=lambda error: error.index)
        if answer.stored:
            self.owner.wake()
        return answer

    async def wait(self, stored: list[Stored], seconds: float) -> bool:
        """Wait until the owners of these events' partitions have processed them (at most
        ``seconds``); whether they have."""
        needed: dict[int, int] = {}
        for item in stored:
            needed[item.partition] = max(item.seq, needed.get(item.partition, 0))
        deadline = time.monotonic() + seconds
        while True:
            done = await run_in_threadpool(self.store.processed, needed)
            if all(done.get(p, 0) >= seq for p, seq in needed.items()):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(WAIT_STEP)

    async def fired_by(self, stored: list[Stored]) -> list[dict[str, Any]]:
        return await run_in_threadpool(self.store.fired_by, [item.id for item in stored])

    async def lookup(self, event_id: str) -> dict[str, Any] | None:
        return await run_in_threadpool(self.store.lookup, event_id)
