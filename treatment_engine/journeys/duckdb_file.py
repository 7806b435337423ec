"""Journeys measured inside DuckDB from an events file: the file scanned once by DuckDB's
JSON reader, each step's ``if`` compiled to SQL by the expression compiler the simulate SQL
uses (:class:`..sql.expressions.ExpressionCompiler`: spec section 6, nulls and wrong types
as the Python evaluator has them), the runs by :mod:`.sql`'s query, and only the runs'
columns handed back for the report (:func:`.summary.summarize_columns`). No Python object
per event or per run: 10 million events fit in the time and memory of a plain query.

The events are read as :mod:`.source` reads them (``profile_json``'s rule per line, then
``moments.events.parse_event``), by these means:

- DuckDB reads the file only when :func:`..sql.json_lines.plain_file` finds nothing its
  reader reads otherwise, and any reader error sends the whole file back to the Python path
  (:func:`measure_file` returns None), as simulate does with profiles;
- a timestamp in the common shape (a date, or a date-time to the second with up to six
  decimals and ``Z`` or an offset, years 1900 to 2199, where DuckDB's arithmetic on
  microseconds is exact) is converted in SQL; every other distinct text, and any the cast
  refuses, is converted by ``parse_timestamp`` itself in Python;
- a refused event's reason comes from ``parse_event`` over its three reserved fields, so
  the words are the Python path's;
- the input position (the order among equal times and the index in a refusal) is
  ``row_number() OVER ()`` over the scan, which DuckDB keeps in file order while
  ``preserve_insertion_order`` is on (:func:`..sql.duckdb_backend.connect` sets it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlglot import exp

from ..expressions.ast import Call, Expression, Field, walk
from ..moments.events import EventError, parse_event, parse_timestamp
from ..sql.expressions import ExpressionCompiler
from ..sql.fragments import Unsupported
from ..sql.json_lines import plain_file
from ..sql.sources import Source, build_source
from .compiled import CompiledJourney
from .source import JourneyEvents
from .sql import runs_query
from .summary import STATUS_CODES, JourneyReport, RunColumns, summarize_columns

EVENTS = "__journey_events"
RESERVED = (("customer_id",), ("type",), ("timestamp",))
# The timestamps SQL converts exactly as parse_timestamp does (see the module's docstring).
COMMON_TIMESTAMP = (r"^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}"
                    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?$")


@dataclass(frozen=True)
class Measured:
    reports: list[JourneyReport]
    events: JourneyEvents  # what was read: counts, refusals and the as-of (no events kept)


class _EventDayCompiler(ExpressionCompiler):
    """A condition on an event reads ``days_since`` from the event's own day, as
    :meth:`.compiled.CompiledJourney.flags` does."""

    def __init__(self, source: Source, day: exp.Expr) -> None:
        super().__init__(source.fields, as_of=date(1970, 1, 1))
        self.as_of = day


def measure_file(journeys: Sequence[CompiledJourney], path: str, as_of: float | None,
                 memory_limit: str = "1GB") -> Measured | None:
    """Each journey's report from the events file at ``path``, or None when the file must
    be read the Python way (see the module's docstring)."""
    import duckdb

    from ..sql.duckdb_backend import Settings, connect

    if not plain_file(path):
        return None
    db = connect(Settings(memory_limit=memory_limit))
    try:
        db.execute("SET TimeZone = 'UTC'")
        db.execute("RESET disabled_optimizers")  # the runs come out ordered; joins may pick their sides
        conditions = _conditions(journeys)
        try:
            if not _load(db, journeys, path, conditions):
                return None
        except (duckdb.Error, Unsupported):
            return None
        found = _read_summary(db, journeys, as_of)
        reports = [summarize_columns(j, _runs(db, j, conditions, found.as_of), found.as_of) for j in journeys]
        return Measured(reports, found)
    finally:
        db.close()


def _conditions(journeys: Sequence[CompiledJourney]) -> list[Expression]:
    """Every distinct condition the journeys read, each compiled once (a column ``c{k}``)."""
    found: list[Expression] = []
    for journey in journeys:
        parsed = journey.conditions
        for expression in (*parsed.steps, *parsed.none, *parsed.require):
            if expression is not None and all(expression is not e for e in found):
                found.append(expression)
    return found


def _load(db: Any, journeys: Sequence[CompiledJourney], path: str, conditions: list[Expression]) -> bool:
    """The events table: input position, the reserved fields, the time (NULL where SQL did
    not convert it, with its text kept) and each condition's truth. False: the file needs
    the Python path after all."""
    paths = sorted(set(RESERVED) | {node.path for e in conditions for node in walk(e) if isinstance(node, Field)})
    source = build_source(db, path, paths, "jsonl")
    cid, kind, stamp = (source.fields[key].s for key in RESERVED)
    known = ", ".join(exp.Literal.string(t).sql() for t in sorted({t for j in journeys for t in j.event_types}))
    fast = _common_seconds(f"{stamp}")
    day = exp.Cast(this=exp.Anonymous(this="to_timestamp", expressions=[exp.column("__ts")]),
                   to=exp.DataType.build("DATE"))
    compiler = _EventDayCompiler(source, day)
    tests = "".join(f", coalesce({compiler.condition(e).sql(dialect='duckdb')}, FALSE) AS c{k}"
                    for k, e in enumerate(conditions))
    passed = f"({kind} IS NOT NULL AND {kind} NOT IN ({known}))"  # an event type no journey names
    scan = (f"SELECT row_number() OVER () - 1 AS ix, count(*) OVER () AS __read, {passed} AS passed, "
            f"{cid} AS cid, {kind} AS type, {stamp} AS __text, {fast} AS __ts, * "
            f"FROM {source.relation.sql(dialect='duckdb')}")
    db.execute(f"CREATE TEMP TABLE {EVENTS} AS SELECT ix, __read, passed, cid, type, __ts AS ts, "
               f"CASE WHEN __ts IS NULL THEN __text END AS ts_text{tests} "
               f"FROM ({scan}) WHERE NOT passed OR ix = __read - 1")
    converted = _convert_the_rest(db)
    uses_today = any(isinstance(node, Call) and node.function != "missing" for e in conditions for node in walk(e))
    return not (converted and uses_today)  # a condition read days_since before its event's time was known


def _common_seconds(text: str) -> str:
    """Seconds since the epoch of a timestamp in the common shape, else NULL."""
    local = f"try_cast(regexp_extract({text}, '^[0-9-]{{10}}(T[0-9:]{{8}}(\\.[0-9]+)?)?', 0) AS TIMESTAMP)"
    zone = f"regexp_extract({text}, '(Z|[+-][0-9:]{{5}})$', 0)"
    offset = (f"CASE WHEN {zone} IN ('', 'Z') THEN 0 ELSE (CASE WHEN starts_with({zone}, '-') THEN -1 ELSE 1 END) "
              f"* (CAST(substr({zone}, 2, 2) AS BIGINT) * 3600 + CAST(substr({zone}, 5, 2) AS BIGINT) * 60) END")
    return (f"CASE WHEN regexp_full_match({text}, '{COMMON_TIMESTAMP}') "
            f"THEN (epoch_us({local}) - ({offset}) * 1000000) / 1000000.0 END")


def _convert_the_rest(db: Any) -> int:
    """Times SQL left for ``parse_timestamp``: each distinct text once. How many there were."""
    import pyarrow as pa

    texts = [row[0] for row in db.execute(
        f"SELECT DISTINCT ts_text FROM {EVENTS} WHERE ts IS NULL AND ts_text IS NOT NULL AND NOT passed").fetchall()]
    if not texts:
        return 0
    seconds = [parse_timestamp(text) for text in texts]
    db.register("__journey_times", pa.table({"text": texts, "seconds": pa.array(seconds, pa.float64())}))
    db.execute(f"UPDATE {EVENTS} SET ts = t.seconds FROM __journey_times t "
               f"WHERE {EVENTS}.ts IS NULL AND {EVENTS}.ts_text = t.text")
    db.unregister("__journey_times")
    return len(texts)


_VALID = "NOT passed AND cid <> '' AND type <> '' AND ts IS NOT NULL"


def _read_summary(db: Any, journeys: Sequence[CompiledJourney], as_of: float | None) -> JourneyEvents:
    """What was read, the refusals in parse_event's words, and the as-of."""
    row = db.execute(f"SELECT max(__read), count(*) FILTER (WHERE passed), "
                     f"max(ts) FILTER (WHERE {_VALID}) FROM {EVENTS}").fetchone()
    read, passed, latest = (row[0] or 0, row[1], row[2]) if row else (0, 0, None)
    known = frozenset(t for j in journeys for t in j.event_types)
    refused = db.execute(f"SELECT ix, cid, type, ts_text FROM {EVENTS} WHERE NOT passed AND NOT coalesce({_VALID}, "
                         "FALSE) ORDER BY ix").fetchall()
    errors = [parse_event({"customer_id": c, "type": t, "timestamp": s}, int(ix), known) for ix, c, t, s in refused]
    moment = as_of if as_of is not None else (latest if latest is not None else 0.0)
    return JourneyEvents({j.id: [] for j in journeys}, float(moment), int(read), int(passed),
                         [e for e in errors if isinstance(e, EventError)])


def _flags(journey: CompiledJourney, conditions: list[Expression]) -> str:
    """The columns :func:`.sql.runs_query` reads, from the event's type and conditions."""
    def test(event: str, condition: Expression | None) -> str:
        typed = f"type = {exp.Literal.string(event).sql()}"
        if condition is None:
            return typed
        index = next(k for k, e in enumerate(conditions) if e is condition)
        return f"({typed} AND c{index})"

    parsed = journey.conditions
    steps = [test(s.event, c) for s, c in zip(journey.steps, parsed.steps, strict=True)]
    none = [test(t.event, c) for t, c in zip(journey.none, parsed.none, strict=True)]
    required = [test(t.event, c) for t, c in zip(journey.require, parsed.require, strict=True)]
    types = ", ".join(exp.Literal.string(t).sql() for t in sorted(journey.step_types))
    return ", ".join([f"type IN ({types}) AS a", f"({' OR '.join(none) or 'FALSE'}) AS fb",
                      *(f"{s} AS m{i}" for i, s in enumerate(steps)),
                      *(f"{r} AS rq{i}" for i, r in enumerate(required))])


def _runs(db: Any, journey: CompiledJourney, conditions: list[Expression], as_of: float) -> RunColumns:
    """``journey``'s runs, worked out in DuckDB, as the report's columns."""
    types = ", ".join(exp.Literal.string(t).sql() for t in sorted(journey.event_types))
    db.execute(f"CREATE OR REPLACE TEMP VIEW __journey AS SELECT * FROM (SELECT cid, ts, ix, "
               f"{_flags(journey, conditions)} FROM {EVENTS} WHERE {_VALID} AND type IN ({types}) "
               f"AND ts <= {as_of!r}) WHERE a OR fb" + "".join(f" OR rq{i}" for i in range(len(journey.require))))
    db.execute(f"CREATE OR REPLACE TEMP TABLE __runs AS {runs_query(journey, as_of, '__journey')}")
    width = len(journey.steps)
    codes = " ".join(f"WHEN '{name}' THEN {code}" for name, code in STATUS_CODES.items())
    columns = db.execute(
        "SELECT " + ", ".join(f"coalesce(t{i}, 'NaN'::DOUBLE) AS t{i}" for i in range(width))
        + f", CAST(CASE status {codes} END AS TINYINT) AS status, "
        "CAST(CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END AS TINYINT) AS success FROM __runs"
    ).fetchnumpy()
    customers = db.execute("SELECT count(DISTINCT cid) FROM __runs").fetchone()
    reached = np.column_stack([np.asarray(columns[f"t{i}"], dtype=np.float64) for i in range(width)]) \
        if len(columns["status"]) else np.empty((0, width))
    return RunColumns(reached, np.asarray(columns["status"], dtype=np.int8),
                      np.asarray(columns["success"], dtype=np.int8), int(customers[0]) if customers else 0)
