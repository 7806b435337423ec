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


def test_the_apart_test_is_true_exactly_where_no_two_times_are_equal() -> None:
    """sql_once.apart, one NOT of an OR of equalities, against its meaning on every
    combination of equal, different and missing (NULL) times in four columns."""
    import itertools

    from treatment_engine.journeys.sql_once import apart

    values = [None, 1.0, 2.0, 3.0]
    rows = list(itertools.product(values, repeat=4))
    CONNECTION.execute("CREATE OR REPLACE TEMP TABLE times (a DOUBLE, b DOUBLE, c DOUBLE, d DOUBLE)")
    CONNECTION.executemany("INSERT INTO times VALUES (?, ?, ?, ?)", rows)
    got = CONNECTION.execute(f"SELECT a, b, c, d, TRUE{apart(['a', 'b', 'c', 'd'])} FROM times").fetchall()
    expected = [(*row, len({v for v in row if v is not None}) == sum(v is not None for v in row)) for row in rows]
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert apart(["a"]) == "" and sum(1 for row in got if not row[-1]) > 100
