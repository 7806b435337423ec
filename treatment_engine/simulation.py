"""Simulate a plan over a whole customer base: decisions out, outcome tables back.

Two back ends give the same numbers: ``duckdb`` (the compiled SQL query, streaming from
Parquet / CSV / JSON lines) and ``python`` (the in-process evaluator). Plans the SQL
compiler cannot express exactly run on ``python`` with a notice.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from itertools import groupby
from pathlib import Path
from typing import Any

from .arms import ArmTally, declared_arms
from .compile import CompiledPlan, CompiledRule
from .contacts import ContactState
from .decision import Decision, DecisionError
from .engine import Engine
from .experiments.compiled import CHAMPION
from .outputs import DecisionWriter, OutputError, convert, metadata, prepare
from .profiles import Unreadable, file_notes, open_profiles
from .shape_check import ShapeCheck
from .sql.compiler import PERMITTED_PREFIX, permitted_flags, required_fields
from .sql.experiments import has_experiments

Progress = Callable[[float | None, int | None], None]  # (fraction done, rows so far)


@dataclass
class Summary:
    backend: str
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
    arms: ArmTally = field(default_factory=ArmTally)  # experiment arms (appendix H); see ..arms

    def stages(self) -> list[str | None]:
        return _ordered({k[1] for k in self.by_cell}, self.stage_order)

    def tiers(self) -> list[str | None]:
        return _ordered({k[2] for k in self.by_cell}, self.tier_order)

    @property
    def decided(self) -> int:
        return self.total - self.invalid

    def add(self, segment: str | None, stage: str | None, tier: str | None, treatment: str, rule: str,
            channel: str | None, cost: float, channel_cost: float, count: int = 1) -> None:
        self.by_cell[(segment, stage, tier, treatment)] += count
        self.add_outcome(tier, treatment, rule, channel, cost, channel_cost, count)

    def add_outcome(self, tier: str | None, treatment: str, rule: str, channel: str | None, cost: float,
                    channel_cost: float, count: int = 1) -> None:
        """What :meth:`add` counts but the cell: all that depends on the tier, not on the
        segment and stage."""
        self.by_treatment[treatment] += count
        self.by_rule[(rule, treatment)] += count
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


def new_summary(backend: str, plan: CompiledPlan, as_of: date) -> Summary:
    # Stages are listed in first-match order (exit first); people read them as a journey.
    stages = sorted((s.id for s in plan.lifecycle),
                    key=lambda s: JOURNEY.index(s) if s in JOURNEY else len(JOURNEY))
    return Summary(backend, plan.version, as_of.isoformat(), stage_order=stages,
                   tier_order=[t.id for t in plan.tiers], arms=ArmTally(declared_arms(plan), tuple(r.id for r in (*plan.rules, plan.default))))


def simulate_python(plan: CompiledPlan, path: str, as_of: date, fmt: str = "auto",
                    output: str | None = None, progress: Progress | None = None,
                    limits: Mapping[str, ContactState] | None = None) -> Summary:
    summary = new_summary("python", plan, as_of)
    started = time.perf_counter()
    with ExitStack() as stack:
        writer = stack.enter_context(DecisionWriter(output, metadata(plan.version, as_of.isoformat(), "python"))) \
            if output else None
        items = open_profiles(stack, path, fmt)
        check = ShapeCheck(required_fields(plan))
        expected = expected_rows(path, fmt) if progress else None
        _decide_into(plan, items, as_of, summary, writer, progress, limits, check, expected)
    summary.notes.extend([*check.warnings(required_fields(plan)), *file_notes(path, fmt)])
    summary.seconds = time.perf_counter() - started
    return summary


def decided(plan: CompiledPlan, items: Iterable[Any], as_of: date,
            limits: Mapping[str, ContactState] | None = None,
            check: ShapeCheck | None = None) -> Iterator[Decision | DecisionError]:
    """A result per item, in order: an unreadable line is an error row, never left out.
    ``check`` sees every profile (see :mod:`.shape_check`)."""
    for unreadable, run in groupby(items, key=lambda item: isinstance(item, Unreadable)):
        if unreadable:
            yield from (DecisionError(customer_id=None, error=item.reason) for item in run)
        else:
            readable: Iterable[Any] = run if check is None else _observed(run, check)  # noqa: B031 - one use
            yield from Engine(plan).decide_many(readable, as_of, limits=limits)


def _observed(profiles: Iterable[Any], check: ShapeCheck) -> Iterator[Any]:
    observe = check.observe
    for profile in profiles:
        observe(profile)
        yield profile


def _decide_into(plan: CompiledPlan, profiles: Iterable[Any], as_of: date, summary: Summary,
                 writer: DecisionWriter | None, progress: Progress | None,
                 limits: Mapping[str, ContactState] | None = None, check: ShapeCheck | None = None,
                 expected: int | None = None) -> None:
    for result in decided(plan, profiles, as_of, limits, check):
        summary.total += 1
        if isinstance(result, Decision):
            first = result.channels[0] if result.channels else None
            summary.add(result.segment, result.lifecycle_stage, result.value_tier, result.treatment,
                        result.rule, first, result.cost, plan.channels[first].cost if first else 0.0)
            champion = result.would_have or result  # off the champion's arm, what it would have given
            summary.arms.add(champion.rule, result.arm, result.cost, champion.cost)
        else:
            summary.invalid += 1
        if writer:
            writer.write(result.to_record())
        if progress and summary.total % 10_000 == 0:
            progress(min(summary.total / expected, 1.0) if expected else None, summary.total)


def expected_rows(path: str, fmt: str = "auto") -> int | None:
    """About how many rows a file holds, for a percentage: its lines (a CSV header and
    blank lines make it a little high), or a Parquet file's own count."""
    from .profiles import detect_format

    if path == "-" or not Path(path).is_file():  # a pipe is read once, by the decisions
        return None
    if detect_format(path, fmt) == "parquet":
        import pyarrow.parquet as pq
        return int(pq.ParquetFile(path).metadata.num_rows)
    lines = 0
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 22):
            lines += chunk.count(b"\n")
    return lines or None


