"""The ``treatment`` command: a thin click adapter over :class:`Engine`.

Argument parsing, files and printing live here; every decision is the engine's.
Plan errors print as ``path:line:col: code: message`` lines with exit status 2 and
no traceback; unreadable inputs print one line and exit 1.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from .decision import Decision, DecisionError
from .engine import Engine, utc_today
from .errors import PlanError, ProfileError, TreatmentError
from .evaluate import decide_or_error
from .profiles import Unreadable, dumps, parse_json_line, read_csv, read_jsonl

PLAN_ENV = "TREATMENT_PLAN"


def default_plan_dir() -> Path:
    """Where a plan is looked for when ``--plan`` is not given.

    ``$TREATMENT_PLAN``; else the current directory if it holds a plan; else the plan
    bundled at the root of this repository.
    """
    if os.environ.get(PLAN_ENV):
        return Path(os.environ[PLAN_ENV])
    here = Path.cwd()
    if (here / "rules").is_dir() or (here / "segments").is_dir():
        return here
    return Path(__file__).resolve().parent.parent


class _Group(click.Group):
    """Turns the engine's own errors into clean messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PlanError as error:
            for line in error.lines():
                click.echo(line, err=True)
            click.echo(f"the plan was not loaded: {len(error.issues)} problem"
                       f"{'s' if len(error.issues) != 1 else ''}", err=True)
            ctx.exit(PlanError.exit_code)
        except TreatmentError as error:
            _fail(str(error))
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as error:
            _fail(f"{error.strerror or error}: {error.filename}" if error.filename else str(error))


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


plan_option = click.option(
    "--plan", "plan_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Plan directory (holding segments/ and rules/). Default: $TREATMENT_PLAN, the "
         "current directory if it is a plan, else the bundled default plan.")
as_of_option = click.option(
    "--as-of", callback=_as_of, metavar="YYYY-MM-DD",
    help="The day decisions are made for (default: today, UTC). Fix it to reproduce a run.")


def _engine(plan_dir: Path | None) -> Engine:
    return Engine.load(plan_dir or default_plan_dir())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="treatment-engine")
def cli() -> None:
    """Decide how to treat each customer from a treatment plan.

    A plan is a directory of YAML: segments/ says who a customer is (segment,
    lifecycle stage, value tier), rules/ says what to do (delight, contain or leave
    alone, with which actions over which channels).

    \b
    Examples:
      treatment validate --plan my-plan
      treatment decide --profiles customers.jsonl --as-of 2026-11-01
      treatment explain --profile '{"customer_id": "c1", "annual_value": 900}'
      treatment sample --n 1000 --seed 7 --output customers.jsonl
    """


# -- decide ------------------------------------------------------------------------

@cli.command()
@plan_option
@click.option("--profiles", "profiles_path", required=True, metavar="FILE",
              help="Profiles: JSON lines (one object a line), CSV with a header row "
                   "(by the .csv suffix or --input-format), or - for standard input.")
@as_of_option
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write decisions here (JSON lines) instead of standard output.")
@click.option("--input-format", type=click.Choice(["auto", "jsonl", "csv", "parquet"]), default="auto",
              show_default=True, help="How to read --profiles; auto goes by the file suffix.")
@click.option("--stats/--no-stats", default=False,
              help="After the run, print tables of decisions by treatment and by rule.")
@click.option("--quiet", "-q", is_flag=True, help="No summary line on standard error.")
@click.option("--engine", "engine_name", type=click.Choice(["python", "duckdb"]), default="python",
              show_default=True, help="python: the in-process evaluator; duckdb: the plan compiled to SQL "
                                      "(files only, not standard input).")
