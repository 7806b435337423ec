"""A partition owner: correlates the stored events of the partitions this process holds.

One thread per process, one :class:`Correlator` (one durable-rules worker) per plan
version for all the partitions it holds, each partition its own clock domain. A pass:

1. read every partition's last sequence number and latest event time (one snapshot);
2. feed each held partition's events after its cursor, in sequence order;
3. once caught up, let every held partition's clock reach the latest event time seen in
   step 1 (exclusively, as an event at that time would) and, with the wall clock, now;
4. in one transaction *fenced* on the leases (partition_store.py): record each touched
   partition's cursor and clock frontier, skip firings the outbox holds already (an event
   completes a moment at most once), decide the rest and write their decisions and outbox
   rows. If a lease was lost, nothing is written and the correlator is rebuilt.

Taking a partition over (a new owner, a restart, a plan change) rebuilds its state from
the stored events up to its recorded cursor (event_store.chains), on their own clock, up
to its recorded frontier, without deciding: what they fired was written with the cursor.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection

from ..compile import CompiledPlan
from ..contacts import NO_LIMITS, ContactState
from ..decision import Decision
from ..store import DecisionLog, DecisionRepository
from ..store.events import Stored
from ..store.locks import lock_customers
from ..store.partitions import LeaseLost, Progress
from ..store.rows import Inputs, to_json
from .correlator import Correlator, Fired, rebuild_span
from .events import Event, in_calendar, iso
from .partitions import Leases, partition_of

BATCH = 2_000  # events per round trip to the worker in a rebuild
PASS = 4_000  # events per pass, shared by the partitions: a pass stays short, heartbeats on time
SPAN = 1 << 16  # an event's position in the correlator: seq * SPAN + partition
CARRIED_MAX = 100_000  # profiles carried by events, kept for the most recent customers
# Of each, only the fields the plan reads, up to the decision log's bound for its inputs
# (store/rows.py): an event may carry a profile of megabytes, and 100,000 of them were kept whole.
logger = logging.getLogger("treatment.moments")


class CarriedProfiles:
    """Who a fired moment decides: the profile an event carried, else the fields stored with
    the customer's latest logged decision, else just the customer id."""

    def __init__(self, decisions: DecisionRepository) -> None:
        self.decisions = decisions
        self.carried: dict[str, dict[str, Any]] = {}
        # Read for the firings being decided (authoritative while set: absent means none logged).
        self.logged: dict[str, dict[str, Any]] | None = None

    def carry(self, customer_id: str, profile: dict[str, Any]) -> None:
        self.carried.pop(customer_id, None)  # re-inserted last: the dict keeps recency order
        self.carried[customer_id] = {**profile, "customer_id": customer_id}
        if len(self.carried) > CARRIED_MAX:
            del self.carried[next(iter(self.carried))]

    def get(self, customer_id: str, /) -> dict[str, Any] | None:
        if customer_id in self.carried:
            return self.carried[customer_id]
        if self.logged is not None:
            return self.logged.get(customer_id)
        return self.decisions.latest_inputs(customer_id)


