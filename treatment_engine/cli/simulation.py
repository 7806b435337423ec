"""Whole-base commands: ``treatment simulate`` and ``treatment diff``."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import click

from ..engine import utc_today
from ..errors import PlanError
from ..profiles import open_profiles
from .options import as_of_option, backend_option, choose_plan, history_option, plan_option
from .support import fail, limits_from_log, load_engine, profiles_or_sample, progress_bar


def _run_simulation(plan: Any, path: str, day: date, backend: str, input_format: str,
                    output: str | None, memory_limit: str, quiet: bool = False,
                    spark_master: str = "local[2]", limits: Any = None) -> Any:
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn

    from ..simulation import simulate_duckdb, simulate_python
    from ..sql.fragments import Unsupported

    with progress_bar(TextColumn("[progress.description]{task.description}"), BarColumn(),
                      TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), quiet=quiet) as bar:
        task = bar.add_task(f"deciding with {backend}", total=1.0, detail="")

        def progress(fraction: float | None, rows: int | None) -> None:
            if fraction is not None:
                bar.update(task, completed=fraction, detail=f"{fraction:.0%}")
            elif rows is not None:
                bar.update(task, total=None, detail=f"{rows:,} customers")

        if backend in ("duckdb", "spark"):
            try:
                if backend == "spark":
                    try:
                        from ..simulation import simulate_spark
                    except ImportError:
                        fail("the spark back end needs pyspark: pip install 'treatment-engine[spark]'")
                    return simulate_spark(plan, path, day, input_format, output, progress, spark_master, limits)
                return simulate_duckdb(plan, path, day, input_format, output, progress, memory_limit, limits)
            except Unsupported as reason:
                summary = simulate_python(plan, path, day, input_format, output, progress, limits)
                summary.notes.append(f"this plan ran on the python engine: SQL cannot express it exactly ({reason})")
                return summary
        return simulate_python(plan, path, day, input_format, output, progress, limits)


@click.command()
@plan_option
@click.option("--profiles", "profiles_path", metavar="FILE",
              help="Customers: Parquet, CSV or JSON lines (by suffix, or --input-format).")
@click.option("--sample", "sample_size", type=click.IntRange(min=1), metavar="N",
              help="Simulate N synthetic customers (treatment sample) instead of a file.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for --sample.")
@as_of_option
@backend_option(["duckdb", "spark", "python"], "duckdb", "duckdb: the plan compiled to SQL, embedded; spark: "
                "the same SQL on Apache Spark (pip install .[spark]); python: the in-process evaluator.")
@click.option("--spark-master", default="local[2]", show_default=True, metavar="URL",
              help="With --backend spark: local[N], or a cluster's master URL such as spark://host:7077.")
@click.option("--input-format", type=click.Choice(["auto", "jsonl", "csv", "parquet"]), default="auto",
              show_default=True, help="The format of --profiles; auto goes by the file's suffix.")
@click.option("--output", "-o", "output_path", metavar="FILE",
              help="Also write every decision to one file: .parquet, .csv or .jsonl, by the suffix (folders "
                   "are created). With a cluster --spark-master: a folder of Parquet part files.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), metavar="FILE.html",
              help="Write a self-contained HTML report with charts.")
@click.option("--memory-limit", default="1GB", show_default=True, help="DuckDB's memory limit.")
@history_option
@click.option("--quiet", "-q", is_flag=True,
              help="No progress bar and no tables: only --output, --report, notes and errors (for scripts).")
def simulate(plan_dir: Path | None, profiles_path: str | None, sample_size: int | None, seed: int,
             as_of: date | None, backend: str, spark_master: str, input_format: str,
             output_path: str | None, report_path: str | None, memory_limit: str, db_url: str | None,
             quiet: bool) -> None:
    """What a plan would do to a whole customer base.

    Decides every customer (DuckDB by default: the plan compiled to one SQL query,
    streaming, memory bounded by --memory-limit) and prints decisions by treatment,
    by rule, by segment x stage x tier, channel volumes and costs, delight spend by
    tier, customers left with no permitted channel, and invalid profiles.

    \b
    Examples:
      treatment simulate --profiles examples/customers.jsonl --as-of 2026-11-01
      treatment simulate --sample 100000 --report out/report.html
      treatment simulate --profiles base.parquet --output out/decisions.parquet
      treatment simulate --profiles base.parquet --backend spark \\
          --spark-master spark://host:7077
      treatment simulate -q --profiles base.parquet --output out/decisions.parquet
    """
    engine = load_engine(plan_dir, quiet=quiet)
    day = as_of or utc_today()
    with ExitStack() as stack:
        path = profiles_or_sample(stack, profiles_path, sample_size, seed, day, quiet, backend, input_format)
        summary = _run_simulation(engine.plan, path, day, backend, input_format, output_path, memory_limit,
                                  quiet=quiet, spark_master=spark_master,
                                  limits=limits_from_log(engine.plan, db_url, day))
    if quiet:
        for note in summary.notes:  # a note changes what the numbers mean: never silenced
            click.echo(f"note: {note}", err=True)
    else:
        from ..report import print_simulation
        print_simulation(summary)
    if report_path:
        from ..html_report import write_report
        write_report(summary, Path(report_path))
        if not quiet:
            click.echo(f"report written to {report_path}", err=True)


@click.command("diff")
@click.option("--base", "base_ref", required=True, metavar="PLAN_DIR|git:REV",
              help="The plan in production: a directory, or git:REV for --plan as it was at a git revision.")
@plan_option
@click.option("--profiles", "profiles_path", metavar="FILE", help="Customers: Parquet, CSV or JSON lines.")
@click.option("--sample", "sample_size", type=click.IntRange(min=1), metavar="N", help="N synthetic customers.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for --sample.")
@as_of_option
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True,
              help="Rows per table (text only: JSON and the report hold every row).")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: tables for people; json: one object with every transition, for scripts.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), metavar="FILE.html",
              help="Also write a self-contained HTML report of the diff.")
@backend_option(["duckdb", "python"], "duckdb",
                "duckdb: each plan decides the file as one SQL query (as simulate does) and one join compares "
                "them; python: the in-process evaluator, a batch of customers at a time. Both find the same.")
def diff_command(base_ref: str, plan_dir: Path | None, profiles_path: str | None, sample_size: int | None,
                 seed: int, as_of: date | None, top: int, output_format: str, report_path: str | None,
                 backend: str) -> None:
    """What changes for customers if the new plan ships.

    Decides every customer with both plans and shows the transitions (from
    rule/treatment to rule/treatment, with counts and an example customer), how many
    customers' channels change, the cost delta, and the rules that gain or lose most.
    When nothing changes it says so.

    \b
    Examples:
      treatment diff --base git:HEAD~1 --profiles customers.jsonl
      treatment diff --base plans/live --plan plans/candidate --sample 50000 \\
          --report out/diff.html
      treatment diff --base git:main --sample 10000 --format json > diff.json
    """
    import json

    from ..plandiff import diff_plans, load_base
    from ..report import print_diff

    choice = choose_plan(plan_dir)
    new = load_engine(choice).plan
    try:
        base = load_base(base_ref, choice.path)
    except PlanError:
        # Its problems are located in its own files, which the new plan just announced
        # may hold under the same names: say whose they are.
        click.echo(f"the base plan (--base {base_ref}) does not load; its problems:", err=True)
        raise
    day = as_of or utc_today()
    with ExitStack() as stack:
        path = profiles_or_sample(stack, profiles_path, sample_size, seed, day, backend=backend)
        if backend == "duckdb":
            from ..sql.plan_diff import diff_duckdb
            result = diff_duckdb(base, new, path, day)
        else:
            result = diff_plans(base, new, open_profiles(stack, path), day)
    if output_format == "json":
        click.echo(json.dumps(result.as_json(day), indent=2))
    else:
        print_diff(result, day.isoformat(), top)
    if report_path:
        from ..html_report import write_diff_report
        write_diff_report(result, day.isoformat(), Path(report_path))
        click.echo(f"report written to {report_path}", err=True)