def decide(plan_dir: Path | None, profiles_path: str, as_of: date | None, output_path: Path | None,
           input_format: str, stats: bool, quiet: bool, engine_name: str) -> None:
    """Decide a treatment for every profile in a file.

    Writes one JSON decision per input profile, in input order. A profile that
    cannot be decided (not an object, no customer_id, an unknown given segment)
    gets {"customer_id": ..., "error": "..."} and the batch goes on.

    \b
    Examples:
      treatment decide --profiles examples/customers.jsonl --as-of 2026-11-01 -o out.jsonl
      treatment decide --plan my-plan --profiles customers.csv --stats
      cat customers.jsonl | treatment decide --profiles - > decisions.jsonl
    """
    engine = _engine(plan_dir)
    day = as_of or utc_today()
    ordinal, text = day.toordinal(), day.isoformat()
    counts: Counter[str] = Counter()
    by_rule: Counter[tuple[str, str]] = Counter()
    started = time.perf_counter()
    with ExitStack() as stack:
        items: Iterable[Any]
        if engine_name == "duckdb":
            if profiles_path == "-":
                raise click.UsageError("--engine duckdb reads files; use --engine python for standard input")
            from .sql.duckdb_engine import DuckDBEngine
            items = _sql_results(DuckDBEngine(engine.plan).records(profiles_path, day, input_format))
        else:
            items = _open_profiles(stack, profiles_path, input_format)
        out: IO[bytes] = (stack.enter_context(open(output_path, "wb")) if output_path
                          else sys.stdout.buffer)
        write = out.write
        for item in items:
            if isinstance(item, (Decision, DecisionError)):
                result: Decision | DecisionError = item
            elif isinstance(item, Unreadable):
                result = DecisionError(customer_id=None, error=item.reason)
            else:
                result = decide_or_error(engine.plan, item, ordinal, text)
            if isinstance(result, DecisionError):
                counts["invalid"] += 1
            else:
                counts["decided"] += 1
                if stats:
                    by_rule[(result.treatment, result.rule)] += 1
            write(dumps(result.to_record()))
        out.flush()
    elapsed = time.perf_counter() - started
    total = counts["decided"] + counts["invalid"]
    if not quiet:
        rate = f", {total / elapsed:,.0f}/s" if elapsed > 0 and total else ""
        click.echo(f"decided {counts['decided']:,}, invalid {counts['invalid']:,} in "
                   f"{elapsed:.2f} s{rate} (plan {engine.version}, as of {text})", err=True)
    if stats:
        from .report import print_decision_stats
        print_decision_stats(by_rule, counts["invalid"])


def _sql_results(records: Iterable[dict[str, Any]]) -> Iterable[Decision | DecisionError]:
    from .decision import fast_decision
    for record in records:
        if "error" in record:
            yield DecisionError(customer_id=record["customer_id"], error=record["error"])
        else:
            record["actions"], record["channels"] = tuple(record["actions"]), tuple(record["channels"])
            record["trace"] = None
            yield fast_decision(record)


def _open_profiles(stack: ExitStack, path: str, input_format: str) -> Iterable[Any]:
    fmt = input_format
    if fmt == "auto":
        fmt = "csv" if path.lower().endswith(".csv") else "parquet" if path.lower().endswith(".parquet") else "jsonl"
    if fmt == "parquet":
        from .profiles import read_parquet
        return read_parquet(path)
    if fmt == "csv":
        text_stream = (sys.stdin if path == "-" else
                       stack.enter_context(open(path, encoding="utf-8", newline="")))  # noqa: SIM115
        return read_csv(text_stream)
    binary = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))  # noqa: SIM115
    return read_jsonl(binary)


# -- validate ----------------------------------------------------------------------

@cli.command()
@plan_option
def validate(plan_dir: Path | None) -> None:
    """Check a plan and summarise it, or list every problem as path:line:col.

    Exit status 0 for a valid plan, 2 for a plan that would not load.

    \b
    Example:
      treatment validate --plan my-plan
    """
    engine = _engine(plan_dir)
    counts = ", ".join(f"{n} {what}" for what, n in engine.plan.counts().items())
    click.echo(f"valid plan {engine.version}: {counts}")


# -- explain -----------------------------------------------------------------------

@cli.command()
@plan_option
@click.option("--profile", "profile_json", metavar="JSON", help="One profile as a JSON object.")
@click.option("--profiles", "profiles_path", metavar="FILE",
              help="Read the profile from this file (JSON lines or CSV); use with --customer.")
@click.option("--customer", "customer_id", metavar="ID", help="The customer_id to explain from --profiles.")
@as_of_option
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="text for people, json for machines.")
def explain(plan_dir: Path | None, profile_json: str | None, profiles_path: str | None,
            customer_id: str | None, as_of: date | None, output_format: str) -> None:
    """Show why a customer gets their treatment.

    Prints how segment, lifecycle stage and value tier were resolved, then every
    rule in evaluation order: decided, not matched (and which constraint failed),
    skipped (unprofitable, or no permitted channel), or not reached.

    \b
    Examples:
      treatment explain --profile '{"customer_id": "c1", "annual_value": 2400, "nps": 4}'
      treatment explain --profiles examples/customers.jsonl --customer c000042
    """
    if (profile_json is None) == (profiles_path is None):
        raise click.UsageError("give either --profile JSON or --profiles FILE --customer ID")
    if profile_json is not None:
        try:
            profile = parse_json_line(profile_json)
        except ValueError as error:
            raise click.BadParameter(f"not valid JSON: {error}", param_hint="--profile") from None
    else:
        if not customer_id:
            raise click.UsageError("--profiles needs --customer ID to say which profile to explain")
        profile = _find_profile(profiles_path or "", customer_id)
    engine = _engine(plan_dir)
    try:
        decision = engine.explain(profile, as_of)
    except ProfileError as error:
        _fail(f"this profile cannot be decided: {error.message}")
    if output_format == "json":
        click.echo(decision.model_dump_json(indent=2))
        return
    from .report import print_explanation
    print_explanation(decision)