def simulate_duckdb(plan: CompiledPlan, path: str, as_of: date, fmt: str = "auto",
                    output: str | None = None, progress: Progress | None = None,
                    memory_limit: str = "1GB", limits: Mapping[str, ContactState] | None = None) -> Summary:
    from .sql.duckdb_backend import DuckDBBackend, Settings, copy_parquet

    summary = new_summary("duckdb", plan, as_of)
    started = time.perf_counter()
    backend = DuckDBBackend(plan, Settings(memory_limit=memory_limit), limits=limits)
    if output is None:  # nothing to keep: aggregate as the rows are decided, in one pass
        flags = permitted_flags(plan, backend.limits_relation)
        experimenting = has_experiments(plan)
        arms = ", arm, would_have_rule" if experimenting else ""
        grouped: list[Any] = []

        def summary_sql(query: str) -> str:
            # Group by rule position and the consent flags rather than by rule id, channel
            # and cost: every row of such a group has the same rule, first permitted channel
            # and cost, which are worked out once per group here instead of once per row in
            # SQL. With experiments, the arm and the champion (would_have_rule) join the key:
            # the champion's channel and cost follow from the same flags. Two grouping sets,
            # as the summary's tables need them: the cells (segment x stage x tier x rule),
            # and the outcomes (tier x rule x arm x flags), about 4,000 groups for a 500-rule
            # plan where one grouping by all of them made 17,000 to fold in here.
            outcomes = f"value_tier, __rule{arms}{''.join(', ' + f for f in flags)}"
            return (f"SELECT segment, lifecycle_stage, value_tier, __rule{arms}, count(*), count(error)"
                    f"{''.join(', ' + f for f in flags)}, GROUPING(segment) FROM ({query}) GROUP BY GROUPING SETS "
                    f"((segment, lifecycle_stage, value_tier, __rule), ({outcomes}))")

        def read_groups(connection: Any, query: str) -> None:
            # In place of any groups before: a reading the file changed under is done again.
            grouped[:] = connection.execute(summary_sql(query)).fetchall()

        backend.run(path, as_of, fmt, lambda connection, query: _run_with_progress(
            connection, lambda: read_groups(connection, query), progress), summary=True)
        outcome = _GroupOutcome(plan, backend.rules, flags, experimenting)
        count_at = 6 if experimenting else 4
        for row in grouped:
            if row[-1] == 0:  # a cell
                _add_cell(summary, row[:3], backend.rules[row[3]] if row[3] is not None else None,
                          row[count_at], row[count_at + 1])
            elif row[3] is not None:  # the outcome of rows that were decided
                _add_outcome(outcome(row[:-1]), plan, summary)
        summary.notes.extend([*backend.shape.warnings(required_fields(plan)), *file_notes(path, fmt)])
        summary.seconds = time.perf_counter() - started
        return summary
    kind = prepare(output)
    meta = metadata(plan.version, as_of.isoformat(), "duckdb")
    with tempfile.TemporaryDirectory(prefix="treatment-") as scratch:
        target = output if kind == "parquet" else str(Path(scratch) / "decisions.parquet")
        backend.run(path, as_of, fmt, lambda connection, query: _run_with_progress(
            connection, lambda: copy_parquet(connection, backend.shaped_sql(query, as_of), target, meta), progress))
        _summarize(target, plan, summary)
        if target != output:
            convert(target, output, meta)
    summary.notes.extend([*backend.shape.warnings(required_fields(plan)), *file_notes(path, fmt)])
    summary.seconds = time.perf_counter() - started
    return summary


