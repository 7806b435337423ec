"""Contact limits that hold under concurrency: limits read, decision made and logged per customer in turn.

Under a plan with contact caps or a delight cooldown a decision reads the customer's
logged contacts. Two decisions for one customer made at once, by one replica or two,
would each read a history without the other and both contact the customer. So for such
plans the limits are read, the profiles decided and the rows inserted inside one
transaction that holds the customers' locks (:mod:`treatment_engine.store.locks`), and the
callers are answered once it commits: a customer's next decision, wherever it is made,
waits for the lock and then counts this one.

Group commit stays: one transaction decides a whole group of requests, with one
grouped limits query and one insert. A customer who appears more than once in a group
is decided in **rounds**: round n decides each customer's n-th profile, after round
n-1's rows are inserted, which the transaction's own reads see. Different customers
never wait for each other on PostgreSQL; SQLite has one writer at a time anyway.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection

from ..compile import CompiledPlan
from ..day import Day
from ..decision import Decision, DecisionError
from ..engine import Engine
from ..semantics import customer_id_of
from ..store import CUSTOMER_ID_MAX, DecisionRepository, unkeyable
from ..store.locks import MAX_CUSTOMER_LOCKS, begin_writing, lock_customers

Result = Decision | DecisionError | None  # None: a customer id the log cannot key (batch.unloggable)


@dataclass
class Job:
    """One request's profiles, to be decided and logged under their customers' locks;
    ``results`` and ``ids`` (the logged decisions' ids) are filled once committed."""

    engine: Engine
    profiles: Sequence[Any]
    day: Day | date
    results: list[Result] = field(default_factory=list)
    ids: list[str | None] = field(default_factory=list)


@dataclass(frozen=True)
class _Item:
    job: int
    position: int
    engine: Engine
    profile: Any
    day: Day
    customer_id: str


def serialized(plan: CompiledPlan, log: DecisionRepository | None) -> bool:
    """Whether ``plan``'s decisions go through the serialized path: they read contacts."""
    return log is not None and plan.contact_rules is not None


@contextmanager
def locked(log: DecisionRepository, customer_ids: Sequence[str]) -> Iterator[Connection]:
    """A transaction holding the customers' locks, committed when the block ends well
    (rolled back, locks released, when it raises)."""
    with log.database.engine.connect() as connection:
        begin_writing(connection)
        lock_customers(connection, customer_ids)
        yield connection
        connection.commit()
    log.database.committed()


def decide_jobs(log: DecisionRepository, jobs: Sequence[Job]) -> list[Exception | None]:
    """Decide and log every job's profiles, each customer's in the jobs' order; per job,
    None once all its decisions are committed, or the error that stopped it.

    PostgreSQL holds at most MAX_CUSTOMER_LOCKS customers per transaction, so a big group
    commits in several transactions; a job that spans some is answered after the last."""
    items: list[_Item] = []
    for index, job in enumerate(jobs):
        job.results, job.ids = [None] * len(job.profiles), [None] * len(job.profiles)
        day = job.engine.day(job.day)
        for position, profile in enumerate(job.profiles):
            customer_id = customer_id_of(profile)
            if customer_id is None:  # not decidable: its error record needs no history
                job.results[position] = job.engine.decide_or_error(profile, day)
            elif len(customer_id) <= CUSTOMER_ID_MAX and not unkeyable(customer_id):  # else unloggable
                items.append(_Item(index, position, job.engine, profile, day, customer_id))
    errors: list[Exception | None] = [None] * len(jobs)
    postgresql = log.database.engine.dialect.name == "postgresql"
    for chunk in _chunks(items, MAX_CUSTOMER_LOCKS if postgresql else None):
        try:
            with locked(log, [item.customer_id for item in chunk]) as connection:
                decided = decide_in_rounds(log, connection, chunk)
        except Exception as error:  # the jobs in this transaction are not committed
            for item in chunk:
                errors[item.job] = error
            continue
        for item, (result, row_id) in zip(chunk, decided, strict=True):
            jobs[item.job].results[item.position] = result
            jobs[item.job].ids[item.position] = row_id
    return errors


def decide_in_rounds(log: DecisionRepository, connection: Connection,
                     items: Sequence[_Item]) -> list[tuple[Decision | DecisionError, str | None]]:
    """Decide ``items`` in ``connection``'s transaction, whose locks cover their customers:
    (decision, logged id) per item. A customer's decisions are made in the items' order,
    each counting the ones before it."""
    out: dict[int, tuple[Decision | DecisionError, str | None]] = {}
    for round_ in _rounds(items):
        rows: list[tuple[Any, ...]] = []
        groups: dict[tuple[str, Day], list[int]] = {}  # one limits query per plan and day
        for index in round_:
            groups.setdefault((items[index].engine.version, items[index].day), []).append(index)
        for indexes in groups.values():
            engine, day = items[indexes[0]].engine, items[indexes[0]].day
            rules = engine.plan.contact_rules
            limits = (log.limits([items[i].customer_id for i in indexes], day.date, rules, connection=connection)
                      if rules is not None else {})
            decided = list(engine.decide_many([items[i].profile for i in indexes], day, limits=limits or None))
            # Made now, under the locks: a customer's rows are in the order its decisions were made.
            made = iter(log.row_maker(engine.plan).rows([(items[i].profile, d) for i, d
                                                         in zip(indexes, decided, strict=True) if type(d) is Decision]))
            for index, decision in zip(indexes, decided, strict=True):
                row = next(made) if type(decision) is Decision else None
                if row is not None:
                    rows.append(row)
                out[index] = (decision, row[0] if row is not None else None)
        log.insert_rows(rows, connection=connection)
    return [out[index] for index in range(len(items))]


def _rounds(items: Sequence[_Item]) -> list[list[int]]:
    """Item indexes by round: round n holds each customer's n-th item, in input order."""
    seen: Counter[str] = Counter()
    rounds: list[list[int]] = []
    for index, item in enumerate(items):
        turn = seen[item.customer_id]
        seen[item.customer_id] += 1
        if turn == len(rounds):
            rounds.append([])
        rounds[turn].append(index)
    return rounds


def _chunks(items: Sequence[_Item], most: int | None) -> Iterator[list[_Item]]:
    """``items`` in order, in runs of at most ``most`` distinct customers (all at once
    for None). A customer split across two runs is decided in the first, then the next."""
    if most is None:
        if items:
            yield list(items)
        return
    run: list[_Item] = []
    customers: set[str] = set()
    for item in items:
        if item.customer_id not in customers and len(customers) == most:
            yield run
            run, customers = [], set()
        customers.add(item.customer_id)
        run.append(item)
    if run:
        yield run
