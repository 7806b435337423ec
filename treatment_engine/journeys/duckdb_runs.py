"""Each journey's runs from the events table of :mod:`.duckdb_file`, in DuckDB.

The events table has one row per event: ``passed``, ``cid``, ``type`` (an ENUM of the
journeys' types), ``ts``, and a column ``c{k}`` per distinct condition of the journeys.
Per journey, a view of its events with the flags :func:`.sql.runs_query` reads (``a``,
``m{j}``, ``fb``, ``rq{i}``) feeds either the window query (``consecutive`` journeys) or
:func:`.sql_once.split_runs_query`, whose per-customer table is made here once for all
the journeys (:func:`make_per_customer`): one hash aggregation over the customer ids,
where there was one per journey (at 10 million events of 1 million customers: 2.6 CPU
seconds for the one against 3.9 for the three).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
from sqlglot import exp

from ..expressions.ast import Expression
from .compiled import CompiledJourney
from .sql import runs_query
from .sql_once import apart, split_runs_query
from .summary import STATUS_CODES, RunColumns

EVENTS = "__journey_events"
# type: NULL where not a string (or passed over), else one of the journeys' types, never ''
VALID = "NOT passed AND cid <> '' AND type IS NOT NULL AND ts IS NOT NULL"
PER = "__journey_per"


def valid_test(refusals: bool) -> str:
    """The test an event of a journey's type must pass to be measured: VALID, or none where
    no event was refused (every row with one of the journeys' types is then valid, and a
    passed-over event has no type). Each scan of the events table for a journey is then
    only its test of the type: 10 million string comparisons fewer each."""
    return VALID if refusals else "TRUE"


def literals(texts: Sequence[str]) -> str:
    return ", ".join(exp.Literal.string(t).sql() for t in texts)


def event_types(journeys: Sequence[CompiledJourney]) -> list[str]:
    """Every type an event of the journeys may have: the members of the events table's
    ENUM ``type`` (NULL for any other type)."""
    return sorted({t for j in journeys for t in j.event_types})


def one_of(types: Collection[str], journeys: Sequence[CompiledJourney]) -> str:
    """A WHERE test that the event's ``type`` is one of ``types``: the IN, or, where at most
    SHORT_COMPLEMENT of the ENUM's members are left out, a NOT IN of those (NULL, so not
    kept, on a type that is none of the journeys'). Past a few items DuckDB makes an IN a
    hash join against the list; a NOT IN of a few is a few comparisons. At 10 million
    events, 14 members, CPU s a scan: 12 types 0.30 by the IN, 0.18 by the NOT IN of the
    other two; 10 types 0.28 and 0.27; 8 types 0.24 and 0.30."""
    others = [t for t in event_types(journeys) if t not in types]
    if len(others) > SHORT_COMPLEMENT or len(others) >= len(types):
        return f"type IN ({literals(sorted(types))})"
    return f"type NOT IN ({literals(others)})" if others else "type IS NOT NULL"


SHORT_COMPLEMENT = 3


def written(journey: CompiledJourney) -> list[tuple[str, Expression | None]]:
    """Each event test of ``journey`` (steps, then ``none``, then ``require``) and its condition."""
    parsed = journey.conditions
    return [*((s.event, c) for s, c in zip(journey.steps, parsed.steps, strict=True)),
            *((t.event, c) for t, c in zip(journey.none, parsed.none, strict=True)),
            *((t.event, c) for t, c in zip(journey.require, parsed.require, strict=True))]


def types_asked(journeys: Sequence[CompiledJourney], condition: Expression) -> list[str]:
    """The event types ``condition`` is asked of (those it is written on): its column
    ``c{k}`` is FALSE on every other event."""
    return sorted({event for journey in journeys for event, e in written(journey) if e is condition})


def _test(event: str, condition: Expression | None, conditions: list[Expression]) -> str:
    """Whether an event is of type ``event`` and meets ``condition`` (a column of the events table)."""
    typed = f"type = {exp.Literal.string(event).sql()}"
    if condition is None:
        return typed
    return f"({typed} AND c{_index(condition, conditions)})"


def _index(condition: Expression, conditions: list[Expression]) -> int:
    return next(k for k, e in enumerate(conditions) if e is condition)


def _flags(journey: CompiledJourney, conditions: list[Expression]) -> str:
    """The columns :func:`.sql.runs_query` reads, from the event's type and conditions."""
    steps = [_test(s.event, c, conditions) for s, c in zip(journey.steps, journey.conditions.steps, strict=True)]
    return ", ".join([f"type IN ({literals(sorted(journey.step_types))}) AS a",
                      *(f"{s} AS m{i}" for i, s in enumerate(steps)), _after_flags(journey, conditions)])


def _after_flags(journey: CompiledJourney, conditions: list[Expression]) -> str:
    """The columns of success's events (``fb``, ``rq{i}``), as in :func:`_flags`."""
    names = ["fb", *(f"rq{i}" for i in range(len(journey.require)))]
    return ", ".join(f"{test} AS {name}" for test, name in zip(after_tests(journey, conditions), names, strict=True))


