"""``treatment measure``: outcomes joined to decisions, per experiment arm (appendix I)."""

from __future__ import annotations

import os
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..outputs import with_parent
from .options import backend_option, plan_option
from .support import fail, load_engine

if TYPE_CHECKING:
    from ..compile import CompiledPlan
    from ..measure.attribution import Measured
    from ..measure.curves import Curves


@click.command()
@plan_option
@click.option("--decisions", "decisions_source", required=True, metavar="FILE|URL",
              help="A decisions file from simulate or decide (.jsonl, .csv, .parquet), or a decision log's "
                   "database URL (sqlite:///treatment.db, postgresql+psycopg://...).")
@click.option("--events", "events_path", metavar="FILE", help="Outcome events, JSON lines (as treatment events reads).")
@click.option("--db", "events_db", metavar="URL", help="Read the outcome events the service stored in this log instead.")
@click.option("--as-of", "as_of_text", metavar="DATE|TIME",
              help="Measure as of this instant (a date is its 00:00 UTC); windows not closed by then are left out. "
                   "Default: now.")
@backend_option(["duckdb", "spark", "python"], "duckdb", "duckdb: one SQL query over the files; spark: the same "
                "steps in Spark SQL (pip install .[spark]); python: the plain reference implementation.")
@click.option("--spark-master", default="local[2]", show_default=True, metavar="URL",
              help="With --backend spark: local[N], or a cluster's master URL.")
@click.option("--by", "by_text", metavar="DIMENSIONS",
              help="Also split results by segment, lifecycle_stage and/or value_tier (comma-separated), "
                   "each customer in the cell of their first decision (a decision logged before the log kept "
                   "cells counts as '-').")
@click.option("--format", "output_format", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="How to print the results.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the results as one HTML file: per metric a forest plot of each rule's change "
                   "with its interval, ROI bars, the metric over the days after the decision per arm, and flags.")
@click.option("--write-evidence", "evidence_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write, per delight rule and per segment x stage x tier cell, the measured incremental "
                   "value and its standard error: the evidence the profitability guard reads (appendix K). Put "
                   "it in the plan's evidence/ folder.")
@click.option("--evidence-metric", metavar="ID",
              help="With --write-evidence: the metric (default: the guard's, or the only one with a value).")
@click.option("--evidence-version", metavar="VERSION",
              help="With --write-evidence: the plan version measured (default: the one with most customers).")
def measure(plan_dir: Path | None, decisions_source: str, events_path: str | None, events_db: str | None,
            as_of_text: str | None, backend: str, spark_master: str, by_text: str | None, output_format: str,
            report_path: Path | None, evidence_path: Path | None, evidence_metric: str | None,
            evidence_version: str | None) -> None:
    """Measure results: each experiment's arms compared on the plan's metrics.

    Every customer counts once per experiment, from their first decision in it, in
    the arm it assigned; a metric's window starts at that decision and must have
    closed by --as-of. For each rule and arm: the change against the control with its
    95% interval and Holm-corrected p-value, value and cost per treated customer,
    ROI, a sample-ratio check and a verdict.

    \b
    Examples:
      treatment measure --decisions decisions.jsonl --events outcomes.jsonl \\
          --as-of 2027-03-01
      treatment measure --decisions decisions.jsonl --events outcomes.jsonl \\
          --report results.html
      treatment measure --decisions sqlite:///treatment.db \\
          --db sqlite:///treatment.db --format json
      treatment measure --decisions decisions.parquet --events outcomes.jsonl \\
          --write-evidence evidence/revenue_90d.json --evidence-metric revenue_90d
    """
    from ..measure.inputs import MeasureInputError, parse_instant

    engine = load_engine(plan_dir)
    plan = engine.plan
    if not plan.metrics:
        fail("the plan has no metrics: add a metrics: list (docs/plan-format.md, appendix I)", 2)
    if (events_path is None) == (events_db is None):
        fail("give the outcome events with --events FILE or --db URL (one of them)", 2)
    if evidence_path is None and (evidence_metric or evidence_version):
        option = "--evidence-metric" if evidence_metric else "--evidence-version"
        fail(f"{option} says what --write-evidence FILE writes: give --write-evidence too", 2)
    from ..measure.attribution import BY_DIMENSIONS

    by = tuple(dict.fromkeys(part.strip() for part in (by_text or "").split(",") if part.strip()))  # each once
    unknown = [name for name in by if name not in BY_DIMENSIONS]
    if unknown:
        fail(f"--by takes {', '.join(BY_DIMENSIONS)}; not {', '.join(unknown)}", 2)
    as_of = time.time() if as_of_text is None else parse_instant(as_of_text)
    if as_of is None:
        fail(f"--as-of {as_of_text!r} is not a date (YYYY-MM-DD) or an ISO 8601 date-time", 2)
    temporary = None
    try:
        if events_db is not None:
            from ..measure.inputs import log_events_file
            events_path = temporary = log_events_file(events_db, plan.event_types)
        measured, drawn = _measure(plan, decisions_source, events_path or "", as_of, backend, spark_master, by,
                                   curves=report_path is not None)
        if evidence_path is not None:
            from ..measure.attribution import BY_DIMENSIONS

            by_cell = measured if by == BY_DIMENSIONS else _measure(
                plan, decisions_source, events_path or "", as_of, backend, spark_master, BY_DIMENSIONS)[0]
            _write_evidence(plan, evidence_path, evidence_metric, evidence_version, by_cell)
        if report_path is not None:
            _write_report(plan, measured, drawn, decisions_source, events_path or "", as_of, report_path, backend)
    except MeasureInputError as error:
        fail(str(error))
    finally:
        if temporary is not None:
            os.unlink(temporary)
    _print(plan, measured, output_format)


