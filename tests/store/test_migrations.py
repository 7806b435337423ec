"""The schema: alembic's migrations build exactly the tables, and upgrade an old log."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine.contacts import compile_contact_rules
from treatment_engine.store import DecisionLog


def test_migrations_build_exactly_the_models_schema(log: DecisionLog) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with log.database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_a_log_made_before_migrations_is_stamped_and_upgraded(tmp_path: Path) -> None:
    import sqlalchemy as sa

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = sa.create_engine(url)
    with old.begin() as connection:  # what create_all made before alembic: revision 0001's tables
        connection.execute(sa.text("CREATE TABLE plan_versions (version VARCHAR(32) PRIMARY KEY, "
                                   "files VARCHAR NOT NULL, loaded_at DATETIME NOT NULL)"))
        connection.execute(sa.text(
            "CREATE TABLE decisions (id VARCHAR(36) PRIMARY KEY, customer_id VARCHAR(200) NOT NULL, "
            "plan_version VARCHAR(32) NOT NULL, rule VARCHAR NOT NULL, treatment VARCHAR(16) NOT NULL, "
            "actions VARCHAR NOT NULL, channels VARCHAR NOT NULL, cost FLOAT NOT NULL, as_of DATE NOT NULL, "
            "created_at DATETIME NOT NULL, inputs VARCHAR)"))
        connection.execute(sa.text("CREATE INDEX ix_decisions_customer_created ON decisions (customer_id, created_at)"))
        connection.execute(sa.text(
            "INSERT INTO decisions VALUES ('d1', 'c1', 'v', 'r', 'contain', '[]', '[\"sms\"]', 0, "
            "'2026-11-01', '2026-11-01 10:00:00', NULL)"))
    old.dispose()
    upgraded = DecisionLog(url)
    try:
        with upgraded.database.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == _head()
        assert upgraded.decisions.history("c1")[0]["id"] == "d1"  # nothing lost
        sms_cap = compile_contact_rules({"sms": (1, 7)}, None, ("sms",))
        assert sms_cap is not None and upgraded.decisions.limits(["c1"], date(2026, 11, 3), sms_cap)["c1"].blocked == {"sms"}
    finally:
        upgraded.close()


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "treatment_engine:migrations")
    return str(ScriptDirectory.from_config(config).get_current_head())
