"""Partitioned moments, in one process: the database's rules (late events, sequence order,
leases), exactly-once firing, and state rebuilt by a new owner. The same guarantees with
real replicas are in test_replica_moments.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from treatment_engine import Engine
from treatment_engine.moments.clock import START
from treatment_engine.moments.correlator import replay
from treatment_engine.moments.events import parse_timestamp
from treatment_engine.moments.owner import PartitionOwner
from treatment_engine.moments.partitions import Leases, partition_of
from treatment_engine.store import DecisionLog
from treatment_engine.store.events import Incoming, Late, Stored
from treatment_engine.store.partitions import LeaseLost, Progress

from .replicas import fresh_database
from .test_moments import DAY, REPEAT, STALLED, THREE, event, plan_with

KINDS = ["sqlite", "postgresql"]


@pytest.fixture(params=KINDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def log(db_url: str) -> Iterator[DecisionLog]:
    opened = DecisionLog(db_url)
    yield opened
    opened.close()


def incoming(raw: dict, count: int = 16) -> Incoming:
    when = parse_timestamp(raw["timestamp"])
    assert when is not None
    return Incoming(raw["customer_id"], raw["type"], when, raw, partition_of(raw["customer_id"], count))


def outbox_keys(log: DecisionLog) -> list[tuple[str, str, str]]:
    return sorted((i["moment"], i["customer_id"], i["fired_at"]) for i in log.events.outbox(limit=1000))


def test_partitions_are_a_stable_hash_of_the_customer_id() -> None:
    # CRC-32 modulo the count: the same in every process and language, unlike hash(). The
    # vectors are gzip's own CRC (`printf c000001 | gzip -c | tail -c8`): 3635486165 ...
    assert [partition_of(c, 16) for c in ("c000001", "a", "é-customer", "")] == [5, 3, 2, 0]
    assert partition_of("c000001", 1000) == 3635486165 % 1000


def test_the_late_rule_is_the_databases_whichever_process_stores(db_url: str) -> None:
    first, second = DecisionLog(db_url), DecisionLog(db_url)  # two replicas' connections
    try:
        a, b = first.events, second.events
        [stored] = a.accept([incoming(event("x", "complaint", 2 * DAY))])
        assert isinstance(stored, Stored)
        # Older than what the other replica accepted: refused, whatever this one saw.
        [late] = b.accept([incoming(event("x", "complaint", DAY))])
        assert isinstance(late, Late) and late.latest == stored.timestamp
        # In one request: in arrival order; a later one after a late one still goes in.
        outcomes = b.accept([incoming(event("x", "complaint", 3 * DAY)), incoming(event("x", "complaint", DAY)),
                             incoming(event("x", "complaint", 3 * DAY)), incoming(event("y", "complaint", DAY))])
        assert [type(o).__name__ for o in outcomes] == ["Stored", "Late", "Stored", "Stored"]
    finally:
        first.close()
        second.close()


def test_a_reader_past_its_cursor_never_skips_an_event_that_commits_late(log: DecisionLog) -> None:
    """Writers race into one partition while a reader follows it: every event is read once."""
    store = log.events
    customers = [f"k{i}" for i in range(400) if partition_of(f"k{i}", 16) == 5][:8]
    writers_done = threading.Event()
    written: list[str] = []

    def write(customer: str) -> None:
        for n in range(15):
            [item] = store.accept([incoming(event(customer, "complaint", n * DAY))])
            assert isinstance(item, Stored)
            written.append(item.id)

    threads = [threading.Thread(target=write, args=(c,)) for c in customers]
    for thread in threads:
        thread.start()
    read: list[str] = []
    cursor = 0

    def follow() -> None:
        nonlocal cursor
        for item in store.after(5, cursor, 1000):
            assert item.seq == cursor + 1  # no gap: numbers are given in commit order
            cursor = item.seq
            read.append(item.id)

    while not writers_done.is_set():
        follow()
        time.sleep(0.001)
        if not any(t.is_alive() for t in threads):
            writers_done.set()
    follow()
    assert sorted(read) == sorted(written) and len(read) == len(customers) * 15


def owner_for(log: DecisionLog, engine: Engine, lease: float = 30) -> PartitionOwner:
    return PartitionOwner(log, lambda: engine.plan, wall_clock=False, lease=lease)


def processed(log: DecisionLog, engine: Engine, stream: list[dict]) -> None:
    """``stream`` stored, and every partition processed by one owner, which then stops."""
    log.events.accept([incoming(e) for e in stream])
    owner = owner_for(log, engine)
    try:
        owner.catch_up()
    finally:
        owner.stop()


def crash_and_take_over(log: DecisionLog, engine: Engine, first: PartitionOwner, after: list[dict]) -> None:
    """``first`` crashes (its correlator and state gone, nothing given back), ``after``
    arrives, and a second owner takes every partition over once the leases have run out."""
    first._reset()
    log.events.accept([incoming(e) for e in after])
    second = owner_for(log, engine, lease=1)
    with log.database.engine.begin() as connection:  # the dead owner's leases have run out
        connection.exec_driver_sql("UPDATE moment_partitions SET lease_expires = 0")
        connection.exec_driver_sql(f"DELETE FROM moment_owners WHERE owner = '{first.id}'")
    try:
        second.catch_up()
    finally:
        second.stop()


def test_an_owner_fires_what_replay_fires(log: DecisionLog) -> None:
    engine = plan_with(REPEAT, THREE, STALLED)
    stream = [event("a", "complaint"), event("b", "order"), event("a", "complaint", DAY),
              event("c", "complaint", DAY), event("c", "complaint", 2 * DAY), event("c", "complaint", 3 * DAY),
              event("b", "installed", 20 * DAY), event("d", "order", 21 * DAY), event("e", "complaint", 40 * DAY)]
    processed(log, engine, stream)
    fired, _, _ = replay(engine.plan, stream)
    assert outbox_keys(log) == sorted((f.moment, f.customer_id, f.to_record()["fired_at"]) for f in fired)
    assert {m for m, _, _ in outbox_keys(log)} == {"repeat", "three", "stalled"}


def test_a_new_owner_rebuilds_chains_and_fires_nothing_twice(log: DecisionLog) -> None:
    """Two failures within ten days make a pair: 0+3 fire, 6 waits. The new owner replays
    from two windows before the partition's clock (22 - 2 x 10 = day 2), which holds day 3
    but not day 0: only by following the chain back to day 0 does it know that day 3 is
    taken, so that 6 is still waiting and pairs with 14."""
    pair = {"id": "pair", "pattern": [{"event": "failed", "count": 2, "within": "10d"}], "set": {"moment": "pair"}}
    engine = plan_with(pair)
    store = log.events
    neighbour = next(f"n{i}" for i in range(1000) if partition_of(f"n{i}", 16) == partition_of("p", 16))
    before = [event("p", "failed"), event("p", "failed", 3 * DAY), event("p", "failed", 6 * DAY),
              event(neighbour, "other", 22 * DAY)]
    after = [event("p", "failed", 14 * DAY)]
    store.accept([incoming(e) for e in before])
    first = owner_for(log, engine)
    first.catch_up()
    crash_and_take_over(log, engine, first, after)
    fired, _, _ = replay(engine.plan, before + after)
    assert outbox_keys(log) == sorted((f.moment, f.customer_id, f.to_record()["fired_at"]) for f in fired)
    assert [t for m, _, t in outbox_keys(log)] == [event("p", "x", d * DAY)["timestamp"] for d in (3, 14)]


def test_a_firing_is_written_once_even_if_its_events_are_processed_again(log: DecisionLog) -> None:
    engine = plan_with(REPEAT, STALLED)
    log.events.accept([incoming(e) for e in (event("a", "complaint"), event("a", "complaint", DAY),
                                                  event("b", "order"), event("c", "order", 30 * DAY))])
    owner = owner_for(log, engine)
    try:
        owner.catch_up()
        assert len(outbox_keys(log)) == 2
        decisions = _count(log, "decisions")
        # As if the progress had never been written: every event is new again to a new engine.
        with log.database.engine.begin() as connection:
            connection.exec_driver_sql("UPDATE moment_partitions SET processed_seq = 0, clock = NULL")
        owner._reset()
        owner.held = {p: Progress(0, START) for p in owner.held}
        owner.catch_up()
    finally:
        owner.stop()
    assert len(outbox_keys(log)) == 2 and _count(log, "decisions") == decisions


def test_an_owner_that_lost_its_lease_writes_nothing(log: DecisionLog) -> None:
    engine = plan_with(REPEAT)
    store = log.events
    a = owner_for(log, engine)
    b = owner_for(log, engine)
    try:
        a.catch_up()
        assert len(a.held) == 16
        with log.database.engine.begin() as connection:  # a stalls past its lease; b takes a share over
            connection.exec_driver_sql("UPDATE moment_partitions SET lease_expires = 0")
        b.catch_up()
        taken = sorted(b.held)
        assert taken and len(a.held) == 16  # a has not heard yet
        customer = next(f"m{i}" for i in range(1000) if partition_of(f"m{i}", 16) == taken[0])
        store.accept([incoming(event(customer, "complaint")), incoming(event(customer, "complaint", DAY))])
        with pytest.raises(LeaseLost):
            a._pass()  # it still believes it holds the partition: the fenced commit refuses
        assert outbox_keys(log) == []
        b.catch_up()
        assert outbox_keys(log) == [("repeat", customer, event(customer, "complaint", DAY)["timestamp"])]
    finally:
        a.stop()
        b.stop()


def test_a_dead_worker_is_rebuilt_from_the_database_and_nothing_is_lost(log: DecisionLog) -> None:
    engine = plan_with(REPEAT)
    store = log.events
    owner = owner_for(log, engine)
    try:
        store.accept([incoming(event("a", "complaint"))])
        owner.catch_up()
        assert owner._correlator is not None and owner._correlator._worker is not None
        owner._correlator._worker._process.kill()  # the worker dies between passes
        owner._correlator._worker._process.wait()
        store.accept([incoming(event("a", "complaint", DAY)), incoming(event("b", "complaint", DAY))])
        with pytest.raises(RuntimeError, match="the moments worker stopped"):
            owner._pass()
        owner._reset()  # what the owner's loop does after a failed pass
        owner.catch_up()
        assert outbox_keys(log) == [("repeat", "a", event("a", "complaint", DAY)["timestamp"])]
    finally:
        owner.stop()


def test_events_stored_before_partitions_are_numbered_and_count_as_processed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "treatment_engine:migrations")
    with old.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0006")
        for n, (cid, day) in enumerate((("a", 3), ("b", 1), ("a", 1), ("a", 2))):
            connection.execute(sa.text("INSERT INTO events VALUES (:i, :c, 'complaint', :t, '{}', '2026-11-01')"),
                               {"i": f"e{n}", "c": cid, "t": float(day * 86400)})
    old.dispose()
    log = DecisionLog(url)
    try:
        with log.database.engine.connect() as connection:
            numbered = connection.exec_driver_sql("SELECT customer_id, occurred_at, partition_no, seq FROM events "
                                                  "ORDER BY partition_no, seq").all()
            processed = dict(connection.exec_driver_sql(
                "SELECT partition_no, processed_seq FROM moment_partitions").all())
        assert [(c, t / 86400, s) for c, t, _, s in numbered if c == "a"] == [("a", 1, 1), ("a", 2, 2), ("a", 3, 3)]
        assert all(p == partition_of(c, 16) for c, _, p, _ in numbered)
        assert processed[partition_of("a", 16)] == 3 and processed[partition_of("b", 16)] == 1
        [late] = log.events.accept([incoming({**event("a", "complaint"), "timestamp": "1970-01-03"})])
        assert isinstance(late, Late)  # the watermark came from the stored events
    finally:
        log.close()


def _count(log: DecisionLog, table: str) -> int:
    with log.database.engine.connect() as connection:
        return int(connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())


def test_outbox_ids_commit_in_order_whichever_owner_writes(log: DecisionLog) -> None:
    """Readers follow the outbox by id: a row must never be visible while one with a lower
    id is still to commit (they would skip it)."""
    store = log.partitions
    created = log.decisions.row_maker(plan_with(REPEAT).plan).created_at
    with log.database.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE moment_partitions SET owner = 'a' WHERE partition_no = 0")
        connection.exec_driver_sql("UPDATE moment_partitions SET owner = 'b' WHERE partition_no = 1")

    def write(owner: str, partition: int, moment: str) -> None:
        with store.fenced(owner, 30, {partition: Progress(0, START)}) as connection:
            store.insert_firings(connection, [], [(moment, "c", 0.0, None, json.dumps({"moment": moment}), created,
                                                   f"e-{moment}")])

    second = threading.Thread(target=write, args=("b", 1, "later"))
    with store.fenced("a", 30, {0: Progress(0, START)}) as connection:
        store.insert_firings(connection, [], [("first", "c", 0.0, None, json.dumps({"moment": "first"}), created,
                                               "e-first")])
        second.start()
        second.join(timeout=1)  # the other owner's commit must wait for this one's
        assert log.events.outbox() == []
    second.join(timeout=30)
    assert [item["moment"] for item in log.events.outbox()] == ["first", "later"]


def test_renewing_leases_in_a_long_pass_does_not_put_off_the_heartbeat(log: DecisionLog) -> None:
    """A busy owner renews its leases inside its passes, but still beats on time: the beat
    is where it gives partitions to a replica that joined, and learns which it lost."""
    leases = Leases(log.partitions, "busy", lease=0.4)  # a beat every 0.1 s
    leases.beat(set(), eligible=True)
    time.sleep(0.15)
    assert leases.due() and leases.renewal_due()
    leases.renew()
    assert leases.due() and not leases.renewal_due()


def test_an_owners_firings_for_one_customer_count_each_other_under_caps(log: DecisionLog) -> None:
    """Two moments fire for one customer in one pass (a second and a third complaint at
    once): under a cap of one call and a delight cooldown, the second firing is decided
    after the first is logged, in the owner's transaction, so only one delight and one
    call go out (replay, which keeps no log, would send both)."""
    import yaml

    from .test_moments import CATALOG, THREE

    catalog = {**CATALOG, "policy": {"contact_caps": {"call": {"max": 1, "per_days": 30}},
                                     "delight_cooldown_days": 30}}
    rules = [{"id": "moment-call", "priority": 10, "when": {"if": "not missing(moment)"},
              "then": {"treatment": "delight", "actions": ["apology"], "channels": ["call", "email"]}}]
    engine = Engine.from_texts({
        "rules/catalog.yaml": yaml.safe_dump(catalog),
        "rules/moments.yaml": yaml.safe_dump({"moments": [REPEAT, THREE], "rules": rules}),
        "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]})})
    stream = [event("cap-a", "complaint"), event("cap-a", "complaint"), event("cap-a", "complaint")]
    fired, _, _ = replay(engine.plan, stream)
    assert [f.decision.treatment for f in fired if f.decision is not None] == ["delight", "delight"]
    processed(log, engine, stream)
    decided = [json.loads(item["payload"]) if isinstance(item.get("payload"), str) else item
               for item in log.events.outbox(limit=1000)]
    decisions = [item["decision"] for item in decided if item["customer_id"] == "cap-a"]
    assert len(decisions) == 2
    assert [d["treatment"] for d in decisions].count("delight") == 1
    assert sum(1 for d in decisions if d["channels"] and d["channels"][0] == "call") == 1


@pytest.mark.parametrize("when", [-62135596800.0 - 14 * 3600, 253402300800.0 + 12 * 3600], ids=["year 0", "year 10000"])
def test_an_event_stored_with_a_time_outside_the_calendar_stalls_nothing(log: DecisionLog, when: float) -> None:
    """Such times are refused since 2026-12-03 (0001-01-01T00:00:00+14:00 is year 0 in
    UTC), but a log may hold one stored before: its partition's owner then failed at every
    pass ("year 0 is out of range") and no moment of that partition fired again. The event
    is left out, and the others of its partition fire."""
    engine = plan_with(REPEAT)
    bad = {"customer_id": "a", "type": "complaint", "timestamp": "out of the calendar"}
    log.events.accept([Incoming("a", "complaint", when, bad, partition_of("a", 16))])
    # After a year-10000 event, a's own would be refused as late: then c9, of a's partition.
    customer = "a" if when < 0 else "c9"
    assert partition_of(customer, 16) == partition_of("a", 16)
    processed(log, engine, [event(customer, "complaint"), event(customer, "complaint", DAY)])
    assert [(m, c) for m, c, _ in outbox_keys(log)] == [("repeat", customer)]
