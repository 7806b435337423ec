"""Scratch PostgreSQL databases for tests and benchmarks: made empty, dropped afterwards.

The role that runs them (``treatment`` from .ci/postgres.sh) has CREATEDB and nothing
more. ``DROP DATABASE ... WITH (FORCE)`` is not used: it signals every process in the
database, and when an autovacuum worker happens to be one of them a role without
pg_signal_backend gets "must be a member of the role whose process is being terminated"
(CI failed so on 2026-12-02). A plain DROP DATABASE stops autovacuum by itself; the
role's own leftover sessions (a replica just stopped) it may end itself.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

DROP_ATTEMPTS = 50  # a terminated session can take a moment to leave; 50 x 0.1 s is plenty


def maintenance_url(url: str) -> str:
    """The URL of the ``postgres`` database on the server of ``url``."""
    return f"{url.rpartition('/')[0]}/postgres"


def drop_database(url: str, name: str) -> None:
    """Drop database ``name`` on the server of ``url``, first ending this role's own
    sessions in it; retried while a session is still on its way out."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(maintenance_url(url), isolation_level="AUTOCOMMIT")
    try:
        for attempt in range(DROP_ATTEMPTS):
            with admin.connect() as connection:
                connection.exec_driver_sql(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
                    " WHERE datname = %(name)s AND usename = current_user AND pid <> pg_backend_pid()",
                    {"name": name})
                try:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
                    return
                except sqlalchemy.exc.OperationalError:  # 55006 object in use: not gone yet
                    if attempt == DROP_ATTEMPTS - 1:
                        raise
            time.sleep(0.1)
    finally:
        admin.dispose()


def create_database(url: str, name: str) -> str:
    """Create an empty database ``name`` on the server of ``url`` (dropping any old one
    of that name) and return its URL."""
    import sqlalchemy

    drop_database(url, name)
    admin = sqlalchemy.create_engine(maintenance_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return f"{url.rpartition('/')[0]}/{name}"


@contextmanager
def fresh_postgresql(url: str, prefix: str = "treatment_t") -> Iterator[str]:
    """A new, empty database on the PostgreSQL server of ``url``, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    created = create_database(url, name)
    try:
        yield created
    finally:
        drop_database(url, name)
