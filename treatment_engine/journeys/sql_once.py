"""The runs of customers who met each step type of a journey at most once, by aggregation.

The common case (a customer signs up once, is installed once): one event per step type
means at most one run, and each step's candidate is that customer's one event of its
type. A run is then one row of per-step times, walked step by step with CASE
expressions (the hand-written funnel's way) instead of :mod:`.sql`'s window stages and
joins, which sort the events twice. The input position only breaks ties in time, so
this path also asks that no two of the customer's step-type events share a time: then
time alone orders them, and the aggregation keeps no position but the last step's
(whose tie with a success event after it the position still decides). The rules are
:mod:`.reference`'s, stated for this case: a step goes on with the earliest candidate
(by time) that comes after the step reached and in time, the first candidate in the
steps' order when one event matches several; success reads the first ``none`` /
``require`` event after the last step. Customers who met a step type twice or two step
types at one time, and ``consecutive`` journeys, go through :func:`.sql.runs_query`; the
differential tests hold both to the reference.

Reads the table of :func:`.sql.runs_query` plus ``type``; writes the same columns.
"""

from __future__ import annotations

from sqlglot import exp

from .compiled import CompiledJourney
from .sql import runs_query, still_open, success_sql


def split_runs_query(journey: CompiledJourney, as_of: float, table: str, per: str, repeated: bool = True,
                     ordered: bool = True, after: str | None = None, once: str | None = None,
                     firsts: bool = False) -> str:
    """``journey``'s runs: by aggregation for customers with each step type at most once
    and no two of them at one time, by :func:`.sql.runs_query` over ``table`` for the
    others (ordered by customer and run unless ``ordered`` is False). ``per``: the table
    of :func:`per_customer` over ``table``, made first so that ``repeated`` (whether any
    customer fails :func:`once_test`; False leaves the window half out) can be read from it.
    ``after``: the events that decide success after the last step (``table`` by default),
    for a caller that has them apart from the step-type events. ``once``: a column of
    ``per`` that holds :func:`once_test` (or a stricter test), for a caller that made it
    with the table. ``firsts``: ``per`` holds, instead of ``ix_last``, the first
    forbidden (``nf_ts``) and required (``nr{i}_ts``) events after the customer's one event
    of the last step's type (a run at the last step reached it by that event): no join."""
    types = sorted(journey.step_types)
    steps = range(len(journey.steps))
    once = once or once_test(journey)
    last = len(journey.steps) - 1
    candidates = "".join(f", CASE WHEN m{j} THEN ts{types.index(s.event)} END AS x{j}_ts"
                         for j, s in enumerate(journey.steps))
    position = "".join(f", {c}" for c in _after_columns(journey, firsts))
    ctes = [
        ("per", f"SELECT * FROM {per}"),
        ("once", f"SELECT cid{candidates}{position} FROM per WHERE {once}"),
        ("w0", "SELECT *, 0 AS k, x0_ts AS t0"
               + "".join(f", CAST(NULL AS DOUBLE) AS t{j}" for j in range(1, len(journey.steps)))
               + " FROM once WHERE x0_ts IS NOT NULL"),
    ]
    for level in range(1, len(journey.steps)):
        chosen = _chosen(journey)
        ctes.append((f"c{level}", f"SELECT *, {chosen} AS nk FROM w{level - 1}"))
        times = "".join(f", CASE WHEN nk = {j} THEN x{j}_ts ELSE t{j} END AS t{j}" for j in range(1, len(journey.steps)))
        keep = ", ".join(c for c in _columns(journey, firsts) if c not in {f"t{j}" for j in steps} | {"k"})
        ctes.append((f"w{level}", f"SELECT {keep}, COALESCE(nk, k) AS k, t0{times} FROM c{level}"))
    walked = f"w{last}"
    # Read twice where success looks after the last step (by the join and the runs): walked
    # once, where DuckDB would inline the walk in both (0.1 CPU s of 0.45 at 2M events).
    materialized = {walked} if journey.after_within is not None and not firsts else set()
    if repeated:  # the others (a customer with no step-type event has no run at all)
        ctes.append(("rest", f"SELECT * FROM {table} WHERE cid IN (SELECT cid FROM per WHERE NOT ({once}))"))
    success_join = ""
    if journey.after_within is not None and not firsts:
        wanted = " OR ".join(["e.fb", *(f"e.rq{i}" for i in range(len(journey.require)))])
        later = "".join(f", min(CASE WHEN e.rq{i} THEN e.ts END) AS nr{i}_ts" for i in range(len(journey.require)))
        # A run at the last step reached it by the customer's one event of that step's type.
        ctes.append(("following", f"SELECT d.cid, min(CASE WHEN e.fb THEN e.ts END) AS nf_ts{later} "
                                  f"FROM {walked} d JOIN {after or table} e ON e.cid = d.cid AND ({wanted}) "
                                  f"AND (e.ts > d.t{last} OR (e.ts = d.t{last} AND e.ix > d.ix_last)) "
                                  f"WHERE d.k = {last} GROUP BY d.cid"))
        success_join = " LEFT JOIN following f ON f.cid = st.cid"
    body = ",\n".join(f"{name} AS {'MATERIALIZED ' if name in materialized else ''}({sql})" for name, sql in ctes)
    times = ", ".join(f"st.t{i}" for i in steps)
    fast = (f"SELECT st.cid, 1 AS run, {times}, {_status(journey, as_of)} AS status, "
            f"{success_sql(journey, as_of, _status(journey, as_of), 'st' if firsts else 'f')} AS success FROM {walked} st{success_join}")
    order = " ORDER BY cid, run" if ordered else ""
    if not repeated:
        return f"WITH {body},\nfast AS ({fast})\nSELECT * FROM fast{order}"
    window = runs_query(journey, as_of, "rest", ordered=False)
    # The window query's own WITH goes inside: one statement, both halves, one order.
    return (f"WITH {body},\nfast AS ({fast}),\nslow AS ({window})\n"
            f"SELECT * FROM fast UNION ALL SELECT * FROM slow{order}")