def simulate_spark(plan: CompiledPlan, path: str, as_of: date, fmt: str = "auto",
                   output: str | None = None, progress: Progress | None = None,
                   master: str = "local[2]", limits: Mapping[str, ContactState] | None = None) -> Summary:
    """The same query on Spark: local mode here, or a cluster's master URL."""
    from pyspark.sql import functions as F

    from .sql.spark_backend import SparkBackend

    summary = new_summary("spark", plan, as_of)
    started = time.perf_counter()
    on_cluster = not master.startswith("local")
    if output and on_cluster and Path(output).suffix:
        raise OutputError(f"a cluster run writes a folder of Parquet part files where its executors can reach "
                          f"it: give --output a folder (no suffix), not {output}")
    if output and not on_cluster:
        prepare(output)
    backend = SparkBackend(plan, master=master, limits=limits)
    decisions = backend.decisions(path, as_of, fmt)
    if progress:
        progress(None, None)
    if output:  # written, then summed: decided once, not once for each
        decisions = decisions.persist()
    try:
        if output and on_cluster:
            backend.shaped(decisions, as_of).write.mode("overwrite").parquet(output)
        elif output:  # Spark writes a folder of part files; they become the one file asked for
            with tempfile.TemporaryDirectory(prefix="treatment-") as scratch:
                backend.shaped(decisions, as_of).write.mode("overwrite").parquet(str(Path(scratch) / "parts"))
                convert(Path(scratch) / "parts", output, metadata(plan.version, as_of.isoformat(), "spark"))
        grouped = decisions.groupBy("segment", "lifecycle_stage", "value_tier", "treatment", "rule", "channel",
                                    "arm", "would_have_rule").agg(
            F.count(F.lit(1)), F.sum("cost"), F.count("error"), F.sum(F.coalesce("would_have_cost", "cost"))).collect()
    finally:
        if output:
            decisions.unpersist()
    # To _add_groups' order: the arm and champion keys after the count, cost and errors.
    _add_groups([(*row[:6], *row[8:11], row[6], row[7], row[11]) for row in grouped], plan, summary)
    summary.notes.extend([*backend.count_shapes(path, fmt).warnings(required_fields(plan)), *file_notes(path, fmt)])
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


def _summarize(decisions: str, plan: CompiledPlan, summary: Summary) -> None:
    import duckdb

    rows = duckdb.connect().execute(
        "SELECT segment, lifecycle_stage, value_tier, treatment, rule, channels[1], count(*), sum(cost), "
        "count(error), arm, would_have.rule, sum(coalesce(would_have.cost, cost)) FROM read_parquet(?) "
        "GROUP BY ALL", [decisions]).fetchall()
    _add_groups(rows, plan, summary)


