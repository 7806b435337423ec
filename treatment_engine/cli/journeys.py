"""``treatment journeys``: whole customer journeys measured from their events."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..outputs import with_parent
from .options import plan_option
from .support import fail, load_engine, open_log

if TYPE_CHECKING:
    from ..engine import Engine
    from ..journeys.breakdown import Group
    from ..journeys.compiled import CompiledJourney
    from ..journeys.duckdb_file import Measured
    from ..journeys.output import Breakdowns
    from ..journeys.reference import Run
    from ..journeys.source import JourneyEvents
    from ..journeys.summary import JourneyReport


@click.command("journeys")
@click.option("--events", "events_path", metavar="EVENTS.jsonl",
              help="Customer events, JSON lines as `treatment events replay` reads ('-' for standard input).")
@click.option("--db", "db_url", metavar="URL", help="Read the events the service stored in this database instead.")
@plan_option
@click.option("--as-of", "as_of_text", metavar="TIMESTAMP",
              help="Measure as of this time (ISO 8601 date or date-time; a date is its first instant): later "
                   "events are left out and windows still open are in progress. Default: the latest event a "
                   "journey reads.")
@click.option("--backend", type=click.Choice(["duckdb", "python", "spark"]), default="duckdb", show_default=True,
              help="Who works out the runs: DuckDB (window functions), the plain Python reference, or Spark "
                   "(local[2]; the same query as DuckDB's).")
@click.option("--by", "by_text", metavar="DIMENSIONS",
              help="Break each journey down by segment, lifecycle_stage, value_tier and/or arm (comma-separated); "
                   "needs --profiles.")
@click.option("--profiles", "profiles_path", metavar="FILE",
              help="The customers (JSON lines, CSV or Parquet), decided with the plan on the --as-of day to "
                   "place each in their segment, stage, tier and experiment arm, for --by.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True,
              help="table: readable at 80 columns; json or csv: every figure, for other tools.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write an HTML report here: funnels, times, touchpoints beside the journey, the flag.")
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the report here instead of standard output.")
def journeys(events_path: str | None, db_url: str | None, plan_dir: Path | None, as_of_text: str | None,
             backend: str, by_text: str | None, profiles_path: str | None, report_path: Path | None, fmt: str,
             output_path: Path | None) -> None:
    """Customer journeys (the plan's `journeys:`, docs/plan-format.md appendix J): per
    journey, runs entered, completed, abandoned and in progress, the funnel by step with
    drop-offs and times (median, p75, p90), each touchpoint against its target, and the
    journey's success as a whole. A journey whose touchpoints all meet their targets
    while the journey fails its own is flagged: WATERMELON (green outside, red inside).

    \b
    Examples:
      treatment events sample --journeys --until 2026-11-01 -o events.jsonl
      treatment journeys --events events.jsonl
      treatment journeys --db sqlite:///treatment.db --format json
      treatment journeys --events events.jsonl --by segment,arm \\
          --profiles customers.jsonl
    """
    from ..journeys.breakdown import summarize_by
    from ..journeys.summary import summarize
    from ..profiles import record_lines

    if (events_path is None) == (db_url is None):
        raise click.UsageError("give one of --events FILE or --db URL")
    by = _dimensions(by_text)
    if by and profiles_path is None:
        raise click.UsageError("--by needs --profiles FILE: the customers whose segment, stage, tier and arm it reads")
    as_of = _as_of(as_of_text)
    engine = load_engine(plan_dir, quiet=fmt != "table")
    plan = engine.plan
    if not plan.journeys:
        fail("this plan defines no journeys (a top-level 'journeys:' list in rules/)")
    measured = _in_duckdb(plan.journeys, events_path, db_url, as_of) if backend == "duckdb" and not by else None
    if measured is not None:
        found, reports = measured.events, measured.reports
    else:
        found = _read(plan.journeys, events_path, db_url, as_of)
        made = _runs(plan.journeys, found, backend)
        reports = [summarize(journey, made[journey.id], found.as_of) for journey in plan.journeys]
    breakdowns = None
    if by and profiles_path is not None:
        groups = _groups(engine, profiles_path, by, found.as_of)
        breakdowns = {j.id: summarize_by(j, made[j.id], found.as_of, groups, by) for j in plan.journeys}
    if as_of is None and found.read == found.passed_over + len(found.refused):
        kinds = ", ".join(sorted({kind for journey in plan.journeys for kind in journey.event_types}))
        source = "standard input" if events_path == "-" else events_path or "the log"
        click.echo(f"note: {source} holds no valid event of a type a journey reads ({kinds}): every journey is "
                   "empty, as of no event's time (give --as-of)", err=True)
    shown = found.refused[:5]
    lines = record_lines(events_path, (e.index for e in shown)) if events_path else {}
    for refused in shown:
        click.echo(f"{refused.where(events_path or 'the log', lines)} {refused.said()}", err=True)
    if len(found.refused) > 5:
        click.echo(f"... and {len(found.refused) - 5:,} more refused events", err=True)
    if report_path is not None:
        from ..journeys.html import write_report

        write_report(reports, found.as_of, report_path, breakdowns)
    _write(fmt, reports, found.as_of, breakdowns, output_path)


def _as_of(text: str | None) -> float | None:
    from ..moments.events import parse_timestamp

    if text is None:
        return None
    moment = parse_timestamp(text)
    if moment is None:
        raise click.BadParameter("not an ISO 8601 date or date-time", param_hint="--as-of")
    return moment


def _in_duckdb(journeys: Sequence[CompiledJourney], events_path: str | None, db_url: str | None,
               as_of: float | None) -> Measured | None:
    """The whole measurement inside DuckDB, for an events file it can read or the store's
    events written out as one (None: read the events in Python, as from standard input)."""
    if db_url is not None:
        from ..journeys.source import measure_stored

        log = open_log(db_url)  # a mistyped --db is refused, never made into an empty database
        try:
            return measure_stored(journeys, log.database.engine, as_of)
        finally:
            log.close()
    if events_path is None or events_path == "-" or not Path(events_path).is_file():
        return None
    from ..journeys.duckdb_file import measure_file

    return measure_file(journeys, events_path, as_of)


def _read(journeys: Sequence[CompiledJourney], events_path: str | None, db_url: str | None,
          as_of: float | None) -> JourneyEvents:
    from ..journeys import source

    if db_url is not None:
        log = open_log(db_url)  # a mistyped --db is refused, never made into an empty database
        try:
            return source.from_store(journeys, log.database.engine, as_of)
        finally:
            log.close()
    try:
        if events_path == "-":
            return source.from_lines(journeys, sys.stdin.buffer, as_of)
        with open(str(events_path), "rb") as stream:
            return source.from_lines(journeys, stream, as_of)
    except OSError as problem:
        fail(f"{problem.strerror}: {events_path}")


def _write(fmt: str, reports: list[JourneyReport], as_of: float, breakdowns: Breakdowns | None,
           output_path: Path | None) -> None:
    from ..journeys import output

    if fmt == "table":
        from rich.console import Console

        if output_path:
            with open(with_parent(output_path), "w", encoding="utf-8") as out:
                output.print_reports(reports, as_of, Console(file=out, width=80), breakdowns)
        else:
            output.print_reports(reports, as_of, breakdowns=breakdowns)
        return
    text = output.as_json(reports, as_of, breakdowns) + "\n" if fmt == "json" else output.as_csv(reports, breakdowns)
    if output_path:
        with_parent(output_path).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


def _runs(journeys: Sequence[CompiledJourney], found: JourneyEvents, backend: str) -> dict[str, list[Run]]:
    from ..journeys.reference import runs

    made: dict[str, list[Run]] = {}
    connection: Any = None
    for journey in journeys:
        events = found.by_journey[journey.id]
        if backend == "python":
            made[journey.id] = runs(journey, events, found.as_of)
        elif backend == "spark":
            connection = connection or _spark()
            from ..journeys.spark import spark_runs

            made[journey.id] = spark_runs(journey, events, found.as_of, connection)
        else:
            import duckdb

            from ..journeys.sql import duckdb_runs

            connection = connection or duckdb.connect()
            made[journey.id] = duckdb_runs(journey, events, found.as_of, connection)
    return made


def _dimensions(text: str | None) -> tuple[str, ...]:
    from ..journeys.breakdown import DIMENSIONS

    names = tuple(name.strip() for name in (text or "").split(",") if name.strip())
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown:
        raise click.BadParameter(f"unknown {', '.join(unknown)}: choose from {', '.join(DIMENSIONS)}",
                                 param_hint="--by")
    return names


def _groups(engine: Engine, path: str, by: Sequence[str], as_of: float) -> dict[str, Group]:
    from datetime import UTC, datetime

    from ..journeys.breakdown import groups_of
    from ..profiles import ProfileFileError, open_profiles

    day = datetime.fromtimestamp(as_of, UTC).date()
    with ExitStack() as stack:
        try:
            return groups_of(engine.decide_many(open_profiles(stack, path), day), by)
        except ProfileFileError as problem:  # its words name the file
            fail(str(problem))
        except OSError as problem:
            fail(f"{problem.strerror or problem}: {path}")


def _spark() -> Any:
    from ..sql.spark_backend import session

    try:
        return session()
    except ImportError:
        fail("the spark back end needs pyspark: pip install 'treatment-engine[spark]'")
