"""Simulate a plan over a whole customer base: decisions out, outcome tables back.

Two engines give the same numbers: ``duckdb`` (the compiled SQL query, streaming from
Parquet / CSV / JSON lines) and ``python`` (the in-process evaluator). Plans the SQL
compiler cannot express exactly run on ``python`` with a notice.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from .compile import CompiledPlan, CompiledRule
from .contacts import ContactState
from .decision import Decision
from .engine import Engine
from .profiles import Unreadable, open_profiles
from .sql.decision_query import OUTPUT_COLUMNS, PERMITTED_PREFIX, permitted_flags

Progress = Callable[[float | None, int | None], None]  # (fraction done, rows so far)
# A decisions file's columns: the decision query's, less `channel` (the first of `channels`).
FILE_COLUMNS = tuple(c for c in OUTPUT_COLUMNS if c != "channel")
LIST_COLUMNS = ("actions", "channels")  # lists of ids; space-separated in CSV, which has no lists


@dataclass
class Summary:
    engine: str
    plan_version: str
    as_of: str
    total: int = 0
    invalid: int = 0
    seconds: float = 0.0
    by_treatment: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, treatment)
    by_cell: Counter[tuple[str | None, str | None, str | None, str]] = field(default_factory=Counter)
    by_channel: Counter[str] = field(default_factory=Counter)  # first permitted channel
    channel_cost: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    delight_spend_by_tier: defaultdict[str | None, float] = field(default_factory=lambda: defaultdict(float))
    cost_by_treatment: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    no_channel: int = 0  # decided to act, but consent left no channel (only the default can)
    notes: list[str] = field(default_factory=list)
    stage_order: list[str] = field(default_factory=list)  # the plan's order, for tables and charts
    tier_order: list[str] = field(default_factory=list)

    def stages(self) -> list[str | None]:
        return _ordered({k[1] for k in self.by_cell}, self.stage_order)

    def tiers(self) -> list[str | None]:
        return _ordered({k[2] for k in self.by_cell}, self.tier_order)

    @property
    def decided(self) -> int:
        return self.total - self.invalid

    def add(self, segment: str | None, stage: str | None, tier: str | None, treatment: str, rule: str,
            channel: str | None, cost: float, channel_cost: float, count: int = 1) -> None:
        self.by_treatment[treatment] += count
        self.by_rule[(rule, treatment)] += count
        self.by_cell[(segment, stage, tier, treatment)] += count
        self.cost_by_treatment[treatment] += cost
        if channel is not None:
            self.by_channel[channel] += count
            self.channel_cost[channel] += channel_cost
        elif treatment != "none":
            self.no_channel += count
        if treatment == "delight":
            self.delight_spend_by_tier[tier] += cost


def _ordered(present: set[str | None], order: list[str]) -> list[str | None]:
    known: list[str | None] = [v for v in order if v in present]
    return known + sorted(v for v in present if v not in order and v is not None) + (
        [None] if None in present else [])


JOURNEY = ("awareness", "acquisition", "consolidation", "maturity", "decline", "exit")


def new_summary(engine: str, plan: CompiledPlan, as_of: date) -> Summary:
    # Stages are listed in first-match order (exit first); people read them as a journey.
    stages = sorted((s.id for s in plan.lifecycle),
                    key=lambda s: JOURNEY.index(s) if s in JOURNEY else len(JOURNEY))
    return Summary(engine, plan.version, as_of.isoformat(), stage_order=stages,
                   tier_order=[t.id for t in plan.tiers])


def simulate_python(plan: CompiledPlan, path: str, as_of: date, fmt: str = "auto",
                    output: str | None = None, progress: Progress | None = None,
                    limits: Mapping[str, ContactState] | None = None) -> Summary:
    summary = new_summary("python", plan, as_of)
    started = time.perf_counter()
    writer = _Writer(output) if output else None
    with ExitStack() as stack:
        items = open_profiles(stack, path, fmt)
        readable = (item for item in items if not isinstance(item, Unreadable) or _count_unreadable(summary))
        _decide_into(plan, readable, as_of, summary, writer, progress, limits)
    if writer:
        writer.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _decide_into(plan: CompiledPlan, profiles: Iterable[Any], as_of: date, summary: Summary,
                 writer: _Writer | None, progress: Progress | None,
                 limits: Mapping[str, ContactState] | None = None) -> None:
    for result in Engine(plan).decide_many(profiles, as_of, limits=limits):
        summary.total += 1
        if isinstance(result, Decision):
            first = result.channels[0] if result.channels else None
            summary.add(result.segment, result.lifecycle_stage, result.value_tier, result.treatment,
                        result.rule, first, result.cost, plan.channels[first].cost if first else 0.0)
        else:
            summary.invalid += 1
        if writer:
            writer.write(result.to_record())
        if progress and summary.total % 10_000 == 0:
            progress(None, summary.total)


def _count_unreadable(summary: Summary) -> bool:
    summary.total += 1
    summary.invalid += 1
    return False


def _decision_schema() -> Any:
    import pyarrow as pa

    text = pa.string()
    return pa.schema([(c, pa.list_(text) if c in LIST_COLUMNS else pa.float64() if c == "cost" else text)
                      for c in FILE_COLUMNS])


class _Writer:
    def __init__(self, output: str) -> None:
        self.suffix = Path(output).suffix.lower()
        self.output = output
        self.rows: list[dict[str, Any]] = []
        self.stream = open(output, "wb") if self.suffix not in (".parquet", ".csv") else None  # noqa: SIM115

    def write(self, record: dict[str, Any]) -> None:
        if self.stream is not None:
            from .profiles import dumps
            self.stream.write(dumps(record))
        else:
            self.rows.append(record)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            return
        import pyarrow as pa

        schema = _decision_schema()
        rows = [{c: r.get(c) for c in FILE_COLUMNS} for r in self.rows]
        if self.suffix == ".parquet":
            import pyarrow.parquet as pq
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), self.output)
        else:
            import pyarrow.csv as pcsv
            for row in rows:  # CSV cells hold no lists: space-separated, as the DuckDB engine writes them
                for key in LIST_COLUMNS:
                    items = row[key]
                    row[key] = " ".join(items) if isinstance(items, (list, tuple)) else None
            flat = pa.schema([f if f.name not in LIST_COLUMNS else pa.field(f.name, pa.string())
                              for f in schema])
            pcsv.write_csv(pa.Table.from_pylist(rows, schema=flat), self.output)


def simulate_duckdb(plan: CompiledPlan, path: str, as_of: date, fmt: str = "auto",
                    output: str | None = None, progress: Progress | None = None,
                    memory_limit: str = "1GB", limits: Mapping[str, ContactState] | None = None) -> Summary:
    from .sql.duckdb_engine import DuckDBEngine, Settings, connect

    summary = new_summary("duckdb", plan, as_of)
    started = time.perf_counter()
    engine = DuckDBEngine(plan, Settings(memory_limit=memory_limit), limits=limits)
    connection = connect(engine.settings)
    if output is None:  # nothing to keep: aggregate as the rows are decided, in one pass
        query = engine.sql(path, as_of, fmt, connection, consent_columns=True)
        flags = permitted_flags(plan, engine.limits_relation)
        grouped: list[Any] = []
        # Group by rule position and the consent flags rather than by rule id, channel and
        # cost: every row of such a group has the same rule, first permitted channel and
        # cost, which are worked out once per group here instead of once per row in SQL.
        _run_with_progress(connection, lambda: grouped.extend(connection.execute(
            f"SELECT segment, lifecycle_stage, value_tier, __rule, count(*), count(error)"
            f"{''.join(', ' + f for f in flags)} FROM ({query}) GROUP BY ALL").fetchall()), progress)
        ordered = (*plan.rules, plan.default)  # the positions __rule counts
        _add_groups([_group_outcome(plan, ordered, row, flags) for row in grouped], plan, summary)
        summary.seconds = time.perf_counter() - started
        return summary
    with tempfile.TemporaryDirectory(prefix="treatment-") as scratch:
        target = output if output and output.lower().endswith(".parquet") else str(Path(scratch) / "decisions.parquet")
        _run_with_progress(connection, lambda: engine.write(path, as_of, target, fmt, connection), progress)
        _summarize(connection, target, plan, summary)
        if output and output != target:
            csv = output.lower().endswith(".csv")
            options = "FORMAT CSV, HEADER" if csv else "FORMAT JSON"
            columns = ", ".join(f"array_to_string({c}, ' ') AS {c}" if csv and c in LIST_COLUMNS else c
                                for c in FILE_COLUMNS)
            connection.execute(f"COPY (SELECT {columns} FROM read_parquet(?)) TO '{output.replace(chr(39), chr(39) * 2)}' ({options})",
                               [target])
    summary.seconds = time.perf_counter() - started
    return summary


def simulate_spark(plan: CompiledPlan, path: str, as_of: date, fmt: str = "auto",
                   output: str | None = None, progress: Progress | None = None,
                   master: str = "local[2]", limits: Mapping[str, ContactState] | None = None) -> Summary:
    """The same query on Spark: local mode here, or a cluster's master URL."""
    from pyspark.sql import functions as F

    from .sql.spark_engine import SparkEngine

    summary = new_summary("spark", plan, as_of)
    started = time.perf_counter()
    decisions = SparkEngine(plan, master=master, limits=limits).decisions(path, as_of, fmt)
    if progress:
        progress(None, None)
    if output:  # Spark writes a directory of part files under this name
        decisions.drop("__order").write.mode("overwrite").parquet(output)
    grouped = decisions.groupBy("segment", "lifecycle_stage", "value_tier", "treatment", "rule", "channel").agg(
        F.count(F.lit(1)), F.sum("cost"), F.count("error")).collect()
    _add_groups([tuple(row) for row in grouped], plan, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _run_with_progress(connection: Any, work: Callable[[], None], progress: Progress | None) -> None:
    if progress is None:
        work()
        return
    done = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as error:  # re-raised in the caller's thread
            failure.append(error)
        finally:
            done.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    while not done.wait(0.2):
        try:
            fraction = connection.query_progress()
        except Exception:  # progress is best-effort; the query itself reports real errors
            fraction = -1
        progress(fraction / 100 if fraction is not None and fraction >= 0 else None, None)
    worker.join()
    if failure:
        raise failure[0]
    progress(1.0, None)


def _summarize(connection: Any, decisions: str, plan: CompiledPlan, summary: Summary) -> None:
    rows = connection.execute(
        "SELECT segment, lifecycle_stage, value_tier, treatment, rule, channel, count(*), sum(cost), "
        "count(error) FROM read_parquet(?) GROUP BY ALL", [decisions]).fetchall()
    _add_groups(rows, plan, summary)


def _group_outcome(plan: CompiledPlan, ordered: tuple[CompiledRule, ...], row: tuple[Any, ...],
                   flags: list[str]) -> tuple[Any, ...]:
    """(segment, stage, tier, rule position, count, errors, *consent flags) to the row shape
    of _add_groups, with the group's rule, first permitted channel and total cost."""
    segment, stage, tier, index, count, errors = row[:6]
    allowed = dict(zip((f.removeprefix(PERMITTED_PREFIX) for f in flags), row[6:], strict=True))
    rule = ordered[index] if index is not None else None  # None: a group of error rows
    channel = None
    if rule is not None and rule.treatment != "none":
        # A channel without a flag is permitted to everyone.
        channel = next((c.id for c in rule.channels if allowed.get(c.id, True)), None)
    cost = 0.0 if rule is None else count * (rule.action_cost + (plan.channels[channel].cost if channel else 0.0))
    return (segment, stage, tier, rule.treatment if rule else None, rule.id if rule else None, channel, count,
            cost, errors)


def _add_groups(rows: list[Any], plan: CompiledPlan, summary: Summary) -> None:
    """Fold (segment, stage, tier, treatment, rule, channel, count, cost, errors) groups in."""
    costs = {name: channel.cost for name, channel in plan.channels.items()}
    for segment, stage, tier, treatment, rule, channel, count, cost, errors in rows:
        summary.total += int(count)
        if errors:
            summary.invalid += int(count)
            continue
        summary.add(segment, stage, tier, treatment, rule, channel, float(cost), 0.0, int(count))
        if channel is not None:
            summary.channel_cost[channel] += costs[channel] * int(count)


ENGINES: dict[str, Callable[..., Summary]] = {"python": simulate_python, "duckdb": simulate_duckdb,
                                               "spark": simulate_spark}
