"""Decisions under a plan with contact limits, read-decided-logged per customer in turn
(serialize.py, locks.py), on SQLite and on a real PostgreSQL of the test's own."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine import Engine, serialize
from treatment_engine.locks import customer_lock_key, lock_customers
from treatment_engine.moments.engine import Fired
from treatment_engine.serialize import Job, decide_jobs, moments_locked
from treatment_engine.store import DecisionLog, DecisionRepository

from .replicas import database_kinds, fresh_database
from .test_replica_caps import PLAN

DAY = date(2026, 11, 1)
# One customer decided 14 times in a row under PLAN: a delight by call, seven email
# nudges (the `any` cap of 8 is then reached), six decisions with no channel left.
SEQUENCE = [("delight", ("call",))] + [("contain", ("email",))] * 7 + [("contain", ())] * 6


@pytest.fixture(params=database_kinds())
def opened(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionLog]:
    with fresh_database(request.param, tmp_path) as url:
        log = DecisionLog(url)
        yield log
        log.close()


@pytest.fixture
def log(opened: DecisionLog) -> DecisionRepository:
    return opened.decisions


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_texts(PLAN)


def _vip(customer_id: str) -> dict[str, object]:
    return {"customer_id": customer_id, "vip": True}


def _shape(results: list[object]) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.treatment, r.channels) for r in results]  # type: ignore[attr-defined]


def test_a_customer_many_times_in_one_group_is_decided_in_turn(log: DecisionRepository, engine: Engine) -> None:
    # Two requests, one a batch holding the customer eleven times: the rounds decide each
    # of the customer's profiles after the ones before it, in the order they came.
    first, batch = Job(engine, [_vip("a")] * 3, DAY), Job(engine, [_vip("a")] * 11 + [_vip("b")], DAY)
    assert decide_jobs(log, [first, batch]) == [None, None]
    assert _shape(first.results + batch.results[:11]) == SEQUENCE
    assert _shape(batch.results[11:]) == SEQUENCE[:1]
    assert all(first.ids) and all(batch.ids)
    logged = [row["id"] for row in log.history("a", 100)]
    assert sorted(logged) == sorted(first.ids + batch.ids[:11])


def test_profiles_that_cannot_be_logged_are_answered_without_a_lock(log: DecisionRepository, engine: Engine) -> None:
    job = Job(engine, [{"customer_id": ""}, [1], _vip("x" * 201), _vip("ok")], DAY)
    assert decide_jobs(log, [job]) == [None]
    assert [type(r).__name__ for r in job.results] == ["DecisionError", "DecisionError", "NoneType", "Decision"]
    assert job.ids[:3] == [None, None, None] and job.ids[3] is not None


def test_big_groups_commit_in_runs_of_customers_and_stay_in_order(log: DecisionRepository, engine: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serialize, "MAX_CUSTOMER_LOCKS", 2)  # PostgreSQL: runs of two customers
    job = Job(engine, [_vip(c) for c in "abc" * 14], DAY)
    assert decide_jobs(log, [job]) == [None]
    for customer in "abc":
        mine = [r for r in job.results if r is not None and r.customer_id == customer]
        assert _shape(mine) == SEQUENCE


def test_runs_hold_at_most_the_customers_asked_in_input_order() -> None:
    items = [serialize._Item(0, i, None, {}, DAY, c) for i, c in enumerate("aabcabdd")]  # type: ignore[arg-type]
    runs = list(serialize._chunks(items, 2))
    assert [[item.customer_id for item in run] for run in runs] == [list("aab"), list("ca"), list("bdd")]
    assert [i.position for run in runs for i in run] == list(range(8))
    assert list(serialize._chunks(items, None)) == [items]


def test_customer_locks_in_any_order_never_deadlock(tmp_path: Path) -> None:
    with fresh_database("postgresql", tmp_path) as url:
        opened = DecisionLog(url)
        customers = [f"c{i}" for i in range(50)]
        failures: list[BaseException] = []

        def lock_many(order: list[str]) -> None:
            try:
                for _ in range(20):
                    with opened.database.engine.connect() as connection:
                        lock_customers(connection, order)
                        connection.commit()
            except BaseException as error:  # a deadlock would surface here
                failures.append(error)

        threads = [threading.Thread(target=lock_many, args=(order,))
                   for order in (customers, customers[::-1], customers[10:] + customers[:10])]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        opened.close()
    assert failures == []
    assert customer_lock_key("a") == customer_lock_key("a") != customer_lock_key("b")
    assert -(2**63) <= customer_lock_key("\ud800x") < 2**63  # any id the API takes has a key


def test_moments_decisions_count_contacts_under_the_locks(opened: DecisionLog, engine: Engine) -> None:
    log = opened.decisions
    fired = [Fired("m", "v", 1_793_491_200.0 + n, (n,), engine.decide(_vip("v"), DAY), None, _vip("v"))
             for n in range(3)]  # 2026-11-01, all decided before the locks: three delights
    assert [f.decision.treatment for f in fired] == ["delight"] * 3  # type: ignore[union-attr]
    with moments_locked(log, engine.plan, fired) as (connection, ids):
        assert connection is not None and ids is not None and all(ids)
        opened.events.record_events(engine.plan, [], [(f.profile, f.decision, f.fired_at, f.to_record())
                                                      for f in fired], connection, ids)
    assert _shape([f.decision for f in fired]) == SEQUENCE[:3]
    outbox = opened.events.outbox(0, 10)
    assert [item["decision_id"] for item in outbox] == ids
