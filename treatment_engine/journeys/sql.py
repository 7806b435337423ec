"""A journey's runs as one SQL query of window functions (DuckDB; Spark through sqlglot).

The query reads one table of the journey's events, each with its flags worked out by the
compiled closures (:meth:`.compiled.CompiledJourney.flags`), as the moments engine posts
flags rather than translating conditions: ``cid, ts, ix`` (customer, seconds, input
position), ``a`` (a step type), ``m0..`` (matches step i), ``fb`` (a ``none`` event of
success), ``rq0..`` (matches ``require`` i). No text an author wrote reaches the SQL:
it holds generated names and numbers only.

How it follows :mod:`.reference`, stage by stage:
1. ``r``: the step-type events numbered per customer (``rn``); a running count of
   first-step events numbers the runs (``run``): each first-step event starts one; for
   every event, the time of the first later ``none`` / ``require`` event of the customer
   (success after the last step);
2. ``s``: per step-type event, the position and time of the next event of its run matching each
   step (a window to the run's end), the run's last position, the customer's last run;
3. ``l1..``: from each run's first event, one join per step: go to the earliest next
   step that is in time (consecutive: only the very next event), or stay;
4. ``runs``: where each run stands at ``as_of``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .compiled import CompiledJourney
from .reference import JourneyEvent, Run, Status

FOLLOWING = "ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING"


def runs_query(journey: CompiledJourney, as_of: float, table: str = "journey_events", ordered: bool = True) -> str:
    """The SQL (DuckDB dialect) that lists ``journey``'s runs from ``table`` (by customer
    and run unless ``ordered`` is False: a caller that only counts them need not sort)."""
    steps = range(len(journey.steps))
    later = range(1, len(journey.steps))
    required = range(len(journey.require))
    customer = "OVER (PARTITION BY cid ORDER BY ts, ix"
    customer_after = f"{customer} {FOLLOWING})"
    run_after = f"OVER (PARTITION BY cid, run ORDER BY rn {FOLLOWING})"
    # What follows the last step matters only to a journey whose success looks there.
    later_events = (f", min(CASE WHEN fb THEN ts END) {customer_after} AS nf_ts"
                    + "".join(f", min(CASE WHEN rq{i} THEN ts END) {customer_after} AS nr{i}_ts" for i in required)
                    if journey.after_within is not None else "")
    ctes = [
        # Every window of a stage is over one ordering, so DuckDB sorts once per stage: the
        # step-type events' numbers, the runs and what follows each event in r's order, the
        # run's next steps and last event in s's.
        ("r", f"SELECT *, CAST(sum(CASE WHEN a THEN 1 ELSE 0 END) {customer} "
              "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS rn, "
              f"CAST(sum(CASE WHEN m0 THEN 1 ELSE 0 END) {customer} "
              "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) AS run, "
              f"CAST(sum(CASE WHEN m0 THEN 1 ELSE 0 END) {customer} "
              f"ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS BIGINT) AS last_run{later_events} FROM {table}"),
        ("s", "SELECT *, max(rn) OVER (PARTITION BY cid, run ORDER BY rn "
              "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS last_rn"
              + "".join(f", min(CASE WHEN m{j} THEN rn END) {run_after} AS x{j}_rn"
                        f", min(CASE WHEN m{j} THEN ts END) {run_after} AS x{j}_ts" for j in later)
              + " FROM r WHERE a AND run > 0"),
        ("l0", "SELECT cid, run, rn AS p, 0 AS k, ts AS t0"
               + "".join(f", CAST(NULL AS DOUBLE) AS t{j}" for j in later) + " FROM s WHERE m0"),
    ]
    state = ", ".join(["st.cid", "st.run", "st.p", "st.k", *(f"st.t{i}" for i in steps)])
    for level in later:
        xs = "".join(f", s.x{j}_rn, s.x{j}_ts" for j in later)
        ctes.append((f"c{level}", f"SELECT {state}{xs}, {_choice(journey)} AS nxt "
                                  f"FROM l{level - 1} st JOIN s ON s.cid = st.cid AND s.rn = st.p"))
        chosen = _chosen_step(journey)
        times = "".join(f", CASE WHEN {chosen} = {j} THEN x{j}_ts ELSE t{j} END AS t{j}" for j in later)
        ctes.append((f"l{level}", f"SELECT cid, run, COALESCE(nxt, p) AS p, COALESCE({chosen}, k) AS k, t0{times} "
                                  f"FROM c{level}"))
    final = f"l{len(journey.steps) - 1}"
    body = ",\n".join(f"{name} AS ({sql})" for name, sql in ctes)
    times = ", ".join(f"st.t{i}" for i in steps)
    return (f"WITH {body}\nSELECT st.cid, st.run, {times}, {_status(journey, as_of)} AS status, "
            f"{success_sql(journey, as_of, _status(journey, as_of), 's')} AS success FROM {final} st JOIN s ON s.cid = st.cid AND s.rn = st.p"
            + (" ORDER BY st.cid, st.run" if ordered else ""))


def _valid(journey: CompiledJourney, at: int, step: int) -> str:
    """Whether the next event matching ``step`` continues a run at step ``at`` in time."""
    parts = [f"x{step}_rn IS NOT NULL", f"x{step}_ts - t0 <= {journey.within}"]
    within = journey.steps[step].within
    if within is not None:
        parts.append(f"x{step}_ts - t{at} <= {within}")
    if journey.consecutive:
        parts.append(f"x{step}_rn = p + 1")
    return "(" + " AND ".join(parts) + ")"


def _choice(journey: CompiledJourney) -> str:
    """The position of the earliest next step in time, per step reached (NULL: none)."""
    cases = []
    for at in range(len(journey.steps) - 1):
        options = [f"CASE WHEN {_valid(journey, at, j)} THEN x{j}_rn END" for j in journey.candidates(at)]
        pick = options[0] if len(options) == 1 else f"least({', '.join(options)})"
        cases.append(f"WHEN k = {at} THEN {pick}")
    return f"CASE {' '.join(cases)} END"


def _chosen_step(journey: CompiledJourney) -> str:
    """Which step ``nxt`` is: the first of the candidates in time at that position."""
    cases = [f"WHEN k = {at} AND {_valid(journey, at, j)} AND x{j}_rn = nxt THEN {j}"
             for at in range(len(journey.steps) - 1) for j in journey.candidates(at)]
    return f"(CASE {' '.join(cases)} END)"


def still_open(journey: CompiledJourney, as_of: str) -> str:
    """Whether a next step could still come in time after ``as_of`` (reference._open)."""
    cases = []
    for at in range(len(journey.steps) - 1):
        windows = [journey.steps[j].within for j in journey.candidates(at)]
        test = "TRUE" if None in windows else " OR ".join(f"{as_of} - st.t{at} < {w}" for w in windows)
        cases.append(f"WHEN st.k = {at} THEN ({test})")
    return f"({as_of} - st.t0 < {journey.within} AND (CASE {' '.join(cases)} END))"


def _status(journey: CompiledJourney, as_of: float) -> str:
    moment = _double(as_of)
    still = "st.run = s.last_run" + (" AND st.p = s.last_rn" if journey.consecutive else "")
    return (f"CASE WHEN st.k = {len(journey.steps) - 1} THEN 'completed' "
            f"WHEN {still} AND {still_open(journey, moment)} THEN 'in_progress' ELSE 'abandoned' END")


def success_sql(journey: CompiledJourney, as_of: float, status: str, after: str) -> str:
    """Whether a run succeeded (reference's success rule): a completed run once its success
    window has closed, by the events after its last step, else unknown; an abandoned run
    fails. ``status`` is the run's status expression; ``after`` names the relation holding
    the first forbidden (``nf_ts``) and required (``nr{i}_ts``) events after it."""
    last = f"st.t{len(journey.steps) - 1}"
    done = f"st.k = {len(journey.steps) - 1}"
    abandoned = f"{status} = 'abandoned'"
    if journey.after_within is None:
        return f"CASE WHEN {done} THEN TRUE WHEN {abandoned} THEN FALSE END"
    window = journey.after_within
    tests = [f"NOT coalesce({after}.nf_ts - {last} <= {window}, FALSE)",
             *(f"coalesce({after}.nr{i}_ts - {last} <= {window}, FALSE)" for i in range(len(journey.require)))]
    return (f"CASE WHEN {done} AND {_double(as_of)} - {last} >= {window} THEN ({' AND '.join(tests)}) "
            f"WHEN {done} THEN NULL WHEN {abandoned} THEN FALSE END")


def _double(value: float) -> str:
    return f"CAST('{value!r}' AS DOUBLE)"


def event_columns(journey: CompiledJourney, events: Sequence[JourneyEvent]) -> dict[str, list[Any]]:
    """The query's input table as columns: the events that concern ``journey``."""
    kept = [e for e in events if e.flags.relevant or e.flags.forbidden or any(e.flags.required)]
    columns: dict[str, list[Any]] = {
        "cid": [e.customer_id for e in kept], "ts": [e.timestamp for e in kept], "ix": [e.index for e in kept],
        "a": [e.flags.relevant for e in kept], "fb": [e.flags.forbidden for e in kept]}
    for i in range(len(journey.steps)):
        columns[f"m{i}"] = [e.flags.steps[i] for e in kept]
    for i in range(len(journey.require)):
        columns[f"rq{i}"] = [e.flags.required[i] for e in kept]
    return columns


def runs_from_rows(journey: CompiledJourney, rows: Sequence[Sequence[Any]]) -> list[Run]:
    """The query's rows as runs (``cid, run, t0.., status, success``)."""
    width = len(journey.steps)
    found = []
    for row in rows:
        status: Status = row[2 + width]
        found.append(Run(journey.id, row[0], int(row[1]), tuple(row[2:2 + width]), status, row[3 + width]))
    return found


def duckdb_runs(journey: CompiledJourney, events: Sequence[JourneyEvent], as_of: float,
                connection: Any = None) -> list[Run]:
    """``journey``'s runs in ``events``, worked out by DuckDB."""
    import duckdb
    import pyarrow as pa

    db = connection if connection is not None else duckdb.connect()
    table = pa.table(event_columns(journey, events), schema=_schema(journey, pa))
    db.register("journey_events", table)
    try:
        rows = db.execute(runs_query(journey, as_of)).fetchall()
    finally:
        db.unregister("journey_events")
    return runs_from_rows(journey, rows)


def _schema(journey: CompiledJourney, pa: Any) -> Any:
    flags = ["a", "fb", *(f"m{i}" for i in range(len(journey.steps))), *(f"rq{i}" for i in range(len(journey.require)))]
    return pa.schema([("cid", pa.string()), ("ts", pa.float64()), ("ix", pa.int64()),
                      *((name, pa.bool_()) for name in flags)])
