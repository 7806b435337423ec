"""Attribution (:mod:`.attribution`) in DuckDB: decisions and events read where they lie
(a decisions file directly; the log's rows streamed in as Arrow batches), every customer's
first decision kept once, events joined to them in one pass for every metric, and only
the sufficient statistics per arm and metric come back to Python.

Each step names the reference function it mirrors; tests/test_measure_sql.py checks the
two agree over generated logs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from ..compile import CompiledPlan
from ..experiments.buckets import UNIVERSAL
from ..expressions.ast import fields_read
from ..moments.events import EDGE_YEARS, END_OF_TIME, FIRST_INSTANT, TIMESTAMP_SHAPE, WHITESPACE
from ..outputs import output_format
from ..sql.duckdb_backend import Settings, connect
from ..sql.expressions import ExpressionCompiler
from ..sql.sources import build_source
from ..sql.timestamps import common_shape_sql
from .attribution import BY_DIMENSIONS, TREATED, GroupStats, Measured, held_versions
from .inputs import DAY_SHAPE
from .metrics import CompiledMetric

T = TypeVar("T")

_EVENT_KEYS = (("customer_id",), ("type",), ("timestamp",))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def decision_file_relation(path: str) -> str:
    """A decisions file (appendix G) as the rows :func:`.inputs.read_decision_file` reads."""
    kind = output_format(path)
    source = _quote(path)
    # The customer's id and the plan version are text (read as it, with the JSON or Parquet type
    # they were written in: a number is refused, as the reference refuses it).
    ids = {key: (f"CASE WHEN typeof({key}) = 'VARCHAR' THEN {key} END", f"typeof({key})")
           for key in ("customer_id", "plan_version")}
    if kind == "parquet":
        scan, would_have = f"read_parquet({source})", "would_have.rule"
    elif kind == "csv":
        scan = f"read_csv({source}, all_varchar = true, header = true)"
        would_have = "json_extract_string(would_have, '$.rule')"
    else:
        columns = ("{customer_id: 'JSON', plan_version: 'JSON', as_of: 'VARCHAR', rule: 'VARCHAR', "
                   "arm: 'VARCHAR', experiment: 'VARCHAR', cost: 'DOUBLE', would_have: 'JSON', error: 'VARCHAR', "
                   "segment: 'VARCHAR', lifecycle_stage: 'VARCHAR', value_tier: 'VARCHAR'}")
        scan = f"read_json({source}, format = 'newline_delimited', records = true, columns = {columns})"
        would_have = "json_extract_string(would_have, '$.rule')"
        ids = {key: (f"CASE WHEN json_type({key}) = 'VARCHAR' THEN {key} ->> '$' END",
                     f"coalesce(json_type({key}), 'VARCHAR')") for key in ids}
    customer_id, plan_version = (f"CASE WHEN {key}_type NOT IN ('VARCHAR', 'NULL') THEN "
                                 f"error('a decision''s {key} is not text') ELSE {key} END" for key in ids)
    # A decided row without its customer, version, day (YYYY-MM-DD) or a finite cost stops the query, as it
    # stops the reference.
    return f"""(SELECT * EXCLUDE (customer_id_type, plan_version_type) REPLACE (
                           coalesce({customer_id}, error('a decision has no customer_id')) AS customer_id,
                           coalesce({plan_version}, error('a decision has no plan_version')) AS plan_version,
                           coalesce(decided_at, error('a decision''s as_of is not a day')) AS decided_at,
                           CASE WHEN isfinite(cost) THEN cost ELSE error('a decision''s cost is not a number') END
                           AS cost) FROM (
        SELECT {ids["customer_id"][0]} AS customer_id, {ids["customer_id"][1]} AS customer_id_type,
               {ids["plan_version"][0]} AS plan_version, {ids["plan_version"][1]} AS plan_version_type, epoch(CAST(CAST(CASE WHEN regexp_full_match(CAST(as_of AS VARCHAR),
               '{DAY_SHAPE}') THEN as_of END AS DATE) AS TIMESTAMP)) AS decided_at, rule,
               coalesce(nullif(arm, ''), 'champion') AS arm, nullif(experiment, '') AS experiment,
               coalesce(CAST(cost AS DOUBLE), 0) AS cost, coalesce({would_have}, rule) AS champion_rule,
               row_number() OVER () AS seq, error, nullif(segment, '') AS segment,
               nullif(lifecycle_stage, '') AS lifecycle_stage, nullif(value_tier, '') AS value_tier
        FROM {scan}) WHERE (error IS NULL OR error = '') AND rule IS NOT NULL AND rule <> '')"""


def cell_sql(by: Sequence[str]) -> str:
    """attribution.cell_of in SQL."""
    parts = [f"'{name}=' || coalesce({name}, '-')" for name in by if name in BY_DIMENSIONS]
    return " || ', ' || ".join(parts) if parts else "''"


def units_sql(decisions: str, by: Sequence[str] = (), held: Sequence[str] = ()) -> str:
    """attribution.units: every customer's first decision per plan version and experiment."""
    cell = cell_sql(by)
    known = "".join(f" OR plan_version = {_quote(version)}" for version in held)
    return f"""
    decisions AS (SELECT * FROM {decisions}),
    memberships AS (
        SELECT plan_version, experiment, experiment AS rule, {cell} AS cell, arm, customer_id, decided_at, seq, cost
        FROM decisions WHERE experiment IS NOT NULL AND experiment <> '{UNIVERSAL}'
        UNION ALL
        SELECT plan_version, '{UNIVERSAL}', champion_rule, {cell},
               CASE WHEN arm = '{UNIVERSAL}' THEN '{UNIVERSAL}' ELSE '{TREATED}' END, customer_id, decided_at, seq, cost
        FROM decisions WHERE plan_version IN (SELECT plan_version FROM decisions WHERE arm = '{UNIVERSAL}'){known}),
    firsts AS (
        SELECT plan_version, experiment, rule, cell, arm, customer_id, decided_at, seq, cost FROM (
            SELECT *, row_number() OVER (PARTITION BY plan_version, experiment, customer_id
                                         ORDER BY decided_at, seq) AS place
            FROM memberships) WHERE place = 1)"""


