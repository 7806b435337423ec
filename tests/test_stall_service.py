"""Stalled journeys fire in the service as moments do (appendix D's partition owners): once,
at their deadline, and across a restart neither lost nor fired twice. In one process with
a partition owner, and with real `treatment serve` processes."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from treatment_engine.moments.correlator import replay
from treatment_engine.moments.partitions import partition_of
from treatment_engine.store import DecisionLog

from .replicas import Replica, database_kinds, fresh_database
from .test_journey_stalls import CATALOG, FIRED_AS, INSTALL, TREAT, plan_of
from .test_moment_partitions import crash_and_take_over, incoming, outbox_keys, owner_for
from .test_moments import DAY, SECOND, at, event


@pytest.fixture(params=database_kinds())
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionLog]:
    with fresh_database(request.param, tmp_path) as url:
        opened = DecisionLog(url)
        yield opened
        opened.close()


def test_a_new_owner_neither_loses_a_pending_stall_nor_fires_a_fired_one_again(log: DecisionLog) -> None:
    """`a` stalls on day 7, before the crash; `b` signed up on day 3 and stalls on day 10,
    after it. The plan has no moments, so the worker keeps nothing (two horizons of 0): the
    new owner finds b's sign-up only by reading a whole journey back from the clock."""
    engine = plan_of(INSTALL)
    clocked = next(f"z{i}" for i in range(1000) if partition_of(f"z{i}", 16) == partition_of("b", 16))
    before = [event("a", "signed_up"), event("b", "signed_up", 3 * DAY), event(clocked, "booked", 8 * DAY)]
    after = [event(clocked, "booked", 11 * DAY)]
    log.events.accept([incoming(e) for e in before])
    first = owner_for(log, engine)
    first.catch_up()
    assert outbox_keys(log) == [(FIRED_AS, "a", at(7 * DAY))]
    crash_and_take_over(log, engine, first, after)  # the correlator and its runs are gone
    fired, _, _ = replay(engine.plan, before + after)
    assert outbox_keys(log) == sorted((f.moment, f.customer_id, f.to_record()["fired_at"]) for f in fired) == [
        (FIRED_AS, "a", at(7 * DAY)), (FIRED_AS, "b", at(10 * DAY))]


# -- real servers ----------------------------------------------------------------------------

OPTIONS = ("--no-watch", "--moment-clock", "events", "--moment-lease", "2")


def plan_dir(root: Path) -> Path:
    for name, text in {"rules/catalog.yaml": yaml.safe_dump(CATALOG),
                       "rules/journeys.yaml": yaml.safe_dump({"journeys": [INSTALL], "rules": TREAT}),
                       "segments/who.yaml": yaml.safe_dump({"segments": [{"id": "everyone"}]})}.items():
        (root / "plan" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "plan" / name).write_text(text)
    return root / "plan"


def send(http: httpx.Client, server: Replica, *events: dict) -> None:
    for item in events:
        answer = http.post(f"{server.base}/v1/events", params={"wait": 30}, json={"event": item})
        assert answer.status_code == 200, answer.text  # processed (what the clock passed, fired)


def outbox(http: httpx.Client, server: Replica) -> list[tuple[str, str, str, str]]:
    items = http.get(f"{server.base}/v1/outbox", params={"after": 0, "limit": 1000}).json()["items"]
    return [(i["moment"], i["customer_id"], i["fired_at"], i["decision"]["rule"]) for i in items
            if i["decision_id"]]  # each one decided and logged


def settled(http: httpx.Client, server: Replica, wanted: int, seconds: float = 30) -> list[tuple[str, str, str, str]]:
    """The outbox once every partition is processed and it holds ``wanted`` items; a moment
    longer, so that a firing written twice would show."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lag = sum(p["lag"] for p in http.get(f"{server.base}/v1/moments").json()["partitions"])
        if lag == 0 and len(outbox(http, server)) >= wanted:
            break
        time.sleep(0.2)
    time.sleep(1)
    return outbox(http, server)


@pytest.mark.parametrize("kind", database_kinds())
def test_a_served_stall_fires_once_at_its_deadline_and_survives_a_restart(kind: str, tmp_path: Path) -> None:
    stalled = (FIRED_AS, "a", at(7 * DAY), "stalled-install")
    with fresh_database(kind, tmp_path) as url, httpx.Client(timeout=30) as http:
        server = Replica(plan_dir(tmp_path), url, *OPTIONS, name="first").launch().wait_ready()
        try:
            # The clock moves with the events (exclusively, as an event at that time would):
            # a second before a's deadline, and at it, nothing; past it, the stall.
            send(http, server, event("a", "signed_up"), event("b", "signed_up", 5 * DAY),
                 event("z", "booked", 7 * DAY - SECOND), event("z", "booked", 7 * DAY))
            assert settled(http, server, 0, seconds=2) == []
            send(http, server, event("z", "booked", 7 * DAY + SECOND))
            assert settled(http, server, 1) == [stalled]
        finally:
            server.stop(signal.SIGKILL)  # a crash: b's stall (day 12) is pending
        again = Replica(plan_dir(tmp_path), url, *OPTIONS, name="second").launch().wait_ready()
        try:
            # b's pending stall fires (not lost), a's does not again; a's second run stalls
            # on its own; c is installed in time: no stall.
            send(http, again, event("a", "signed_up", 9 * DAY), event("c", "signed_up", 9 * DAY),
                 event("c", "installed", 15 * DAY), event("z", "booked", 20 * DAY))
            assert settled(http, again, 3) == [stalled, (FIRED_AS, "b", at(12 * DAY), "stalled-install"),
                                               (FIRED_AS, "a", at(16 * DAY), "stalled-install")]
        finally:
            again.stop()
