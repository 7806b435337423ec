"""The commonest shape of an event's time read exactly in DuckDB SQL: one home for the
measure path (:func:`..measure.duckdb_stats.timestamp_sql`) and the journeys path
(:mod:`..journeys.duckdb_file`), each of which hands in its own reading of the rest."""

from __future__ import annotations


def common_shape_sql(text: str, otherwise: str) -> str:
    """Seconds since the epoch of ``text`` where it has the commonest shape, 20 characters
    from a digit to a ``Z`` (2026-11-01T09:30:00Z), else ``otherwise`` (the SQL reading
    the whole of ``moments.events.parse_timestamp``'s rule).

    An exact strptime reads that shape for less than a regular expression and a cast cost,
    and it runs once a row (coalesce to ``otherwise`` where it gives nothing). It is
    exact: strptime's leniencies (whitespace before a number, a one-digit field) cannot
    fit a text of that length that starts with a digit and ends with the Z
    (tests/test_measure_fast.py walks substitutions of every position); the year 0000,
    which strptime takes and Python's dates do not, is left to ``otherwise`` (strings
    compare byte-wise: ``'0001' <= text < ':'`` is a first byte that is a digit and not
    the year 0000). Whole seconds since the epoch are exact in a double, so the
    microseconds divided by a million are the number Python's ``timestamp()`` gives."""
    common = f"{text} >= '0001' AND {text} < ':' AND suffix({text}, 'Z') AND length({text}) = 20"
    exact = f"epoch_us(try_strptime({text}, '%Y-%m-%dT%H:%M:%SZ')) / 1000000.0"
    return f"CASE WHEN {common} THEN coalesce({exact}, {otherwise}) ELSE {otherwise} END"