def parsed_timestamp_sql(text: str) -> str:
    """moments.events.parse_timestamp in SQL: seconds since the epoch, NULL when ``text`` is
    not in its grammar (TIMESTAMP_SHAPE: a date, or a date-time; without a zone, UTC)."""
    stripped = f"trim({text}, '{WHITESPACE}')"
    instant = f"epoch(try_cast(replace({stripped}, 'Z', '+00:00') AS TIMESTAMPTZ))"
    edge = ", ".join(f"'{year}'" for year in EDGE_YEARS)
    return (f"CASE WHEN NOT regexp_full_match({stripped}, '{TIMESTAMP_SHAPE}') THEN NULL "
            f"WHEN length({stripped}) = 10 THEN epoch(CAST(try_cast({stripped} AS DATE) AS TIMESTAMP)) "
            f"WHEN left({stripped}, 4) IN ({edge}) AND NOT ({instant} >= {FIRST_INSTANT} "
            f"AND {instant} < {END_OF_TIME}) THEN NULL "
            f"ELSE {instant} END")


def timestamp_sql(text: str) -> str:
    """:func:`parsed_timestamp_sql`, with the shortcut for the commonest shape
    (:func:`..sql.timestamps.common_shape_sql`)."""
    return common_shape_sql(text, parsed_timestamp_sql(text))


def with_events(connection: Any, plan: CompiledPlan, path: str, use: Callable[[str], T]) -> T:
    """``use(events query)`` (:func:`events_sql`), read by DuckDB's own reader; a file it
    refuses (a line that is not JSON, or not an object) is read again line by line as the
    reference reads it, where such a line is no event and the others count."""
    import duckdb

    try:
        return use(events_sql(plan, connection, path)[0])
    except duckdb.Error:
        return use(events_sql(plan, connection, path, careful=True)[0])