def _measure(plan: CompiledPlan, source: str, events_path: str, as_of: float, backend: str, master: str,
             by: tuple[str, ...], curves: bool = False) -> tuple[Measured, Curves | None]:
    """What was measured; with ``curves``, on DuckDB, the report's curves too, drawn from the
    same reading of the inputs (None where the report must draw them itself)."""
    from ..measure import inputs

    is_url = "://" in source
    if backend == "python":
        from ..measure.attribution import measure_python
        decisions = inputs.read_log_decisions(source) if is_url else inputs.read_decision_file(source)
        return measure_python(plan, decisions, inputs.read_event_file(events_path), as_of, by), None
    if not Path(events_path).is_file():
        raise inputs.MeasureInputError(f"no events file at {events_path}")
    if not is_url and not Path(source).is_file():
        raise inputs.MeasureInputError(f"no decisions file at {source}")
    # The log's decisions stream in batches (memory does not grow with the log).
    with inputs.streamed_log_decisions(source) if is_url else nullcontext(source) as handed:
        if backend == "spark":
            try:
                from ..measure.spark_stats import measure_spark
            except ImportError:
                fail("the spark back end needs pyspark: pip install 'treatment-engine[spark]'")
            return measure_spark(plan, handed, events_path, as_of, master=master, by=by), None
        import duckdb

        from ..measure.curves_sql import measure_with_curves_duckdb
        from ..measure.duckdb_stats import measure_duckdb
        try:
            if curves:
                return measure_with_curves_duckdb(plan, handed, events_path, as_of, by=by)
            return measure_duckdb(plan, handed, events_path, as_of, by=by), None
        except duckdb.Error as error:
            if not is_url:  # the reference reader says what is wrong with a decisions file, and where
                inputs.refuse_unreadable_decisions(source)
            raise inputs.MeasureInputError(f"DuckDB could not read the inputs: {str(error).splitlines()[0]}") from None


def _write_evidence(plan: CompiledPlan, path: Path, metric_id: str | None, version: str | None,
                    by_cell: Measured) -> None:
    import json

    from ..measure.evidence_file import EvidenceError, evidence_for, evidence_metric

    try:
        metric = evidence_metric(plan, metric_id)
        document = evidence_for(plan, metric, by_cell, version)
    except EvidenceError as error:
        fail(f"--write-evidence: {error}", 2)
    with_parent(path).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    click.echo(f"evidence of {metric.id} for {len(document['rules'])} delight rule(s), plan version "
               f"{document['plan_version']}, written to {path} (the guard reads it from the plan's evidence/ "
               "folder: docs/plan-format.md, appendix K)", err=True)


def _write_report(plan: CompiledPlan, measured: Measured, drawn: Curves | None, source: str, events_path: str,
                  as_of: float, path: Path, backend: str) -> None:
    """``drawn``: the curves, if drawn with the measurement; else drawn here."""
    from ..measure.report import write_results_report
    from ..measure.results import compare
    from ..moments.events import iso

    if drawn is None:
        drawn = _curves(plan, source, events_path, as_of, backend)
    write_results_report(path, plan, compare(plan, measured), drawn, iso(as_of))
    click.echo(f"results report written to {path}", err=True)


def _curves(plan: CompiledPlan, source: str, events_path: str, as_of: float, backend: str) -> Curves:
    from ..measure import inputs

    is_url = "://" in source
    if backend == "python":
        from ..measure.curves import curves

        decisions = inputs.read_log_decisions(source) if is_url else inputs.read_decision_file(source)
        return curves(plan, decisions, inputs.read_event_file(events_path), as_of)
    # --backend spark: drawn inside DuckDB (the curves are a sample of at most a few
    # thousand customers per arm), so the report needs no more memory than measuring.
    from ..measure.curves_sql import curves_duckdb

    with inputs.streamed_log_decisions(source) if is_url else nullcontext(source) as handed:
        return curves_duckdb(plan, handed, events_path, as_of)


def _print(plan: CompiledPlan, measured: Measured, output_format: str) -> None:
    from ..measure.output import print_results, to_csv, to_json
    from ..measure.results import compare

    comparisons = compare(plan, measured)
    if output_format == "json":
        click.echo(to_json(comparisons))
    elif output_format == "csv":
        click.echo(to_csv(comparisons), nl=False)
    else:
        from rich.console import Console
        print_results(comparisons, Console())


def write_outcomes(plan_dir: Path | None, decisions_path: str, seed: int, output: Path | None,
                   truth_path: Path | None) -> None:
    """``treatment sample --outcomes``: seeded outcome events for a decisions file, and the truth."""
    import dataclasses
    import json
    import sys

    import orjson

    from ..measure.inputs import MeasureInputError, read_decision_file
    from ..measure.synthetic import draw_effects, outcome_events, truths

    plan = load_engine(plan_dir, quiet=True).plan
    if not plan.metrics:
        fail("the plan has no metrics to draw outcomes for (docs/plan-format.md, appendix I)", 2)
    try:
        decisions = list(read_decision_file(decisions_path))
    except MeasureInputError as error:
        fail(str(error))
    effects = draw_effects(plan, seed)
    stream = open(output, "wb") if output is not None else sys.stdout.buffer  # noqa: SIM115
    try:
        for event in outcome_events(plan, decisions, effects, seed):
            stream.write(orjson.dumps(event) + b"\n")
    finally:
        if output is not None:
            stream.close()
    if truth_path is not None:
        versions = sorted({d.plan_version for d in decisions})
        with_parent(truth_path).write_text(json.dumps([dataclasses.asdict(t) for t in truths(plan, versions, effects)], indent=1))
