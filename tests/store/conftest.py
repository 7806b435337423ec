"""The decision log on SQLite and on a real PostgreSQL ($TREATMENT_TEST_PG_URL, set by .ci/run):
every test that takes ``log`` runs on both."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("sqlmodel", reason="the service extra is not installed")

from treatment_engine.store import DecisionLog

PG_URL = os.environ.get("TREATMENT_TEST_PG_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DecisionLog]:
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("TREATMENT_TEST_PG_URL is not set (.ci/run starts a PostgreSQL and sets it)")
    opened = DecisionLog(f"sqlite:///{tmp_path / 'log.db'}" if request.param == "sqlite" else str(PG_URL))
    yield opened
    opened.close()