def events_sql(plan: CompiledPlan, connection: Any, path: str, careful: bool = False) -> tuple[str, list[str]]:
    """attribution.events_by_customer: the valid events of the metrics' types, each with a
    match flag and the numeric field per metric (a metric's ``if`` compiled from section 6).
    ``careful``: the lines read in Python first (:func:`_careful_lines`)."""
    metrics = plan.metrics
    fields: set[tuple[str, ...]] = {(m.field,) for m in metrics if m.field}
    for metric in metrics:
        if metric.expression is not None:
            fields |= {tuple(name.split(".")) for name in fields_read(metric.expression)}
    paths = sorted(set(_EVENT_KEYS) | fields)
    if careful:
        _careful_lines(connection, path)
    source = build_source(connection, path, paths, "jsonl", careful)
    compiler = ExpressionCompiler(source.fields, as_of=date(1970, 1, 1))  # days_since is refused in metrics
    cid, kind, stamp = (source.fields[key].s or "NULL" for key in _EVENT_KEYS)  # no text column: no text
    selected = [f"{cid} AS customer_id", f"{kind} AS type", f"{timestamp_sql(stamp)} AS ts"]
    if any(m.compute == "last" for m in metrics):  # only `last` breaks ties of time by input order
        selected.append("row_number() OVER () AS seq")
    columns = []
    for index, metric in enumerate(metrics):
        match = "TRUE" if metric.expression is None else compiler.condition(metric.expression).sql(dialect="duckdb")
        selected.append(f"coalesce({match}, FALSE) AS m{index}_match")
        number = source.fields[(metric.field,)].n if metric.field else None
        selected.append(f"{number or 'CAST(NULL AS DOUBLE)'} AS m{index}_x")
        columns.append(f"m{index}")
    relation = source.relation.sql(dialect="duckdb")
    # No filter here (a customer id, a type in the plan's, a time): DuckDB would push it
    # below the typing and type those cells twice, for a quarter of the reading's cost.
    # The join in statistics_sql leaves such events out as well: a null id or time never
    # matches, an empty id is refused there, and each metric counts only its own type.
    query = f"SELECT {', '.join(selected)} FROM {relation}"
    return query, columns


def metric_value(metric: CompiledMetric, index: int, dialect: str, within: int | None = None) -> str:
    """attribution.customer_value as an aggregate over one customer's joined events: only the
    events of this metric's type whose ``if`` holds, up to the window's end (its own, or
    ``within`` seconds for a curve's shortened window), count."""
    end = metric.within if within is None else within
    own = f"e.type = {_quote(metric.event)} AND e.m{index}_match AND e.ts <= f.decided_at + {end}"
    x = f"e.m{index}_x"
    last = (f"arg_max({x}, list_value(e.ts, e.seq))" if dialect == "duckdb"
            else f"max_by({x}, named_struct('t', e.ts, 's', e.seq))")
    return {
        "rate": f"CASE WHEN count(e.ts) FILTER (WHERE {own}) > 0 THEN 1.0 ELSE 0.0 END",
        "count": f"CAST(count(e.ts) FILTER (WHERE {own}) AS DOUBLE)",
        "sum": f"coalesce(sum({x}) FILTER (WHERE {own}), 0.0)",
        "mean": f"avg({x}) FILTER (WHERE {own})",
        "last": f"{last} FILTER (WHERE {own} AND {x} IS NOT NULL)",
    }[metric.compute]


def statistics_sql(metrics: Sequence[CompiledMetric], as_of: float, dialect: str = "duckdb") -> str:
    """Every metric's sufficient statistics per group, after the ``firsts`` and ``events``
    CTEs: events are joined to first decisions once, over the longest window (both edges
    inside), and each metric aggregates its own events (``_metric_value``); a customer
    counts for a metric once its window has closed by ``as_of``. One row per group, five
    columns per metric (see :func:`by_metric`)."""
    longest, shortest = max(m.within for m in metrics), min(m.within for m in metrics)
    values = ", ".join(f"{metric_value(m, i, dialect)} AS v{i}" for i, m in enumerate(metrics))
    statistics = []
    for index, metric in enumerate(metrics):
        closed = f"FILTER (WHERE decided_at + {metric.within} <= {as_of!r})"
        statistics += [f"count(*) {closed}", f"count(v{index}) {closed}", f"coalesce(sum(v{index}) {closed}, 0.0)",
                       f"coalesce(sum(v{index} * v{index}) {closed}, 0.0)", f"coalesce(sum(cost) {closed}, 0.0)"]
    keys = "plan_version, experiment, rule, cell, arm"
    return f"""values_ AS (
        SELECT f.plan_version, f.experiment, f.rule, f.cell, f.arm, f.decided_at, f.cost, {values}
        FROM firsts f LEFT JOIN events e
          ON e.customer_id = f.customer_id AND f.customer_id <> '' AND e.ts >= f.decided_at AND e.ts <= f.decided_at + {longest}
        WHERE f.decided_at + {shortest} <= {as_of!r}
        GROUP BY f.plan_version, f.experiment, f.rule, f.cell, f.arm, f.customer_id, f.decided_at, f.cost, f.seq)
    SELECT {keys}, {', '.join(statistics)} FROM values_ GROUP BY {keys}"""


