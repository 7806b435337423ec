"""SQLite's write-ahead log checkpointed on a thread of its own: nothing committed is lost."""

from __future__ import annotations

import sqlite3
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