def _find_profile(path: str, customer_id: str) -> Any:
    with ExitStack() as stack:
        for item in _open_profiles(stack, path, "auto"):
            if isinstance(item, dict) and item.get("customer_id") == customer_id:
                return item
    _fail(f"no profile with customer_id {customer_id!r} in {path}")


# -- sample ------------------------------------------------------------------------

@cli.command()
@click.option("--n", "count", type=click.IntRange(min=0), default=1000, show_default=True,
              help="How many customers to make.")
@click.option("--seed", type=int, default=7, show_default=True,
              help="Random seed: the same seed makes the same customers.")
@as_of_option
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (.jsonl or .csv by suffix) instead of standard output (JSON lines).")
def sample(count: int, seed: int, as_of: date | None, output_path: Path | None) -> None:
    """Make synthetic customers for the default plan, reproducibly.

    Dates are spread around --as-of so that every lifecycle stage occurs, and the
    mix reaches every rule of the bundled plan.

    \b
    Example:
      treatment sample --n 1000 --seed 7 --as-of 2026-11-01 -o examples/customers.jsonl
    """
    from .sample import generate, write_csv

    customers = generate(count, seed=seed, as_of=as_of or utc_today())
    if output_path is not None and output_path.suffix.lower() == ".csv":
        with open(output_path, "w", encoding="utf-8", newline="") as stream:
            write_csv(customers, stream)
        return
    with ExitStack() as stack:
        out = stack.enter_context(open(output_path, "wb")) if output_path else sys.stdout.buffer
        for customer in customers:
            out.write(dumps(customer))


def main() -> None:
    """Entry point of the ``treatment`` console script."""
    cli(prog_name="treatment")


# -- authoring tools -----------------------------------------------------------------

@cli.command()
@plan_option
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="text for people, json for scripts, sarif for code scanning.")
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings (errors always exit 2).")
def lint(plan_dir: Path | None, output_format: str, strict: bool) -> None:
    """Find plan mistakes before customers see them.

    Checks for cells only the default can decide (TP001), rules that can never
    decide (TP002), equal-priority rules that compete (TP003), delight that never
    passes the policy (TP004), rules with no reachable channel (TP005), actions of the
    wrong kind (TP006), unused or unreachable definitions (TP007, TP008), and, when the
    plan declares its `fields:`, unknown fields and impossible comparisons (TP009,
    TP010). Each finding has path:line:col, a stable code and a fix hint.

    Exit status: 0 clean (notes allowed), 1 warnings with --strict, 2 errors.

    \b
    Examples:
      treatment lint --plan my-plan
      treatment lint --plan my-plan --strict --format sarif > lint.sarif
    """
    from .lint import lint_plan
    from .lint.output import as_json, as_sarif, as_text

    root = plan_dir or default_plan_dir()
    report = lint_plan(root)
    if output_format == "json":
        click.echo(as_json(report))
    elif output_format == "sarif":
        click.echo(as_sarif(report, root))
    else:
        click.echo(as_text(report))
    sys.exit(report.exit_code(strict=strict))


@cli.command()
def schema() -> None:
    """Print the JSON Schema of a plan file, for editors.

    Point your YAML language server at it (VS Code's YAML extension, for one) with a
    first line in each plan file:

    \b
      # yaml-language-server: $schema=../docs/plan-schema.json

    \b
    Example:
      treatment schema > docs/plan-schema.json
    """
    import json

    from .schema import plan_file_schema
    click.echo(json.dumps(plan_file_schema(), indent=2))


