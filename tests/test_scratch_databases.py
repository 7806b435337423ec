"""The scratch databases the replica tests stand on are dropped by a role without
pg_signal_backend even while its own sessions are still open in them."""

from __future__ import annotations

import pytest

from .replicas import PG_URL
from .scratch_databases import fresh_postgresql


@pytest.mark.skipif(not PG_URL, reason="TREATMENT_TEST_PG_URL is not set")
def test_a_scratch_database_is_dropped_with_the_roles_own_sessions_still_open() -> None:
    import sqlalchemy

    assert PG_URL is not None
    with fresh_postgresql(PG_URL) as url:
        name = url.rpartition("/")[2]
        lingering = sqlalchemy.create_engine(url).connect()  # a replica that has not let go
        lingering.exec_driver_sql("SELECT 1")
    admin = sqlalchemy.create_engine(PG_URL)
    try:
        with admin.connect() as connection:
            left = connection.exec_driver_sql(
                "SELECT count(*) FROM pg_database WHERE datname = %(name)s", {"name": name}).scalar()
        assert left == 0
    finally:
        admin.dispose()
        lingering.invalidate()