class _GroupOutcome:
    """A group of the DuckDB summary query, (segment, stage, tier, rule position, [arm,
    champion id,] count, errors, *consent flags), in the row shape of _add_groups, with the
    group's rule, first permitted channel and total cost, and its champion's total cost."""

    def __init__(self, plan: CompiledPlan, ordered: tuple[CompiledRule, ...], flags: list[str],
                 experimenting: bool) -> None:
        self.plan = plan
        self.ordered = ordered  # the positions __rule counts
        self.champions = {rule.id: rule for rule in (*plan.rules, plan.default)}
        self.channels = [f.removeprefix(PERMITTED_PREFIX) for f in flags]
        self.experimenting = experimenting

    def __call__(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        segment, stage, tier, index = row[:4]
        arm, champion_id = row[4:6] if self.experimenting else (CHAMPION, None)
        count, errors, *permitted = row[6:] if self.experimenting else row[4:]
        allowed = dict(zip(self.channels, permitted, strict=True))
        if index is None:  # a group of error rows
            return (segment, stage, tier, None, None, None, count, 0.0, errors, None, None, 0.0)
        rule = self.ordered[index]
        channel, cost = self._first_and_cost(rule, allowed)
        champion_cost = cost if champion_id is None else self._first_and_cost(self.champions[champion_id],
                                                                                allowed)[1]
        return (segment, stage, tier, rule.treatment, rule.id, channel, count, count * cost, errors, arm,
                champion_id, count * champion_cost)

    def _first_and_cost(self, rule: CompiledRule, allowed: dict[str, bool]) -> tuple[str | None, float]:
        """The rule's first permitted channel and its cost per customer (semantics.cost)."""
        channel = None
        if rule.treatment != "none":  # a channel without a flag is permitted to everyone
            channel = next((c.id for c in rule.channels if allowed.get(c.id, True)), None)
        return channel, rule.action_cost + (self.plan.channels[channel].cost if channel else 0.0)


def _add_cell(summary: Summary, cell: tuple[Any, ...], rule: CompiledRule | None, count: int, errors: int) -> None:
    summary.total += int(count)
    if errors or rule is None:
        summary.invalid += int(count)
        return
    summary.by_cell[(cell[0], cell[1], cell[2], rule.treatment)] += int(count)


def _add_outcome(group: tuple[Any, ...], plan: CompiledPlan, summary: Summary) -> None:
    """Fold in a group of :class:`_GroupOutcome`'s shape, its cell left out."""
    _, _, tier, treatment, rule, channel, count, cost, _, arm, champion, champion_cost = group
    summary.add_outcome(tier, treatment, rule, channel, float(cost), 0.0, int(count))
    summary.arms.add(champion or rule, arm, float(cost), float(champion_cost), int(count))
    if channel is not None:
        summary.channel_cost[channel] += plan.channels[channel].cost * int(count)


def _add_groups(rows: list[Any], plan: CompiledPlan, summary: Summary) -> None:
    """Fold (segment, stage, tier, treatment, rule, channel, count, cost, errors, arm,
    champion rule or None for the deciding rule, champion's cost) groups in."""
    costs = {name: channel.cost for name, channel in plan.channels.items()}
    for segment, stage, tier, treatment, rule, channel, count, cost, errors, arm, champion, champion_cost in rows:
        summary.total += int(count)
        if errors:
            summary.invalid += int(count)
            continue
        summary.add(segment, stage, tier, treatment, rule, channel, float(cost), 0.0, int(count))
        summary.arms.add(champion or rule, arm, float(cost), float(champion_cost), int(count))
        if channel is not None:
            summary.channel_cost[channel] += costs[channel] * int(count)


BACKENDS: dict[str, Callable[..., Summary]] = {"python": simulate_python, "duckdb": simulate_duckdb,
                                               "spark": simulate_spark}