def by_metric(rows: Sequence[Any], metrics: Sequence[CompiledMetric]) -> list[tuple[Any, ...]]:
    """:func:`statistics_sql`'s rows as one row per group and metric (key, metric, customers,
    n, sum, sum of squares, cost); a metric no customer of the group has closed gets none."""
    found = []
    for row in rows:
        for index, metric in enumerate(metrics):
            customers, n, total, squares, cost = row[5 + 5 * index: 10 + 5 * index]
            if customers:
                found.append((*row[:5], metric.id, customers, n, total, squares, cost))
    return found


def measure_connection(settings: Settings | None) -> Any:
    """A DuckDB connection set up for measuring."""
    connection = connect(settings or Settings())
    connection.execute("SET TimeZone = 'UTC'")
    # simulate's connection keeps the profiles' side of its joins fixed, for row order;
    # measurement's rows are grouped, so DuckDB may pick each join's sides itself.
    connection.execute("RESET disabled_optimizers")
    return connection


def first_decisions(connection: Any, decisions: str | Any, by: Sequence[str] = (), held: Sequence[str] = ()) -> None:
    """Every customer's first decision per experiment (attribution.units), once, as the
    temporary table ``first_decisions``: the queries after it read it more than once.
    ``held``: attribution.held_versions."""
    if isinstance(decisions, str):
        relation = decision_file_relation(decisions)
    else:
        # An Arrow table or stream (the log's, read a batch at a time): copied once into
        # DuckDB, which may spill it to disk.
        connection.register("log_stream", decisions)
        connection.execute("CREATE TEMP TABLE log_decisions AS SELECT * FROM log_stream")
        connection.unregister("log_stream")
        relation = "log_decisions"
    connection.execute(f"CREATE TEMP TABLE first_decisions AS WITH {units_sql(relation, by, held)} SELECT * FROM firsts")


def _careful_lines(connection: Any, path: str) -> None:
    """The file's lines as :func:`..sql.careful_lines.careful_batches` reads them, in the
    table the careful reader reads (a table: the events query may scan it more than once)."""
    from itertools import chain

    import pyarrow as pa

    from ..sql.careful_lines import careful_batches
    from ..sql.json_lines import LINES_VIEW

    batches = careful_batches(path)
    first = next(batches)  # there is always one
    connection.register("__careful_stream", pa.RecordBatchReader.from_batches(first.schema, chain((first,), batches)))
    connection.execute(f"CREATE OR REPLACE TEMP TABLE {LINES_VIEW} AS SELECT * FROM __careful_stream")
    connection.unregister("__careful_stream")


def measure_duckdb(plan: CompiledPlan, decisions: str | Any, events_path: str | None, as_of: float,
                   settings: Settings | None = None, by: Sequence[str] = ()) -> Measured:
    """``decisions``: a decisions file's path, or an Arrow table or record batch reader of
    :data:`.inputs.DECISION_FIELDS` (:func:`.inputs.log_decision_reader`)."""
    connection = measure_connection(settings)
    try:
        first_decisions(connection, decisions, by, held_versions(plan))
        if not plan.metrics or events_path is None:
            return measured_on(connection, plan, None, as_of)
        return with_events(connection, plan, events_path, lambda events: measured_on(connection, plan, events, as_of))
    finally:
        connection.close()


def measured_on(connection: Any, plan: CompiledPlan, events: str | None, as_of: float) -> Measured:
    """What :func:`measure_duckdb` returns, on a connection holding ``first_decisions``;
    ``events``: :func:`events_sql`'s query (None: no events, no statistics)."""
    assigned = connection.execute("SELECT plan_version, experiment, rule, cell, arm, count(*) "
                                  "FROM first_decisions GROUP BY ALL").fetchall()
    rows: list[Any] = []
    if plan.metrics and events is not None:
        rows = by_metric(connection.execute(f"""WITH firsts AS (SELECT * FROM first_decisions),
            events AS ({events}), {statistics_sql(plan.metrics, as_of)}""").fetchall(), plan.metrics)
    return collected(rows, assigned)


def collected(rows: Sequence[Any], assigned: Sequence[Any]) -> Measured:
    """A back end's result rows as :class:`Measured`, in key order."""
    groups = tuple(sorted((GroupStats(str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), str(r[5]), int(r[6]),
                                      int(r[7]), float(r[8]), float(r[9]), float(r[10])) for r in rows),
                          key=lambda g: g.key))
    return Measured(groups, dict(sorted(((str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4])), int(r[5]))
                                        for r in assigned)))