def after_tests(journey: CompiledJourney, conditions: list[Expression]) -> list[str]:
    """The tests of success's events: any ``none`` (``fb``), then each ``require``."""
    parsed = journey.conditions
    none = [_test(t.event, c, conditions) for t, c in zip(journey.none, parsed.none, strict=True)]
    required = [_test(t.event, c, conditions) for t, c in zip(journey.require, parsed.require, strict=True)]
    return [f"({' OR '.join(none) or 'FALSE'})", *required]


def _after_types(journey: CompiledJourney) -> list[str]:
    return sorted({t.event for t in (*journey.none, *journey.require)})


# -- one per-customer table for all the journeys ----------------------------------------
#
# Its columns, by the sorted step types of the journeys that take the aggregation path:
# ``n`` (the customer's events of any of those types), ``s{i}`` (the earliest time of type
# i), ``b{k}`` (whether the customer's events of a conditioned step's type met its
# condition: one column per distinct type and condition) and ``p{i}`` (the position of
# type i's first event, only for the last step type of a journey whose success looks
# after it). Each journey reads a view of it in :func:`.sql_once.per_customer`'s columns
# (:func:`journey_per`). One count for all the types: a customer who met any of them
# twice is measured by the window query in each journey (exact, only slower for them).


def aggregated(journeys: Sequence[CompiledJourney]) -> list[CompiledJourney]:
    return [j for j in journeys if not j.consecutive]


def step_types(journeys: Sequence[CompiledJourney]) -> list[str]:
    return sorted({t for j in aggregated(journeys) for t in j.step_types})


def _conditioned(journeys: Sequence[CompiledJourney], conditions: list[Expression]) -> list[tuple[str, int]]:
    """Each distinct (step type, condition index) of a conditioned step."""
    return sorted({(s.event, _index(c, conditions)) for j in aggregated(journeys)
                   for s, c in zip(j.steps, j.conditions.steps, strict=True) if c is not None})


def _positioned(journeys: Sequence[CompiledJourney]) -> list[str]:
    return sorted({j.steps[-1].event for j in aggregated(journeys) if j.after_within is not None})


def make_per_customer(db: Any, journeys: Sequence[CompiledJourney], conditions: list[Expression],
                      as_of: float, valid: str = VALID) -> None:
    """The per-customer table (see above) of the journeys that take the aggregation path,
    with each one's :func:`.sql_once.once_test` worked out once per customer (``o{k}``,
    the journeys in order)."""
    types = step_types(journeys)
    if not types:
        return
    db.execute(per_customer_sql(journeys, conditions, EVENTS, "count(*)", positions=True,
                                where=f" WHERE {valid} AND {one_of(types, journeys)} AND ts <= {as_of!r}"))


def per_customer_sql(journeys: Sequence[CompiledJourney], conditions: list[Expression], source: str, count: str,
                     positions: bool, where: str = "", more: Sequence[str] = ()) -> str:
    """The statement that makes the per-customer table from the rows of ``source`` (the
    events table's columns) that pass ``where``: ``n`` by ``count``, the ``p{i}`` columns
    only if ``positions``, and ``more`` aggregates beside them."""
    types = step_types(journeys)
    # min(CASE ...) rather than min(...) FILTER (WHERE ...): the same value (NULL where no
    # event is of the type), 0.2 CPU s cheaper at 10 million events (of 3.4 for the table)
    kind = {t: f"type = {exp.Literal.string(t).sql()}" for t in types}
    columns = [*(f"min(CASE WHEN {kind[t]} THEN ts END) AS s{i}" for i, t in enumerate(types)),
               *(f"bool_or({_only(t, f'c{c}', conditions[c], journeys, kind)}) AS b{k}"
                 for k, (t, c) in enumerate(_conditioned(journeys, conditions))),
               *(f"min(CASE WHEN {kind[t]} THEN rowid END) AS p{types.index(t)}"
                 for t in (_positioned(journeys) if positions else ())), *more]
    everywhere = " + ".join(f"CAST(s{i} IS NOT NULL AS INTEGER)" for i in range(len(types)))
    once = "".join(f", n = {everywhere}{_apart(journey, types)} AS o{k}" for k, journey in enumerate(aggregated(journeys)))
    return (f"CREATE OR REPLACE TEMP TABLE {PER} AS SELECT *{once} FROM (SELECT cid, {count} AS n, "
            f"{', '.join(columns)} FROM {source}{where} GROUP BY cid)")


def _only(kind: str, column: str, condition: Expression, journeys: Sequence[CompiledJourney],
          where: dict[str, str]) -> str:
    """``condition``'s ``column`` kept to events of ``kind`` (NULL on others): as it is
    where the condition is asked of that type alone (its column is FALSE elsewhere; the
    tests were 0.3 of 3.2 CPU s of this aggregation at 10 million events)."""
    return column if types_asked(journeys, condition) == [kind] else f"CASE WHEN {where[kind]} THEN {column} END"


