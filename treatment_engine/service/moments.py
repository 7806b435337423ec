"""The service's moments of truth: events in, fired moments decided, logged and put in the outbox.

One :class:`MomentEngine` (one durable-rules worker) per plan version. Requests take
turns on it (an asyncio lock): correlation is one stream per plan. On a plan change the
next request starts a new engine, rebuilt from the stored events, and stops the old one
once nothing uses it (no durable-rules ruleset is ever redefined in a live process).

State after a restart: every acknowledged event is stored with what it fired, in one
transaction, so a new engine replays the stored events of the last `horizon` (the
longest a pattern can take) on their own clock to get back exactly the partial matches
it had, ignoring what they fire (that was emitted already), then carries on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi.concurrency import run_in_threadpool

from ..compile import CompiledPlan
from ..contacts import NO_LIMITS, ContactState
from ..decision import Decision
from ..moments.engine import Fired, MomentEngine
from ..moments.events import Event, EventError, parse_event
from ..store import CUSTOMER_ID_MAX, DecisionRepository, EventRepository


class MomentsUnavailable(Exception):
    """The moments worker failed; the request was not taken and may be sent again."""


CARRIED_MAX = 100_000  # profiles carried by events, kept for the most recent customers


class _Profiles:
    """Who a fired moment decides: the profile an event carried, else the fields stored with
    the customer's latest logged decision, else just the customer id."""

    def __init__(self, log: DecisionRepository | None) -> None:
        self.log = log
        self.carried: dict[str, dict[str, Any]] = {}

    def carry(self, customer_id: str, profile: dict[str, Any]) -> None:
        self.carried.pop(customer_id, None)  # re-inserted last: the dict keeps recency order
        self.carried[customer_id] = {**profile, "customer_id": customer_id}
        if len(self.carried) > CARRIED_MAX:
            del self.carried[next(iter(self.carried))]

    def get(self, customer_id: str, /) -> dict[str, Any] | None:
        if customer_id in self.carried:
            return self.carried[customer_id]
        return self.log.latest_inputs(customer_id) if self.log is not None else None


class MomentHub:
    def __init__(self, plan_of: Callable[[], CompiledPlan], log: EventRepository | None,
                 wall_clock: bool = True) -> None:
        self.plan_of = plan_of
        self.log = log
        self.wall_clock = wall_clock
        self.profiles = _Profiles(log.decisions if log is not None else None)
        self._engine: MomentEngine | None = None
        self._lock = asyncio.Lock()

    async def ingest(self, raws: list[Any]) -> tuple[list[Fired], list[EventError], int]:
        """Accept what can be accepted; (fired, refused, accepted count). Raises
        :class:`MomentsUnavailable` when the worker fails (nothing of the request is kept)."""
        async with self._lock:
            # Off the event loop: a rebuild after a plan change, the round trip to the worker
            # and the commit; the lock keeps requests in turn on the engine meanwhile.
            return await run_in_threadpool(self._ingest, raws)

    async def tick(self) -> list[Fired]:
        """Let the wall clock move the engine's clock: absences whose deadline passed fire."""
        async with self._lock:
            engine = self._engine
            if engine is None or not self.wall_clock:
                return []
            return await run_in_threadpool(self._guarded, self._advance_and_store, engine, time.time())

    def _ingest(self, raws: list[Any]) -> tuple[list[Fired], list[EventError], int]:
        engine = self._guarded(self._current)
        errors: list[EventError] = []
        accepted: list[Event] = []
        for index, raw in enumerate(raws):
            parsed = parse_event(raw, index, engine.known_types,
                                 CUSTOMER_ID_MAX if self.log is not None else None)
            if isinstance(parsed, Event):
                problem = engine.check(parsed)
                if problem is None:
                    accepted.append(parsed)
                    carried = parsed.fields.get("profile")
                    if isinstance(carried, dict):
                        self.profiles.carry(parsed.customer_id, carried)
                    continue
                parsed = problem
            errors.append(parsed)
        fired = self._guarded(self._feed_and_store, engine, accepted)
        return fired, errors, len(accepted)

    def _guarded(self, work: Callable[..., Any], *args: Any) -> Any:
        """Run ``work``; if the worker fails, drop the engine (the next request rebuilds one
        from the stored events, so nothing acknowledged is lost) and say so."""
        try:
            return work(*args)
        except Exception as error:  # the worker, or the database: the engine may be ahead of the log
            if self._engine is not None:
                self._engine.close()
                self._engine = None
            raise MomentsUnavailable(str(error)) from None

    def _feed_and_store(self, engine: MomentEngine, events: list[Event]) -> list[Fired]:
        fired = engine.feed(events)
        self._store(engine.plan, events, fired)
        return fired

    def _advance_and_store(self, engine: MomentEngine, until: float) -> list[Fired]:
        fired = engine.advance_to(until)
        self._store(engine.plan, [], fired)
        return fired

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def _current(self) -> MomentEngine:
        plan = self.plan_of()
        if self._engine is not None and self._engine.plan.version == plan.version:
            return self._engine
        old, self._engine = self._engine, MomentEngine(plan, self.profiles, self._limits_for(plan))
        self._rebuild(self._engine)
        if old is not None:
            old.close()  # requests take turns under the lock: nothing is using it any more
        return self._engine

    def _limits_for(self, plan: CompiledPlan) -> Callable[[str, date], ContactState] | None:
        """A moment's decision counts the customer's logged contacts, as the decision
        endpoints do; decisions committed in the same request are not yet among them."""
        rules, log = plan.contact_rules, self.log.decisions if self.log is not None else None
        if rules is None or log is None:
            return None

        def limits(customer_id: str, day: date) -> ContactState:
            return log.limits([customer_id], day, rules).get(customer_id, NO_LIMITS)
        return limits

    def _rebuild(self, engine: MomentEngine) -> None:
        if self.log is None or not engine.plan.moments:
            return
        latest = self.log.latest_event_time()
        if latest is None:
            return
        horizon = max(m.horizon for m in engine.plan.moments)
        replayed = []
        for index, raw in enumerate(self.log.events_since(latest - horizon)):
            parsed = parse_event(raw, index, engine.known_types)
            if isinstance(parsed, Event) and engine.check(parsed) is None:
                replayed.append(parsed)
        engine.feed(replayed, decide=False)  # what they fire was decided when they first came

    def _store(self, plan: CompiledPlan, events: list[Event], fired: list[Fired]) -> None:
        if self.log is None or (not events and not fired):
            return
        items = []
        for item in fired:
            # The profile the moment was decided with, its fields included, so that the
            # logged inputs replay the decision.
            profile = item.profile or {"customer_id": item.customer_id}
            decision = item.decision if isinstance(item.decision, Decision) else None
            items.append((profile, decision, item.fired_at, item.to_record()))
        ids = self.log.record_events(plan, [(e.customer_id, e.type, e.timestamp, e.fields) for e in events], items)
        for item, decision_id in zip(fired, ids, strict=True):
            item.decision_id = decision_id