class PartitionOwner:
    """The partition owner of one process (see the module's docstring); a thread of its own."""

    def __init__(self, log: DecisionLog, plan_of: Callable[[], CompiledPlan], *, wall_clock: bool,
                 lease: float = 10.0, poll: float = 0.1,
                 on_fired: Callable[[list[Fired]], None] | None = None) -> None:
        self.id = uuid.uuid4().hex
        self.decisions = log.decisions
        self.plan_of = plan_of
        self.wall_clock = wall_clock
        self.poll = poll
        self.on_fired = on_fired
        self.events = log.events
        self.store = log.partitions
        self.leases = Leases(self.store, self.id, lease)
        self.count = self.leases.count
        self.profiles = CarriedProfiles(log.decisions)
        self._reads: tuple[str, Inputs] | None = None  # (plan version, what of a carried profile it reads)
        self.held: dict[int, Progress] = {}  # with what is committed for each
        self.last_error: str | None = None
        self._correlator: Correlator | None = None
        self._fed: set[int] = set()  # partitions the current correlator has state for
        self._limits: dict[tuple[str, date], ContactState] = {}  # read for the firings being decided
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="moments-owner", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Events were stored here: look now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        try:
            self.leases.leave()  # others take the partitions over now, not after the lease
        except Exception:  # the database is gone: the leases expire by themselves
            logger.exception("could not give the partitions back")
        self._reset()

    def catch_up(self) -> None:
        """Heartbeat now and process everything stored in the partitions held, in the calling
        thread (tools and tests; not while the owner's own thread runs)."""
        self._beat()
        self._beat()  # the first only joins (see Leases.beat)
        while self._pass():
            pass

    def partition(self, customer_id: str) -> int:
        return partition_of(customer_id, self.count)

    # -- the loop ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            try:
                if self.leases.due():
                    self._beat()
                busy = self._pass()
                self.last_error = None
            except Exception as error:  # logged; the correlator is rebuilt from the database
                logger.exception("a moments pass failed")
                self.last_error = f"{type(error).__name__}: {error}"
                self._reset()
                self._stop.wait(min(1.0, self.poll * 10))
            if not busy:
                self._wake.wait(self.poll)
                self._wake.clear()

    def _beat(self) -> None:
        plan = self.plan_of()
        changes = self.leases.beat(set(self.held), plan.correlates)
        for partition in changes.lost | changes.released:
            del self.held[partition]
            if self._correlator is not None:
                self._correlator.drop_domain(partition)
        if changes.lost:
            logger.warning("partitions %s were taken over by another owner", sorted(changes.lost))
        if not self.held and not changes.gained:
            self._reset()  # nothing left to correlate: the worker process goes too
        if not changes.gained:
            return
        self.held.update(changes.gained)
        if self._correlator is not None:
            if changes.gained.keys() & self._fed:  # it still holds their old state: start afresh
                self._reset()
            else:
                self._rebuild(self._correlator, sorted(changes.gained))

    def _current(self, plan: CompiledPlan) -> Correlator:
        if self._correlator is not None and self._correlator.plan.version == plan.version:
            return self._correlator
        self._reset()
        correlator = self._correlator = Correlator(plan, self.profiles, self._limits_for(plan),
                                             domain_of=self.partition)
        if plan.moments:  # a plan whose only moments are stalled journeys needs no worker
            correlator.start()
        self._rebuild(correlator, sorted(self.held))
        return correlator

    def _reset(self) -> None:
        if self._correlator is not None:
            self._correlator.close()
        self._correlator = None
        self._fed = set()

    def _rebuild(self, correlator: Correlator, partitions: list[int]) -> None:
        horizon = max((m.horizon for m in correlator.plan.moments), default=0)
        heads = self.events.heads()
        for partition in partitions:
            done = self.held[partition]
            clock, inclusive = done.frontier
            latest = _in_calendar(heads[partition][1])
            # As far back as a live correlator keeps events (correlator.keeps: a horizon, and
            # one more for customers whose events arrive behind the clock), or a stalling
            # journey's open runs began (rebuild_span). Earlier events of those customers
            # are chained in: what they consumed decides what is left.
            since = min(clock, latest if latest is not None else clock) - rebuild_span(correlator.plan)
            stored = self.events.chains(partition, done.seq, since, horizon)
            for start in range(0, len(stored), BATCH):
                correlator.feed(self._as_events(stored[start:start + BATCH], correlator.plan), decide=False)
                self._keep_leases()  # a long rebuild too (leases lost meanwhile show at the next beat)
            correlator.advance_to(clock, inclusive=inclusive, decide=False, domain=partition)
            self._fed.add(partition)

    def _pass(self) -> bool:
        """Process what is new; True when more is waiting (no pause before the next pass)."""
        plan = self.plan_of()
        if not plan.correlates or not self.held:
            return False
        heads = self.events.heads()
        if self._correlator is None and not any(heads[p][0] for p in self.held):
            return False  # nothing stored in these partitions yet: no state, no worker needed
        correlator = self._current(plan)
        new: list[Stored] = []
        cursors: dict[int, int] = {}
        behind = False
        share = max(100, PASS // len(self.held))
        for partition in sorted(self.held):
            last = heads[partition][0]
            if last <= self.held[partition].seq:
                continue
            stored = self.events.after(partition, self.held[partition].seq, share)
            new += stored
            cursors[partition] = stored[-1].seq
            behind = behind or stored[-1].seq < last
        # One feed for all: partitions are clock domains of their own, so their events need
        # no order between them (fewer round trips to the worker).
        fired = correlator.feed(self._as_events(new, correlator.plan), decide=False)
        self._fed |= cursors.keys()
        self._keep_leases()
        if not behind:
            latest = [t for t in (_in_calendar(t) for _, t in heads.values()) if t is not None]
            if latest:
                fired += correlator.advance_to(max(latest), inclusive=False, decide=False)
            if self.wall_clock:
                fired += correlator.advance_to(time.time(), inclusive=True, decide=False)
        if cursors or fired:
            self._commit(correlator, fired, cursors)
        return behind

    def _keep_leases(self) -> None:
        """In the middle of a pass, renew the leases if a heartbeat is due: a slow pass (a
        busy machine) must not let them expire under it."""
        if self.leases.renewal_due():
            self.leases.renew()

    # -- writing what fired ------------------------------------------------------------------

    def _commit(self, correlator: Correlator, fired: list[Fired], cursors: dict[int, int]) -> None:
        touched = set(cursors) | {self.partition(item.customer_id) for item in fired}
        progress = {p: Progress(cursors.get(p, self.held[p].seq), correlator.frontier(p)) for p in touched}
        ids = self._event_ids(fired)
        try:
            with self.store.fenced(self.id, self.leases.lease, progress) as connection:
                keys = [(ids[item.events[-1]], item.moment) for item in fired]
                written = self.store.already_fired(connection, keys)
                fresh = [item for item, key in zip(fired, keys, strict=True) if key not in written]
                if correlator.plan.contact_rules is not None:
                    # Under the customers' locks, as the decision endpoints decide (service/serialize.py):
                    # a moment's contact and a request's for one customer never both count
                    # a history without the other.
                    lock_customers(connection, [item.customer_id for item in fresh])
                for round_ in _rounds(fresh):  # a customer's second firing counts its first
                    decided = self._decide(correlator, round_, connection)
                    decisions, outbox = self._rows(correlator.plan, decided, ids)
                    self.store.insert_firings(connection, decisions, outbox)
        except LeaseLost:
            self._reset()  # it has fed events it may no longer write for
            self._beat()
            raise
        self.held.update(progress)
        if fresh and self.on_fired is not None:
            self.on_fired(fresh)

    def _decide(self, correlator: Correlator, fired: list[Fired], connection: Connection) -> list[Fired]:
        """The one place a fired moment is decided, inside the owner's transaction: the
        customers' logged contacts (the plan's caps and cooldown) and latest profiles are
        read, one query per day for all of them, and the plan decides each."""
        customers = {item.customer_id for item in fired}
        self.profiles.logged = self.store.latest_inputs(customers - self.profiles.carried.keys())
        rules = correlator.plan.contact_rules
        if rules is not None:
            days: dict[date, set[str]] = {}
            for item in fired:
                days.setdefault(_day(item.fired_at), set()).add(item.customer_id)
            self._limits = {(cid, day): state for day, ids in days.items()
                            for cid, state in self.decisions.limits(ids, day, rules, connection=connection).items()}
        try:
            return [correlator.decide(item) for item in fired]
        finally:
            self.profiles.logged, self._limits = None, {}

    def _rows(self, plan: CompiledPlan, fired: list[Fired],
              ids: dict[int, str]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        maker = self.decisions.row_maker(plan)
        decided = [(item.profile or {"customer_id": item.customer_id}, item.decision) for item in fired
                   if isinstance(item.decision, Decision)]
        rows = maker.rows(decided)
        decision_ids = iter(row[0] for row in rows)
        outbox = []
        for item in fired:
            item.decision_id = next(decision_ids) if isinstance(item.decision, Decision) else None
            payload = {"moment": item.moment, "customer_id": item.customer_id, "fired_at": iso(item.fired_at),
                       "events": [ids[p] for p in item.events],
                       "decision": item.decision.to_record() if item.decision is not None else None,
                       "decision_id": item.decision_id}
            outbox.append((item.moment, item.customer_id, item.fired_at, item.decision_id, to_json(payload),
                           maker.created_at, ids[item.events[-1]]))
        return rows, outbox

    def _event_ids(self, fired: list[Fired]) -> dict[int, str]:
        """The stored ids of the events the firings matched, by correlator position."""
        wanted: dict[int, set[int]] = {}
        for item in fired:
            for position in item.events:
                wanted.setdefault(position % SPAN, set()).add(position // SPAN)
        ids: dict[int, str] = {}
        for partition, seqs in wanted.items():
            ids.update({seq * SPAN + partition: row_id for seq, row_id in self.events.ids_of(partition, seqs).items()})
        return ids

    def _as_events(self, stored: list[Stored], plan: CompiledPlan) -> list[Event]:
        if self._reads is None or self._reads[0] != plan.version:
            self._reads = (plan.version, Inputs(plan.profile_fields))
        events = []
        for item in stored:
            if not in_calendar(item.timestamp):  # stored before such times were refused: never processed
                logger.warning("event %s of partition %s is left out: its time has no day in UTC (%s)",
                               item.seq, item.partition, item.timestamp)
                continue
            carried = item.body.get("profile")
            if isinstance(carried, dict) and (read := self._reads[1].kept(carried)) is not None:
                self.profiles.carry(item.customer_id, read)
            events.append(Event(item.customer_id, item.type, item.timestamp, item.body, item.seq * SPAN + item.partition))
        return events

    def _limits_for(self, plan: CompiledPlan) -> Callable[[str, date], ContactState] | None:
        if plan.contact_rules is None:
            return None

        def limits(customer_id: str, day: date) -> ContactState:  # read beforehand by _decide
            return self._limits.get((customer_id, day), NO_LIMITS)
        return limits


def _day(seconds: float) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


def _rounds(fired: list[Fired]) -> list[list[Fired]]:
    """Round n holds each customer's n-th firing, in firing order: a round's decisions are
    logged before the next round reads the customers' contacts (in the same transaction)."""
    rounds: list[list[Fired]] = []
    seen: dict[str, int] = {}
    for item in fired:
        n = seen[item.customer_id] = seen.get(item.customer_id, -1) + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(item)
    return rounds


def _in_calendar(seconds: float | None) -> float | None:
    """A partition's latest event time, or None where it has none an event may hold (an
    event stored before times outside the calendar were refused)."""
    return seconds if seconds is not None and in_calendar(seconds) else None
