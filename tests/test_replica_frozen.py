"""A replica that stops mid-transaction holding customers' locks must not stall the fleet.

Under a plan with contact caps a replica decides a group of requests inside one
transaction holding their customers' advisory locks (service/serialize.py). A replica
frozen there (SIGSTOP here; a VM paused, a network cut the server does not see) kept the
locks until TCP gave up on its connection, hours later, and every other replica whose
committer then waited for one of those customers decided nothing at all meanwhile, for
any customer. Now the wait is bounded (the request is answered 503, to send again) and
the server ends the frozen holder's transaction (store/locks.py).
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy

from treatment_engine.store.locks import CUSTOMER_LOCK_WAIT_MS, LOCK_HOLDER_IDLE_MS, customer_lock_key

from .conftest import write_plan
from .replicas import fleet, fresh_database
from .test_replica_caps import PLAN, _profile

pytest.importorskip("fastapi", reason="the service extra is not installed")

AS_OF = "2026-11-01"
WAIT = CUSTOMER_LOCK_WAIT_MS / 1000
IDLE = LOCK_HOLDER_IDLE_MS / 1000


def _decide(client: httpx.Client, base: str, customer_id: str) -> httpx.Response:
    return client.post(f"{base}/v1/decisions", json={"profile": _profile(customer_id), "as_of": AS_OF})


def _waiting_for_a_lock(admin: sqlalchemy.Connection, database: str) -> int:
    """Sessions of ``database`` waiting for an advisory lock."""
    return int(admin.exec_driver_sql(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event = 'advisory'",
        (database,)).scalar() or 0)


@pytest.mark.slow
def test_a_replica_frozen_holding_a_customers_lock_stalls_no_one_for_long(tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan", PLAN)
    with (fresh_database("postgresql", tmp_path) as url, fleet(plan, url, 2, "--no-watch") as (alive, frozen),
          httpx.Client(timeout=IDLE + 3 * WAIT + 30) as client):
        database = sqlalchemy.make_url(url).database
        engine = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as admin, engine.connect() as holder:
                # 1. A customer's lock held elsewhere: the request for that customer waits at
                # most the lock wait and is refused to be sent again; the replica meanwhile
                # decides other customers' requests.
                holder.exec_driver_sql("BEGIN")
                holder.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (customer_lock_key("x"),))
                answers: dict[str, tuple[int, float]] = {}

                def decide(name: str, base: str, customer_id: str) -> None:
                    started = time.monotonic()
                    answer = _decide(client, base, customer_id)
                    answers[name] = (answer.status_code, time.monotonic() - started)

                blocked = threading.Thread(target=decide, args=("x", alive.base, "x"))
                blocked.start()
                while _waiting_for_a_lock(admin, database) == 0:
                    time.sleep(0.05)
                other = _decide(client, alive.base, "y")
                blocked.join()
                assert answers["x"][0] == 503 and answers["x"][1] < WAIT + 5, answers
                assert other.status_code == 200, other.text
                holder.exec_driver_sql("ROLLBACK")
                assert _decide(client, alive.base, "x").status_code == 200

                # 2. A replica frozen inside its transaction, holding customer z's lock: it
                # took the lock (the holder let go) just after it was stopped.
                holder.exec_driver_sql("BEGIN")
                holder.exec_driver_sql("SELECT pg_advisory_xact_lock(%s)", (customer_lock_key("z"),))
                stuck = threading.Thread(target=decide, args=("frozen", frozen.base, "z"))
                stuck.start()
                while _waiting_for_a_lock(admin, database) == 0:
                    time.sleep(0.05)
                assert frozen.process is not None
                frozen.process.send_signal(signal.SIGSTOP)
                holder.exec_driver_sql("ROLLBACK")  # the frozen replica's transaction has z now
                # The live replica decides z once the server has ended that transaction.
                started = time.monotonic()
                while (answer := _decide(client, alive.base, "z")).status_code != 200:
                    assert answer.status_code == 503, answer.text
                    assert time.monotonic() - started < IDLE + 2 * WAIT + 10, "z stays locked by the frozen replica"
                frozen.process.send_signal(signal.SIGCONT)
                stuck.join()
                # Its transaction was ended before it committed: not acknowledged.
                assert answers["frozen"][0] == 503, answers
                assert _decide(client, frozen.base, "z").status_code == 200  # and it serves again
            with engine.connect() as reading:
                logged = reading.exec_driver_sql(
                    "SELECT customer_id, count(*) FROM decisions GROUP BY customer_id").all()
            assert dict(logged) == {"x": 1, "y": 1, "z": 2}
        finally:
            engine.dispose()
