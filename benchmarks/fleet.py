"""Several `treatment serve` replicas on loopback sharing one decision log, for a benchmark.

Started and stopped by the tests' own code (tests/replicas.py, tests/scratch_databases.py):
one way to run a replica, whether a test or a benchmark asks."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import replicas, scratch_databases


@contextmanager
def served_fleet(plan: Path, db_url: str, replicas_count: int, *options: str,
                 env: dict[str, str] | None = None, cwd: Path | None = None) -> Iterator[list[str]]:
    """The base URLs of ``replicas_count`` running servers on ``plan`` and ``db_url``, all
    started at once (migrations and plan releases are safe to race), stopped afterwards.
    ``env`` adds to the environment and ``cwd`` sets the directory they run in."""
    with replicas.fleet(plan, db_url, replicas_count, "--no-watch", *options, env=env, cwd=cwd) as servers:
        yield [server.base for server in servers]


def fresh_postgresql(url: str) -> AbstractContextManager[str]:
    """A new, empty database on the PostgreSQL server of ``url`` (its role needs
    CREATEDB), dropped afterwards: each run starts from the same empty log."""
    return scratch_databases.fresh_postgresql(url, prefix="treatment_bench")
