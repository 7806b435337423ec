"""The runs of customers who met each step type of a journey at most once, by aggregation.

The common case (a customer signs up once, is installed once): one event per step type
means at most one run, and each step's candidate is that customer's one event of its
type. A run is then one row of per-step times, walked step by step with CASE
expressions (the hand-written funnel's way) instead of :mod:`.sql`'s window stages and
joins, which sort the events twice. The rules are :mod:`.reference`'s, stated for this
case: a step goes on with the earliest candidate (by time, then input position) that
comes after the step reached and in time, the first candidate in the steps' order when
one event matches several; success reads the first ``none`` / ``require`` event after
the last step. Customers who met a step type twice, and ``consecutive`` journeys, go
through :func:`.sql.runs_query`; the differential tests hold both to the reference.

The per-customer columns come from one GROUP BY for every journey (:func:`aggregates`,
made by :mod:`.duckdb_file`): each step type's first time and position once, however
many journeys step on it, and one count per journey. Reads the table of
:func:`.sql.runs_query` plus ``type``; writes the same columns.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from .compiled import CompiledJourney
from .sql import runs_query, still_open, success_sql


def split_runs_query(journey: CompiledJourney, as_of: float, table: str, per: str, repeated: bool = True) -> str:
    """``journey``'s runs: by aggregation for customers with each step type at most once,
    by :func:`.sql.runs_query` over ``table`` for the others (ordered by customer and
    run). ``per``: the journey's per-customer columns (:func:`per_customer`) out of the
    one aggregation made for every journey (:func:`aggregates`); ``repeated``: whether
    any customer met a step type twice (False leaves the window half out)."""
    types = sorted(journey.step_types)
    steps = range(len(journey.steps))
    once = once_test(journey)
    candidates = "".join(f", CASE WHEN m{j} THEN ts{types.index(s.event)} END AS x{j}_ts, "
                         f"CASE WHEN m{j} THEN ix{types.index(s.event)} END AS x{j}_ix"
                         for j, s in enumerate(journey.steps))
    ctes = [
        ("per", per),
        ("once", f"SELECT cid{candidates} FROM per WHERE {once}"),
        ("w0", "SELECT *, 0 AS k, x0_ts AS t0, x0_ix AS p_ix"
               + "".join(f", CAST(NULL AS DOUBLE) AS t{j}" for j in range(1, len(journey.steps)))
               + " FROM once WHERE x0_ts IS NOT NULL"),
    ]
    for level in range(1, len(journey.steps)):
        chosen = _chosen(journey)
        ctes.append((f"c{level}", f"SELECT *, {chosen} AS nk FROM w{level - 1}"))
        times = "".join(f", CASE WHEN nk = {j} THEN x{j}_ts ELSE t{j} END AS t{j}" for j in range(1, len(journey.steps)))
        moved = " ".join(f"WHEN {j} THEN x{j}_ix" for j in range(1, len(journey.steps)))
        keep = ", ".join(c for c in _columns(journey) if c not in {f"t{j}" for j in steps} | {"k", "p_ix"})
        ctes.append((f"w{level}", f"SELECT {keep}, COALESCE(nk, k) AS k, t0{times}, "
                                  f"CASE nk {moved} ELSE p_ix END AS p_ix FROM c{level}"))
    last = len(journey.steps) - 1
    walked = f"w{last}"
    if repeated:  # the others (a customer with no step-type event has no run at all)
        ctes.append(("rest", f"SELECT * FROM {table} WHERE cid IN (SELECT cid FROM per WHERE NOT ({once}))"))
    success_join = ""
    if journey.after_within is not None:
        wanted = " OR ".join(["e.fb", *(f"e.rq{i}" for i in range(len(journey.require)))])
        later = "".join(f", min(CASE WHEN e.rq{i} THEN e.ts END) AS nr{i}_ts" for i in range(len(journey.require)))
        ctes.append(("following", f"SELECT d.cid, min(CASE WHEN e.fb THEN e.ts END) AS nf_ts{later} "
                                  f"FROM {walked} d JOIN {table} e ON e.cid = d.cid AND ({wanted}) "
                                  f"AND (e.ts > d.t{last} OR (e.ts = d.t{last} AND e.ix > d.p_ix)) "
                                  f"WHERE d.k = {last} GROUP BY d.cid"))
        success_join = " LEFT JOIN following f ON f.cid = st.cid"
    body = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes)
    times = ", ".join(f"st.t{i}" for i in steps)
    fast = (f"SELECT st.cid, 1 AS run, {times}, {_status(journey, as_of)} AS status, "
            f"{success_sql(journey, as_of, _status(journey, as_of), 'f')} AS success FROM {walked} st{success_join}")
    if not repeated:
        return f"WITH {body},\nfast AS ({fast})\nSELECT * FROM fast ORDER BY cid, run"
    window = runs_query(journey, as_of, "rest")
    # The window query's own WITH goes inside: one statement, both halves, one order.
    return (f"WITH {body},\nfast AS ({fast}),\nslow AS ({window})\n"
            "SELECT * FROM fast UNION ALL SELECT * FROM slow ORDER BY cid, run")


def aggregates(types: Sequence[str], groups: Sequence[Sequence[str]]) -> str:
    """For a GROUP BY cid over step-type events: per step type, the earliest event's time
    and position (``tsg{i}``, ``ixg{i}``, ``i`` the type's place in ``types``); per group
    of types (a journey's), how many events of them the customer has (``ng{k}``). One
    count per journey rather than one per type: with the types present, it says whether
    each came once (:func:`once_test`)."""
    per_type = "".join(f", min(ts) FILTER (WHERE type = {_lit(t)}) AS tsg{i}, "
                       f"min(ix) FILTER (WHERE type = {_lit(t)}) AS ixg{i}" for i, t in enumerate(types))
    counts = "".join(f", count(*) FILTER (WHERE type IN ({', '.join(_lit(t) for t in group)})) AS ng{k}"
                     for k, group in enumerate(groups))
    return per_type + counts


def per_customer(journey: CompiledJourney, types: Sequence[str], group: int, flags: Sequence[str], shared: str) -> str:
    """``journey``'s ``per`` out of the shared aggregation ``shared`` (:func:`aggregates`
    over ``types``, the journey's count being group ``group``) plus a flag column per step
    (``flags``: the shared column holding step j's ``bool_or``): ``n``, ``ts{i}``,
    ``ix{i}`` per step type of the journey (in sorted order), ``m{j}`` per step."""
    own = sorted(journey.step_types)
    renamed = "".join(f", tsg{types.index(t)} AS ts{i}, ixg{types.index(t)} AS ix{i}" for i, t in enumerate(own))
    return f"SELECT cid, ng{group} AS n{renamed}" + "".join(f", {f} AS m{j}" for j, f in enumerate(flags)) \
        + f" FROM {shared}"


def once_test(journey: CompiledJourney) -> str:
    """Whether a customer (a row of ``per``) met each of ``journey``'s step types at most
    once: as many events of them as types present."""
    present = " + ".join(f"CAST(ts{i} IS NOT NULL AS INTEGER)" for i in range(len(journey.step_types)))
    return f"n = {present}"


def _lit(text: str) -> str:
    return str(exp.Literal.string(text).sql())


def _columns(journey: CompiledJourney) -> list[str]:
    steps = range(len(journey.steps))
    return ["cid", *(f"x{j}_ts" for j in steps), *(f"x{j}_ix" for j in steps), "k", *(f"t{j}" for j in steps), "p_ix"]


def _valid(journey: CompiledJourney, at: int, step: int) -> str:
    """Whether the customer's one event matching ``step`` continues a run at ``at``: after
    the step reached (time, then input position) and in time."""
    parts = [f"x{step}_ix IS NOT NULL", f"(x{step}_ts > t{at} OR (x{step}_ts = t{at} AND x{step}_ix > p_ix))",
             f"x{step}_ts - t0 <= {journey.within}"]
    within = journey.steps[step].within
    if within is not None:
        parts.append(f"x{step}_ts - t{at} <= {within}")
    return "(" + " AND ".join(parts) + ")"


def _chosen(journey: CompiledJourney) -> str:
    """The step a run at ``k`` goes to: the earliest valid candidate, the first in order
    on a tie of the same event."""
    cases = []
    for at in range(len(journey.steps) - 1):
        options = journey.candidates(at)
        for j in options:
            beats = [f"(NOT {_valid(journey, at, i)} OR x{j}_ts < x{i}_ts OR (x{j}_ts = x{i}_ts AND x{j}_ix <= x{i}_ix))"
                     for i in options if i != j]
            cases.append(f"WHEN k = {at} AND {' AND '.join([_valid(journey, at, j), *beats])} THEN {j}")
    return f"(CASE {' '.join(cases)} END)"


def _status(journey: CompiledJourney, as_of: float) -> str:
    moment = f"CAST('{as_of!r}' AS DOUBLE)"
    return (f"CASE WHEN st.k = {len(journey.steps) - 1} THEN 'completed' "
            f"WHEN {still_open(journey, moment)} THEN 'in_progress' ELSE 'abandoned' END")