def per_customer(journey: CompiledJourney, table: str) -> str:
    """Per customer who met a step type of ``journey`` in ``table``: how many such events
    (``n``), each step type's earliest event's time (``ts{i}``, the types in sorted order),
    whether step j's test held on one (``m{j}``) and, where success looks after the last
    step, the position of the last step type's first event (``ix_last``). One count, not
    one per type: with the types present, it says whether each came once
    (:func:`once_test`). No other position: a third of this aggregation's cost at 10
    million events, and needed only where two events share a time, which
    :func:`once_test` leaves to the window query."""
    types = sorted(journey.step_types)
    per_type = "".join(f", min(ts) FILTER (WHERE type = {_lit(t)}) AS ts{i}" for i, t in enumerate(types))
    matched = "".join(f", bool_or(m{j}) AS m{j}" for j in range(len(journey.steps)))
    position = (f", min(ix) FILTER (WHERE type = {_lit(journey.steps[-1].event)}) AS ix_last"
                if journey.after_within is not None else "")
    return f"SELECT cid, count(*) AS n{per_type}{matched}{position} FROM {table} WHERE a GROUP BY cid"


def once_test(journey: CompiledJourney) -> str:
    """Whether a customer (a row of ``per``) met each of ``journey``'s step types at most
    once (as many events of them as types present) and no two of those events at one time
    (then time alone orders them: the aggregation path compares no positions)."""
    width = len(journey.step_types)
    present = " + ".join(f"CAST(ts{i} IS NOT NULL AS INTEGER)" for i in range(width))
    return f"n = {present}{apart([f'ts{i}' for i in range(width)])}"


def apart(times: list[str]) -> str:
    """`` AND`` the test that no two of ``times`` (columns, NULL where the type was not met)
    are equal, or nothing for fewer than two. One NOT of an OR of the equalities, NULL
    only where no pair is equal and some is NULL, hence TRUE: a third fewer operations
    than an AND of each pair's ``coalesce(a <> b, TRUE)`` (at 1 million customers and
    three journeys, 0.14 against 0.17 CPU s per 200,000 customers)."""
    pairs = [f"{a} = {b}" for x, a in enumerate(times) for b in times[x + 1:]]
    return f" AND coalesce(NOT ({' OR '.join(pairs)}), TRUE)" if pairs else ""


def _lit(text: str) -> str:
    return str(exp.Literal.string(text).sql())


def _after_columns(journey: CompiledJourney, firsts: bool) -> list[str]:
    """What a run carries to decide success after its last step (see split_runs_query)."""
    if journey.after_within is None:
        return []
    return ["nf_ts", *(f"nr{i}_ts" for i in range(len(journey.require)))] if firsts else ["ix_last"]


def _columns(journey: CompiledJourney, firsts: bool) -> list[str]:
    steps = range(len(journey.steps))
    return ["cid", *(f"x{j}_ts" for j in steps), *_after_columns(journey, firsts), "k", *(f"t{j}" for j in steps)]


def _valid(journey: CompiledJourney, at: int, step: int) -> str:
    """Whether the customer's one event matching ``step`` continues a run at ``at``: after
    the step reached and in time (no two of the customer's step-type events share a time,
    so the one at the step reached's time is that very event)."""
    parts = [f"x{step}_ts IS NOT NULL", f"x{step}_ts > t{at}", f"x{step}_ts - t0 <= {journey.within}"]
    within = journey.steps[step].within
    if within is not None:
        parts.append(f"x{step}_ts - t{at} <= {within}")
    return "(" + " AND ".join(parts) + ")"


def _chosen(journey: CompiledJourney) -> str:
    """The step a run at ``k`` goes to: the earliest valid candidate, the first in order
    where one event matches several steps (two events never tie in time here)."""
    cases = []
    for at in range(len(journey.steps) - 1):
        options = journey.candidates(at)
        for j in options:
            beats = [f"(NOT {_valid(journey, at, i)} OR x{j}_ts <= x{i}_ts)" for i in options if i != j]
            cases.append(f"WHEN k = {at} AND {' AND '.join([_valid(journey, at, j), *beats])} THEN {j}")
    return f"(CASE {' '.join(cases)} END)"


def _status(journey: CompiledJourney, as_of: float) -> str:
    moment = f"CAST('{as_of!r}' AS DOUBLE)"
    return (f"CASE WHEN st.k = {len(journey.steps) - 1} THEN 'completed' "
            f"WHEN {still_open(journey, moment)} THEN 'in_progress' ELSE 'abandoned' END")
