"""The common events file measured in one pass: the per-customer table of
:mod:`.duckdb_runs` made straight from the file's query (:func:`.duckdb_file._events`),
with no events table of one row per event.

The events table is there for what needs an event's position or a second look at it:
the refusals (their index and words), the times only Python converts, the window query
for a customer who met a step type twice or two step types at one time, and the order
of a success event at the very second of a run's last step. None of these is common in
an events feed, and each can be seen in the per-customer table itself; so one GROUP BY
over the file makes, per customer, what the aggregation path reads (each step type's
earliest time, the conditioned steps' flags, the once test), what the summary counts
(events read, passed over, not clean: refused or timed by Python, the latest time), and
the times of the events that decide success after a run (a list per test). Where the
totals find anything uncommon, :func:`measure` says so (None) and the caller makes the
events table and measures the file the careful way, exactly as before: the file is read
twice then, and once otherwise.

At 10 million events of 1 million customers the table of ten million rows cost about
1.5 CPU seconds to make, and each journey's success join scanned it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..expressions.ast import Expression
from .compiled import CompiledJourney
from .duckdb_runs import (
    PER,
    after_tests,
    aggregated,
    journey_per,
    one_of,
    per_customer_sql,
    run_columns,
    step_types,
)
from .source import JourneyEvents
from .sql_once import split_runs_query
from .summary import RunColumns

# What makes an event clean: every row of one of the journeys' types is then valid
# (duckdb_runs.VALID), and none is refused or waits for Python's time.
CLEAN = "NOT passed AND cid <> '' AND type IS NOT NULL AND ts IS NOT NULL"


def read(db: Any, journeys: Sequence[CompiledJourney], conditions: list[Expression], events: str,
         as_of: float | None, ids_check: str | None = None) -> JourneyEvents | None:
    """What was read, with the per-customer table made, from ``events`` (the file's query)
    in one pass; None where the file needs the events table (see the module's docstring),
    or where a journey or the as-of asks for it: a ``consecutive`` journey (the window
    query alone), an as-of given (events after it would need leaving out of every
    aggregate). ``ids_check``: an aggregate over the customers' ``cid`` that stops the
    query where one of them was read as text but is not (``events`` left them unchecked)."""
    if as_of is not None or not journeys or len(aggregated(journeys)) != len(journeys):
        return None
    lists = _lists(journeys, conditions)
    more = ["count(*) AS __read", "count(*) FILTER (WHERE passed) AS __passed",
            f"count(*) FILTER (WHERE NOT passed AND NOT coalesce({CLEAN}, FALSE)) AS __unclean",
            "max(ts) AS __latest", *(f"list(ts) FILTER (WHERE {test}) AS l{q}" for q, test in enumerate(lists))]
    count = f"count(*) FILTER (WHERE {one_of(step_types(journeys), journeys)})"
    # An event passed over counts only in the totals: all of them in one group (NULL), so
    # that the customers' groups see only the events of the journeys' types.
    source = f"(SELECT * REPLACE (CASE WHEN NOT passed THEN cid END AS cid) FROM ({events}))"
    db.execute(per_customer_sql(journeys, conditions, source, count, positions=False, more=more))
    once = " AND ".join(f"o{k}" for k in range(len(journeys)))
    ties = " OR ".join(t for journey in journeys for t in _ties(journey, journeys, conditions, lists)) or "FALSE"
    row = db.execute(f"SELECT sum(__read), sum(__passed), sum(__unclean), max(__latest), "
                     f"count(*) FILTER (WHERE NOT coalesce({once}, FALSE) OR coalesce({ties}, FALSE)) "
                     f"{', ' + ids_check if ids_check else ''} FROM {PER}").fetchone()
    read, passed, unclean, latest, uncommon = row[:5] if row else (0, 0, 0, None, 0)
    if unclean or uncommon:
        db.execute(f"DROP TABLE {PER}")
        return None
    moment = float(latest) if latest is not None else 0.0
    return JourneyEvents({j.id: [] for j in journeys}, moment, int(read or 0), int(passed or 0), [])


def runs(db: Any, journey: CompiledJourney, journeys: Sequence[CompiledJourney], conditions: list[Expression],
         as_of: float) -> RunColumns:
    """``journey``'s runs (after :func:`read` found the file common): each customer has
    at most one, walked from the per-customer table, success from its lists."""
    per = "__journey_per_view"
    lists = _lists(journeys, conditions)
    after = _firsts(journey, journeys, conditions, lists) if journey.after_within is not None else None
    db.execute(f"CREATE OR REPLACE TEMP VIEW {per} AS {journey_per(journey, journeys, conditions, after)}")
    query = split_runs_query(journey, as_of, per, per, repeated=False, ordered=False, once="once", firsts=True)
    return run_columns(db, journey, query, one_each=True)


def _lists(journeys: Sequence[CompiledJourney], conditions: list[Expression]) -> list[str]:
    """Each distinct test of an event that decides success after a run (a ``none`` as a
    whole, each ``require``), as SQL over the events' columns."""
    found: list[str] = []
    for journey in journeys:
        for test in _after_tests(journey, conditions):
            if test not in found:
                found.append(test)
    return found


def _after_tests(journey: CompiledJourney, conditions: list[Expression]) -> list[str]:
    """``journey``'s success tests (``fb``, then each ``rq{i}``), none where success does
    not look after the last step."""
    return after_tests(journey, conditions) if journey.after_within is not None else []


def _last(journey: CompiledJourney, journeys: Sequence[CompiledJourney]) -> str:
    """The column of the customer's (one) event of the last step's type."""
    return f"s{step_types(journeys).index(journey.steps[-1].event)}"


def _ties(journey: CompiledJourney, journeys: Sequence[CompiledJourney], conditions: list[Expression],
          lists: list[str]) -> list[str]:
    """Whether a success event came at the very time of the last step type's event: the
    file's order decides which came first, and this table holds no position."""
    last = _last(journey, journeys)
    return [f"list_contains(l{lists.index(test)}, {last})" for test in _after_tests(journey, conditions)]


def _firsts(journey: CompiledJourney, journeys: Sequence[CompiledJourney], conditions: list[Expression],
            lists: list[str]) -> str:
    """The first success event of each test after the last step type's event (none at its
    very time: :func:`_ties`), as ``nf_ts`` and ``nr{i}_ts``."""
    last = _last(journey, journeys)
    names = ["nf_ts", *(f"nr{i}_ts" for i in range(len(journey.require)))]
    return ", ".join(f"list_min(list_filter(l{lists.index(test)}, lambda x: x > {last})) AS {name}"
                     for test, name in zip(_after_tests(journey, conditions), names, strict=True))
