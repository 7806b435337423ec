"""Replicas started at the same moment on a fresh database all start (migrations take a
database lock; a plan version is stored and released once, whoever comes first)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the service extra is not installed")

import sqlalchemy

from .conftest import REPO
from .replicas import database_kinds, fleet, fresh_database, listens_on

TRIALS = 5  # per database: 10 races of three processes in all, as issue #11 asks


def _plan_copy(root: Path) -> Path:
    import shutil

    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, root / folder)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("kind", database_kinds())
def test_three_replicas_start_at_once_on_a_fresh_database(kind: str, tmp_path: Path) -> None:
    plan = _plan_copy(tmp_path / "plan")
    for trial in range(TRIALS):
        with fresh_database(kind, tmp_path) as db_url:
            # fleet raises, with the failed replica's log, unless all three become ready.
            with fleet(plan, db_url, 3, "--no-watch") as servers:
                dead = [server for server in servers if not server.alive()]
                assert not dead, f"trial {trial}: " + "\n".join(server.log() for server in dead)
            engine = sqlalchemy.create_engine(db_url)
            try:
                with engine.connect() as connection:
                    stored = [connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar()
                              for table in ("plan_versions", "plan_releases")]
            finally:
                engine.dispose()
            assert stored == [1, 1], f"trial {trial}: one version stored and released once"


def test_a_server_counts_as_started_only_on_its_own_port() -> None:
    """The harness's check that the server answering is ours: the listener's owner only."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert listens_on(os.getpid(), port)
        assert not listens_on(os.getppid(), port)  # a neighbour answering on our port is not us
        with socket.socket() as other:
            other.bind(("127.0.0.1", 0))  # bound, not listening
            assert not listens_on(os.getpid(), other.getsockname()[1])


def test_a_replica_whose_probed_port_is_taken_is_launched_on_another(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A probed free port may be taken before the server binds it (another test's server,
    under xdist): the server exits with 'Address already in use', and the harness launches
    it again on another port rather than failing the test."""
    from . import replicas

    plan = _plan_copy(tmp_path / "plan")
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = int(holder.getsockname()[1])
        probed = iter([taken])
        free_port = replicas.free_port
        monkeypatch.setattr(replicas, "free_port", lambda: next(probed, None) or free_port())
        server = replicas.Replica(plan, f"sqlite:///{tmp_path / 'log.db'}", "--no-watch").launch()
        try:
            server.wait_ready()
            assert server.port != taken and listens_on(server.process.pid, server.port)  # type: ignore[union-attr]
        finally:
            server.stop()
