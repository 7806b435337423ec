"""SQLite's write-ahead log checkpointed on a thread of its own: nothing committed is lost."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine import Engine
from treatment_engine.store import DecisionLog

from ..conftest import REPO


def test_background_checkpoints_fold_the_write_ahead_log_into_the_database(tmp_path: Path) -> None:
    """The service's log checkpoints on a thread (commits never copy the WAL themselves);
    nothing committed is lost, and closing leaves an empty WAL."""
    path = tmp_path / "log.db"
    log = DecisionLog(f"sqlite:///{path}", background_checkpoints=True)
    engine = Engine.load(REPO)
    with log.database.engine.connect() as connection:  # the service's connections leave checkpoints to the thread
        assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    profiles = [{"customer_id": f"c{i}", "annual_value": 100 + i} for i in range(3_000)]
    for _ in range(3):
        log.decisions.record(engine.plan, [(p, engine.decide(p, date(2026, 11, 1))) for p in profiles])
    wal = Path(f"{path}-wal")
    # With automatic checkpoints off, only the thread copies pages into the database file:
    # until it does, the file holds little more than the schema.
    deadline = time.monotonic() + 10
    while path.stat().st_size < 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 1_000_000, "no checkpoint copied the log into the database"
    log.close()
    assert not wal.exists() or wal.stat().st_size == 0  # TRUNCATE on close
    with sqlite3.connect(path) as reopened:
        assert reopened.execute("SELECT count(*) FROM decisions").fetchone()[0] == 9_000
    reopened.close()


def test_a_failing_checkpoint_is_retried_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from treatment_engine.wal import Checkpointer

    missing = tmp_path / "not-yet" / "log.db"  # cannot be opened until its folder exists
    checkpoints = Checkpointer(str(missing), every_seconds=0.01)
    checkpoints.committed()
    deadline = time.monotonic() + 5
    while "will retry" not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "will retry" in caplog.text and checkpoints.alive()
    missing.parent.mkdir()
    sqlite3.connect(missing).close()
    checkpoints.committed()
    time.sleep(0.2)
    assert checkpoints.alive()
    checkpoints.close()
    assert not checkpoints.alive() and "on close" not in caplog.text


def _read_overlapping(path: Path, stop: threading.Event) -> None:
    """Read transactions that always overlap (a new one begins before the last ends), as
    the service's requests and moments' owner do under load: the WAL is never free of readers."""
    older, newer = (sqlite3.connect(path, isolation_level=None, check_same_thread=False) for _ in range(2))
    older.execute("BEGIN")
    older.execute("SELECT count(*) FROM t").fetchone()
    while not stop.is_set():
        newer.execute("BEGIN")
        newer.execute("SELECT count(*) FROM t").fetchone()
        older.execute("COMMIT")
        time.sleep(0.001)
        older, newer = newer, older
    older.execute("COMMIT")
    older.close()
    newer.close()


def test_the_write_ahead_log_stays_bounded_while_readers_always_overlap(tmp_path: Path) -> None:
    """Passive checkpoints alone never start the WAL over while some reader is always in it
    (it reached 1.7 GB in a 3-minute soak); past its bound, a checkpoint empties it."""
    from treatment_engine.wal import Checkpointer

    path = tmp_path / "log.db"
    writer = sqlite3.connect(path, isolation_level=None)
    for pragma in ("busy_timeout=5000", "journal_mode=WAL", "wal_autocheckpoint=0"):
        writer.execute(f"PRAGMA {pragma}")
    writer.execute("CREATE TABLE t (body BLOB)")
    bound = 256 * 1024
    checkpoints = Checkpointer(str(path), every_seconds=0.005, bound_bytes=bound)
    stop = threading.Event()
    reader = threading.Thread(target=_read_overlapping, args=(path, stop))
    reader.start()
    wal = Path(f"{path}-wal")
    largest = restarts = before = 0
    try:
        for _ in range(3_000):  # about 25 MB of log, two pages per commit
            writer.execute("INSERT INTO t VALUES (randomblob(3000))")
            checkpoints.committed()
            time.sleep(0.0005)  # the service decides between commits: the writer lock is free at times
            size = wal.stat().st_size
            largest, restarts, before = max(largest, size), restarts + (size < before), size
    finally:
        stop.set()
        reader.join()
        checkpoints.close()
    assert writer.execute("SELECT count(*) FROM t").fetchone()[0] == 3_000
    writer.close()
    # Started over again and again, never near the 25 MB written: how far past the bound it
    # gets depends on how soon the checkpointer's thread gets a core (8x on an idle machine;
    # 10x once on CI with three test workers and other work on two cores).
    assert restarts >= 5, f"the WAL was started over {restarts} times"
    assert largest < 16 * bound, f"the WAL grew to {largest:,} bytes with a bound of {bound:,}"


def _open_when_all_are_ready(path: str, barrier: object, failures: object) -> None:
    import sqlite3 as driver

    from treatment_engine.store import connection as store_connection

    barrier.wait()  # type: ignore[attr-defined]
    try:
        opened = driver.connect(path)
        store_connection._run_pragmas(opened, store_connection._SQLITE_PRAGMAS)
        opened.close()
    except driver.OperationalError as error:
        failures.put(str(error))  # type: ignore[attr-defined]


def test_processes_opening_a_new_sqlite_log_at_once_all_switch_it_to_wal(tmp_path: Path) -> None:
    """Replicas started together on a new SQLite log each switch it to WAL as they connect.
    Two switches at once are a deadlock SQLite breaks by failing one at once ("database is
    locked", its busy timeout not waited): CI saw a replica fail to start so, and three raw
    connections racing failed 14 races in 200. The switch is tried again
    (store/connection._switch_to_wal): 100 races of three processes, none may fail."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    failures = context.Queue()
    for race in range(100):
        path = str(tmp_path / f"race-{race}.db")
        barrier = context.Barrier(3)
        processes = [context.Process(target=_open_when_all_are_ready, args=(path, barrier, failures))
                     for _ in range(3)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert all(process.exitcode == 0 for process in processes)
        with sqlite3.connect(path) as check:
            assert check.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    found = []
    while not failures.empty():
        found.append(failures.get())
    assert found == []
