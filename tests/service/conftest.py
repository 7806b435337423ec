"""One server for the tests that only read from it or restore what they change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .server import Server, plan_copy


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    server = Server(plan_copy(tmp_path_factory.mktemp("plan")), "--no-watch").start()
    yield server.base, server.plan
    server.stop()