def _apart(journey: CompiledJourney, types: list[str]) -> str:
    """:func:`.sql_once.once_test`'s second half: no two of the journey's step types at one time."""
    return apart([f"s{types.index(t)}" for t in sorted(journey.step_types)])


def journey_per(journey: CompiledJourney, journeys: Sequence[CompiledJourney], conditions: list[Expression],
                after: str | None = None) -> str:
    """``journey``'s view of the per-customer table, in :func:`.sql_once.per_customer`'s
    columns (no ``n``: ``once`` holds the test). ``after``: the columns that decide
    success after the last step, where not its position ``ix_last``."""
    types = step_types(journeys)
    own = sorted(journey.step_types)
    conditioned = _conditioned(journeys, conditions)
    matched = []
    for j, (step, condition) in enumerate(zip(journey.steps, journey.conditions.steps, strict=True)):
        kind = types.index(step.event)
        matched.append(f"s{kind} IS NOT NULL AS m{j}" if condition is None
                       else f"coalesce(b{conditioned.index((step.event, _index(condition, conditions)))}, FALSE) AS m{j}")
    position = "" if journey.after_within is None else f", {after}" if after is not None \
        else f", p{types.index(journey.steps[-1].event)} AS ix_last"
    once = next(k for k, j in enumerate(aggregated(journeys)) if j is journey)
    return (f"SELECT cid, o{once} AS once, " + ", ".join(f"s{types.index(t)} AS ts{i}" for i, t in enumerate(own))
            + ", " + ", ".join(matched)
            + f"{position} FROM {PER} WHERE " + " OR ".join(f"s{types.index(t)} IS NOT NULL" for t in own))


def runs(db: Any, journey: CompiledJourney, journeys: Sequence[CompiledJourney], conditions: list[Expression],
         as_of: float, valid: str = VALID) -> RunColumns:
    """``journey``'s runs, worked out in DuckDB, as the report's columns (after
    :func:`make_per_customer`)."""
    db.execute(f"CREATE OR REPLACE TEMP VIEW __journey AS SELECT * FROM (SELECT cid, ts, rowid AS ix, type, "
               f"{_flags(journey, conditions)} FROM {EVENTS} WHERE {valid} AND {one_of(journey.event_types, journeys)} "
               f"AND ts <= {as_of!r}) WHERE a OR fb" + "".join(f" OR rq{i}" for i in range(len(journey.require))))
    # The report counts the runs and sorts their times itself: no order asked of DuckDB.
    one_each = False  # whether each customer has at most one run (then the runs need no table)
    if journey.consecutive:
        query = runs_query(journey, as_of, "__journey", ordered=False)
    else:
        per = "__journey_per_view"
        db.execute(f"CREATE OR REPLACE TEMP VIEW {per} AS {journey_per(journey, journeys, conditions)}")
        repeated = db.execute(f"SELECT count(*) FROM {per} WHERE NOT once").fetchone()
        after = None
        if journey.after_within is not None:  # success's events apart: the join scans fewer rows
            after = "__journey_after"
            db.execute(f"CREATE OR REPLACE TEMP VIEW {after} AS SELECT cid, ts, rowid AS ix, {_after_flags(journey, conditions)} "
                       f"FROM {EVENTS} WHERE {valid} AND {one_of(_after_types(journey), journeys)} AND ts <= {as_of!r}")
        one_each = not (repeated and repeated[0])
        query = split_runs_query(journey, as_of, "__journey", per, not one_each, ordered=False,
                                 after=after, once="once")
    return run_columns(db, journey, query, one_each)


def run_columns(db: Any, journey: CompiledJourney, query: str, one_each: bool) -> RunColumns:
    """The runs of ``query`` as the report's columns, and their customers: as many as runs
    where ``one_each`` (read straight from the query), else counted in a table of them."""
    if not one_each:
        db.execute(f"CREATE OR REPLACE TEMP TABLE __runs AS {query}")
    width = len(journey.steps)
    codes = " ".join(f"WHEN '{name}' THEN {code}" for name, code in STATUS_CODES.items())
    columns = db.execute(
        "SELECT " + ", ".join(f"coalesce(t{i}, 'NaN'::DOUBLE) AS t{i}" for i in range(width))
        + f", CAST(CASE status {codes} END AS TINYINT) AS status, "
        "CAST(CASE WHEN success THEN 1 WHEN NOT success THEN 0 ELSE -1 END AS TINYINT) AS success "
        + ("FROM __runs" if not one_each else f"FROM ({query})")
    ).fetchnumpy()
    found = len(columns["status"])
    customers = found if one_each else db.execute("SELECT count(DISTINCT cid) FROM __runs").fetchone()[0]
    # In column order: the report reads the runs a step (a column) at a time.
    reached = np.empty((found, width), order="F")
    for i in range(width):
        reached[:, i] = np.asarray(columns[f"t{i}"], dtype=np.float64)
    return RunColumns(reached, np.asarray(columns["status"], dtype=np.int8),
                      np.asarray(columns["success"], dtype=np.int8), int(customers))
