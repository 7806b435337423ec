"""Moments of truth across real replicas (`treatment serve` processes) on one database.

Each customer's events are spread round-robin over the replicas; whatever replica gets an
event, the owners of the partitions fire exactly what `treatment events replay` fires for
the same stream (same moments, customers, times and matched events), each once, also
when an owner is killed mid-stream. The stream is sent in time order, one event at a
time, with the events' own clock (`--moment-clock events`), so the result is determined.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from treatment_engine import Engine
from treatment_engine.load import read_plan_dir
from treatment_engine.moments.correlator import replay
from treatment_engine.sample import generate_events
from treatment_engine.store import DecisionLog

from .conftest import REPO
from .replicas import Replica, database_kinds, fleet, fresh_database
from .service.server import plan_copy as _plan_copy

# One client for all requests: making an httpx client loads a TLS context, which costs more
# (over 100 ms on a busy machine) than the request itself.
http = httpx.Client(timeout=30)


@pytest.fixture(scope="module", autouse=True)
def _close_client() -> Iterator[None]:
    yield
    http.close()

LEASE = "2"  # seconds: a killed owner's partitions are free again soon after
OPTIONS = ("--no-watch", "--moment-clock", "events", "--moment-lease", LEASE)
Firing = tuple[str, str, str, tuple[int, ...]]  # moment, customer, time, matched events (stream positions)


def prepared(scratch: Path, url: str) -> Path:
    """A copy of the bundled plan, and the database migrated with that plan registered:
    replicas starting at once on a fresh database race to do both (issue #11, item 3, is
    another change's), which is not what these tests are about."""
    plan = _plan_copy(scratch)
    log = DecisionLog(url)
    log.decisions.remember_plan(Engine.load(plan).plan, read_plan_dir(plan))
    log.close()
    return plan


def stream(count: int = 160, customers: int = 25) -> list[dict]:
    return generate_events(count, customers, seed=11, days=45, until=date(2026, 11, 1))


def replayed(events: list[dict]) -> Counter[Firing]:
    fired, errors, _ = replay(Engine.load(REPO).plan, events)
    assert errors == []
    return Counter((f.moment, f.customer_id, f.to_record()["fired_at"], f.events) for f in fired)


def send(servers: list[Replica], events: list[dict], first: int, ids: dict[str, int]) -> None:
    """Event ``first + k`` to replica ``k % n``: a customer's events land on every replica."""
    for offset, item in enumerate(events):
        server = servers[offset % len(servers)]
        answer = http.post(f"{server.base}/v1/events", json={"event": item}, timeout=30)
        assert answer.status_code == 202, answer.text
        ids[answer.json()["event_ids"][0]] = first + offset


def outbox(base: str) -> list[dict]:
    items, after = [], 0
    while page := http.get(f"{base}/v1/outbox", params={"after": after, "limit": 1000}).json()["items"]:
        items += page
        after = page[-1]["id"]
    return items


def settle(base: str, wanted: int, seconds: float = 60) -> list[dict]:
    """The outbox once it holds ``wanted`` items and every partition is processed; a moment
    longer, so that a firing written twice would show."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lag = sum(p["lag"] for p in http.get(f"{base}/v1/moments").json()["partitions"])
        if lag == 0 and len(outbox(base)) >= wanted:
            break
        time.sleep(0.2)
    time.sleep(1)
    return outbox(base)


def fired_of(items: list[dict], ids: dict[str, int]) -> Counter[Firing]:
    assert all(item["decision_id"] for item in items)  # each decided and logged
    return Counter((i["moment"], i["customer_id"], i["fired_at"], tuple(ids[e] for e in i["events"])) for i in items)


@pytest.mark.parametrize("replicas", [2, 3])
@pytest.mark.parametrize("kind", database_kinds())
def test_events_spread_over_replicas_fire_what_replay_fires(kind: str, replicas: int, tmp_path: Path) -> None:
    events = stream()
    expected = replayed(events)
    assert {m for m, *_ in expected} == {"repeat-complaint", "detractor", "stalled-install", "payment-trouble"}
    with fresh_database(kind, tmp_path) as url, fleet(prepared(tmp_path, url), url, replicas, *OPTIONS) as servers:
        ids: dict[str, int] = {}
        send(servers, events, 0, ids)
        got = fired_of(settle(servers[0].base, sum(expected.values())), ids)
        assert got == expected
        # The late-event rule is the database's: an event older than one a replica
        # accepted is refused by every other replica too.
        last = events[-1]
        older = {**last, "type": "complaint", "timestamp": "2026-09-20T00:00:00Z"}
        for server in servers:
            late = http.post(f"{server.base}/v1/events", json={"event": older})
            assert late.status_code == 422 and late.json()["error"].startswith("late event"), late.text


@pytest.mark.parametrize("kind", database_kinds())
def test_a_killed_owners_partitions_are_taken_over_and_nothing_is_lost_or_fired_twice(kind: str,
                                                                                       tmp_path: Path) -> None:
    events = stream(200)
    expected = replayed(events)
    half = len(events) // 2
    with fresh_database(kind, tmp_path) as url, fleet(prepared(tmp_path, url), url, 3, *OPTIONS) as servers:
        held = wait_for_shares(servers)
        ids: dict[str, int] = {}
        send(servers, events[:half], 0, ids)
        victim = max(servers, key=lambda s: len(held[s.base]))
        victim.stop(signal.SIGKILL)  # mid-stream: what it had not processed is still to do
        survivors = [s for s in servers if s is not victim]
        send(survivors, events[half:], half, ids)
        got = fired_of(settle(survivors[0].base, sum(expected.values())), ids)
        assert got == expected
        wait_for_owners(survivors)


def wait_for_owners(survivors: list[Replica], seconds: float = 30) -> None:
    """Every partition owned by a survivor. Not at once: a survivor holding more than its
    share gives the rest back (owner NULL) for the other to claim on its next cycle, so a
    partition may be unowned for a moment (seen in CI at load 8)."""
    names = {http.get(f"{s.base}/v1/moments").json()["owner"] for s in survivors}
    deadline = time.monotonic() + seconds
    while True:
        owners = {p["owner"] for p in http.get(f"{survivors[0].base}/v1/moments").json()["partitions"]}
        if owners <= names:
            return
        assert time.monotonic() < deadline, (owners, names)
        time.sleep(0.2)


def wait_for_shares(servers: list[Replica], seconds: float = 30) -> dict[str, list[int]]:
    """Each replica's partitions, once every partition has an owner and each has a share."""
    deadline = time.monotonic() + seconds
    while True:
        held = {s.base: http.get(f"{s.base}/v1/moments").json()["held"] for s in servers}
        if sum(map(len, held.values())) == 16 and all(held.values()):
            return held
        assert time.monotonic() < deadline, held
        time.sleep(0.2)
