"""DuckDB's runs are the reference's: generated journeys over generated event streams."""

from __future__ import annotations

from typing import Any

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treatment_engine.journeys.reference import runs
from treatment_engine.journeys.sql import duckdb_runs

from .journey_plans import Raw, events, histories, journey, journeys

CONNECTION = duckdb.connect()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journeys(), histories(), st.integers(0, 50))
def test_duckdb_gives_the_reference_runs(written: dict[str, Any], raw: list[Raw], as_of: int) -> None:
    compiled = journey(**written)
    seen = [e for e in events(compiled, raw) if e.timestamp <= as_of]
    assert duckdb_runs(compiled, seen, float(as_of), CONNECTION) == runs(compiled, seen, float(as_of))