@cli.command("test")
@plan_option
@as_of_option
@click.option("--verbose", "-v", is_flag=True, help="List passing cases too.")
def run_tests(plan_dir: Path | None, as_of: date | None, verbose: bool) -> None:
    """Run the plan's own tests (tests/*.yaml in the plan) and report rule coverage.

    Each case gives a profile and the decision fields it expects; a failure shows
    expected against actual. Coverage lists the rules no case made decide.
    Exit status 0 when every case passes, 1 when one fails, 2 for a broken plan or test file.

    \b
    Example:
      treatment test --plan my-plan
    """
    from .plantests import load_cases, run_cases

    root = plan_dir or default_plan_dir()
    engine = _engine(root)
    cases = load_cases(root, as_of or utc_today())
    if not cases:
        _fail(f"no tests found: add tests/*.yaml to {root}")
    run = run_cases(engine, cases)
    for result in run.results:
        name = result.loaded.case.name
        if result.passed:
            if verbose:
                click.echo(f"PASS {name}")
            continue
        click.secho(f"FAIL {name}  ({result.loaded.location})", fg="red")
        for key, (want, got) in result.mismatches.items():
            click.echo(f"    {key}: expected {want!r}")
            click.echo(f"    {' ' * len(key)}  actual   {got!r}")
    covered = len(run.rules) - len(run.uncovered)
    click.echo(f"rule coverage: {covered}/{len(run.rules)} ({covered / len(run.rules):.0%})"
               + (f"; never decided: {', '.join(run.uncovered)}" if run.uncovered else ""))
    failed = len(run.failed)
    click.echo(f"{len(run.results) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Start a new plan: segments, a catalog, two rules and a test, linting clean.

    \b
    Example:
      treatment init my-plan && treatment test --plan my-plan
    """
    from .scaffold import write_scaffold

    if directory.exists() and any(directory.iterdir()):
        _fail(f"{directory} is not empty; choose a new directory")
    for path in write_scaffold(directory):
        click.echo(f"created {path}")
    click.echo(f"next: treatment lint --plan {directory} && treatment test --plan {directory}")


# -- simulation ----------------------------------------------------------------------

def _profiles_or_sample(stack: ExitStack, profiles_path: str | None, sample_size: int | None, seed: int,
                        day: date) -> str:
    if (profiles_path is None) == (sample_size is None):
        raise click.UsageError("give either --profiles FILE or --sample N")
    if profiles_path is not None:
        if not Path(profiles_path).is_file():
            _fail(f"no such profiles file: {profiles_path}")
        return profiles_path
    from .sample import generate

    scratch = Path(stack.enter_context(__import__("tempfile").TemporaryDirectory(prefix="treatment-")))
    target = scratch / "sample.jsonl"
    with open(target, "wb") as out:
        for customer in generate(sample_size or 0, seed=seed, as_of=day):
            out.write(dumps(customer))
    return str(target)


def _run_simulation(plan: Any, path: str, day: date, engine_name: str, input_format: str,
                    output: str | None, memory_limit: str, quiet: bool = False,
                    spark_master: str = "local[2]") -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from .simulation import simulate_duckdb, simulate_python
    from .sql.values import Unsupported

    console = Console(stderr=True)
    with Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                  TextColumn("{task.fields[detail]}"), TimeElapsedColumn(), console=console,
                  transient=True, disable=quiet) as bar:
        task = bar.add_task(f"deciding with {engine_name}", total=1.0, detail="")

        def progress(fraction: float | None, rows: int | None) -> None:
            if fraction is not None:
                bar.update(task, completed=fraction, detail=f"{fraction:.0%}")
            elif rows is not None:
                bar.update(task, total=None, detail=f"{rows:,} customers")

        if engine_name in ("duckdb", "spark"):
            try:
                if engine_name == "spark":
                    try:
                        from .simulation import simulate_spark
                    except ImportError:
                        _fail("the spark engine needs pyspark: pip install 'treatment-engine[spark]'")
                    return simulate_spark(plan, path, day, input_format, output, progress, spark_master)
                return simulate_duckdb(plan, path, day, input_format, output, progress, memory_limit)
            except Unsupported as reason:
                summary = simulate_python(plan, path, day, input_format, output, progress)
                summary.notes.append(f"this plan ran on the python engine: SQL cannot express it exactly ({reason})")
                return summary
        return simulate_python(plan, path, day, input_format, output, progress)


@cli.command()
@plan_option
@click.option("--profiles", "profiles_path", metavar="FILE",
              help="Customers: Parquet, CSV or JSON lines (by suffix, or --input-format).")
@click.option("--sample", "sample_size", type=click.IntRange(min=1), metavar="N",
              help="Simulate N synthetic customers (treatment sample) instead of a file.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for --sample.")
@as_of_option
@click.option("--engine", "engine_name", type=click.Choice(["duckdb", "spark", "python"]), default="duckdb",
              show_default=True, help="duckdb: the plan compiled to SQL, embedded; spark: the same SQL on "
                                      "Apache Spark (pip install .[spark]); python: the in-process evaluator.")
@click.option("--spark-master", default="local[2]", show_default=True, metavar="URL",
              help="With --engine spark: local[N], or a cluster's master URL such as spark://host:7077.")
@click.option("--input-format", type=click.Choice(["auto", "jsonl", "csv", "parquet"]), default="auto",
              show_default=True)
@click.option("--output", "-o", "output_path", metavar="FILE",
              help="Also write every decision: .parquet, .csv or .jsonl.")
@click.option("--report", "report_path", metavar="FILE.html",
              help="Write a self-contained HTML report with charts.")
@click.option("--memory-limit", default="1GB", show_default=True, help="DuckDB's memory limit.")
def simulate(plan_dir: Path | None, profiles_path: str | None, sample_size: int | None, seed: int,
             as_of: date | None, engine_name: str, spark_master: str, input_format: str,
             output_path: str | None, report_path: str | None, memory_limit: str) -> None:
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
      treatment simulate --profiles base.parquet --engine spark --spark-master spark://host:7077
    """
    engine = _engine(plan_dir)
    day = as_of or utc_today()
    with ExitStack() as stack:
        path = _profiles_or_sample(stack, profiles_path, sample_size, seed, day)
        summary = _run_simulation(engine.plan, path, day, engine_name, input_format, output_path, memory_limit,
                                  spark_master=spark_master)
    from .report import print_simulation
    print_simulation(summary)
    if report_path:
        from .html_report import write_report
        write_report(summary, Path(report_path))
        click.echo(f"report written to {report_path}", err=True)


@cli.command("diff")
@click.option("--base", "base_ref", required=True, metavar="PLAN_DIR|git:REV",
              help="The plan in production: a directory, or git:REV for --plan as it was at a git revision.")
@plan_option
@click.option("--profiles", "profiles_path", metavar="FILE", help="Customers: Parquet, CSV or JSON lines.")
@click.option("--sample", "sample_size", type=click.IntRange(min=1), metavar="N", help="N synthetic customers.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for --sample.")
@as_of_option
@click.option("--top", type=click.IntRange(min=1), default=15, show_default=True, help="Rows per table.")
def diff_command(base_ref: str, plan_dir: Path | None, profiles_path: str | None, sample_size: int | None,
                 seed: int, as_of: date | None, top: int) -> None:
    """What changes for customers if the new plan ships.

    Decides every customer with both plans and shows the transitions (from
    rule/treatment to rule/treatment, with counts and an example customer), how many
    customers' channels change, the cost delta, and the rules that gain or lose most.

    \b
    Examples:
      treatment diff --base git:HEAD~1 --profiles examples/customers.jsonl --as-of 2026-11-01
      treatment diff --base plans/live --plan plans/candidate --sample 50000
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .plandiff import diff_plans, load_base
    from .simulation import input_format, profiles_from

    root = plan_dir or default_plan_dir()
    new = _engine(root).plan
    base = load_base(base_ref, root)
    day = as_of or utc_today()
    with ExitStack() as stack:
        path = _profiles_or_sample(stack, profiles_path, sample_size, seed, day)
        items = [i for i in profiles_from(path, input_format(path)) if not isinstance(i, Unreadable)]
        result = diff_plans(base, new, items, day)
    console = Console()
    console.print(f"base plan {result.base_version} -> new plan {result.new_version}, as of {day.isoformat()}")
    decided = result.total - result.invalid
    console.print(f"{result.total:,} customers: {result.changed:,} change treatment, rule, actions or channels "
                  f"({result.changed / (decided or 1):.1%}); {result.unchanged:,} unchanged; "
                  f"{result.invalid:,} invalid")
    delta = result.new_cost - result.base_cost
    console.print(f"channels change for {result.channels_changed:,}; cost {result.base_cost:,.2f} -> "
                  f"{result.new_cost:,.2f} ({delta:+,.2f}, {delta / (decided or 1):+,.3f} per customer)")
    table = Table(title="Transitions (base -> new)", title_justify="left")
    for column in ("from (base)", "to (new)", "customers", "e.g."):
        table.add_column(column, justify="right" if column == "customers" else "left")
    for key, count in result.transitions.most_common(top):
        table.add_row(Text(f"{key[0]} ({key[1]})"), Text(f"{key[2]} ({key[3]})"), f"{count:,}",
                      Text(result.examples[key]))
    console.print(table)
    movers = Table(title="Rules that gain or lose the most customers", title_justify="left")
    movers.add_column("rule")
    movers.add_column("change", justify="right")
    for rule, change in sorted(result.rule_counts.items(), key=lambda i: -abs(i[1]))[:top]:
        if change:
            movers.add_row(Text(rule), Text(f"{change:+,}", style="green" if change > 0 else "red"))
    console.print(movers)
