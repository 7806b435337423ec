"""Plan releases between replicas and the watcher's failure handling, in process on one
SQLite log (the same paths run across real replicas in test_replica_plans.py)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytest.importorskip("watchfiles", reason="the service extra is not installed")

from sqlalchemy import text

from treatment_engine.service import plan_sync
from treatment_engine.service.plan_sync import PlanSync
from treatment_engine.service.plans import PlanHolder
from treatment_engine.store import DecisionLog, DecisionRepository

from .conftest import REPO


def _plan_copy(root: Path) -> Path:
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, root / folder)
    return root


def _edit(plan: Path, ratio: str) -> None:
    policy = plan / "rules" / "policy.yaml"
    policy.write_text((REPO / "rules" / "policy.yaml").read_text().replace("ratio: 0.03", f"ratio: {ratio}"))


def _wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionRepository]:
    opened = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}")
    yield opened.decisions
    opened.close()


def _replica(root: Path, log: DecisionRepository) -> PlanSync:
    sync = PlanSync(PlanHolder(_plan_copy(root)), log, poll_seconds=0.1)
    sync.start()
    return sync


def test_the_newest_release_wins_wherever_it_came_from(tmp_path: Path, log: DecisionRepository) -> None:
    a, b = _replica(tmp_path / "a", log), _replica(tmp_path / "b", log)
    assert a.release == b.release  # the same version: released once
    _edit(b.holder.plan_dir, "0.02")
    assert b.reload().outcome == "loaded"
    a.poll()
    assert a.holder.current.engine.version == b.holder.current.engine.version and a.source == "database"
    _edit(a.holder.plan_dir, "0.025")
    assert a.reload().outcome == "loaded" and a.source == "directory"
    b.poll()
    assert b.holder.current.engine.version == a.holder.current.engine.version
    a.poll()  # its own release: nothing to do
    assert a.source == "directory" and a.release == b.release


def test_a_release_that_does_not_load_here_is_shown_once_and_skipped(tmp_path: Path, log: DecisionRepository) -> None:
    a = _replica(tmp_path / "a", log)
    serving = a.holder.current.engine.version
    with log.database.engine.begin() as connection:  # a release whose stored files this engine refuses
        connection.execute(text("INSERT INTO plan_versions (version, files, loaded_at) VALUES ('broken', :f, :t)"),
                           {"f": json.dumps({"rules/r.yaml": "rules: 5\n"}), "t": datetime.now(UTC)})
        connection.execute(text("INSERT INTO plan_releases (version, released_at, released_by) "
                                "VALUES ('broken', :t, 'elsewhere')"), {"t": datetime.now(UTC)})
    a.poll()
    assert a.holder.current.engine.version == serving
    fleet = a.status()["fleet"]
    assert "does not load here" in fleet["error"] and fleet["release"] == a.release


def test_failures_are_shown_and_neither_the_watcher_nor_the_poller_stops(tmp_path: Path, log: DecisionRepository,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    sync = _replica(tmp_path / "a", log)
    first = sync.holder.current.engine.version
    publish, newest = plan_sync.publish, plan_sync.newest_release
    failing = {"publish": 1, "poll": 1_000}

    def flaky_publish(*args: object) -> int:
        if failing["publish"]:
            failing["publish"] -= 1
            raise OSError("the database went away")
        return publish(*args)  # type: ignore[arg-type]

    def flaky_newest(*args: object) -> object:
        if failing["poll"]:
            failing["poll"] -= 1
            raise OSError("no route to the database")
        return newest(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(plan_sync, "publish", flaky_publish)
    monkeypatch.setattr(plan_sync, "newest_release", flaky_newest)
    stop = threading.Event()
    threads = [threading.Thread(target=run, args=(stop,), daemon=True) for run in (sync.run_watcher, sync.run_poller)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)  # the watcher is watching
        _wait_for(lambda: "no route to the database" in (sync.status()["fleet"]["error"] or ""))
        failing["poll"] = 0
        _wait_for(lambda: sync.status()["fleet"]["error"] is None)  # the poller carried on
        _edit(sync.holder.plan_dir, "0.02")
        _wait_for(lambda: bool(sync.holder.last_error) and "could not be stored" in sync.holder.last_error[0])
        assert sync.holder.current.engine.version == first  # not stored, so not served
        _edit(sync.holder.plan_dir, "0.025")
        _wait_for(lambda: sync.holder.current.engine.version != first)
        assert sync.holder.last_error is None and all(thread.is_alive() for thread in threads)
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
