"""`treatment serve` on loopback for a benchmark: the bundled plan copied aside, a fresh
SQLite decision log (or a given database), stopped and cleaned up afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fleet import served_fleet

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def bundled_plan_copy(prefix: str) -> Iterator[Path]:
    """A scratch directory holding a copy of the bundled plan in ``plan/`` (the servers'
    logs are written beside it), removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        for folder in ("rules", "segments"):
            shutil.copytree(REPO / folder, scratch / "plan" / folder)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


@contextmanager
def served_default_plan(*options: str) -> Iterator[tuple[str, Path]]:
    """(base URL, scratch directory) of a running server; the scratch holds plan and log."""
    with bundled_plan_copy("bench-serve-") as scratch, \
            served_fleet(scratch / "plan", f"sqlite:///{scratch / 'log.db'}", 1, *options) as bases:
        yield bases[0], scratch


@contextmanager
def served_replicas(count: int, db_url: str, *options: str) -> Iterator[list[str]]:
    """``count`` servers of the bundled plan on one database (migrated, the plan registered,
    before they start: starting replicas at once on a fresh database is issue #11's item 3);
    their base URLs."""
    from treatment_engine import Engine
    from treatment_engine.load import read_plan_dir
    from treatment_engine.store import DecisionLog

    with bundled_plan_copy("bench-replicas-") as scratch:
        log = DecisionLog(db_url)
        log.decisions.remember_plan(Engine.load(scratch / "plan").plan, read_plan_dir(scratch / "plan"))
        log.close()
        with served_fleet(scratch / "plan", db_url, count, *options) as bases:
            yield bases
