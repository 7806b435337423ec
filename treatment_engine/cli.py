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
@click.option("--input-format", type=click.Choice(["auto", "jsonl", "csv"]), default="auto",
              show_default=True, help="How to read --profiles; auto goes by the file suffix.")
@click.option("--stats/--no-stats", default=False,
              help="After the run, print tables of decisions by treatment and by rule.")
@click.option("--quiet", "-q", is_flag=True, help="No summary line on standard error.")
def decide(plan_dir: Path | None, profiles_path: str, as_of: date | None, output_path: Path | None,
           input_format: str, stats: bool, quiet: bool) -> None:
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
        items = _open_profiles(stack, profiles_path, input_format)
        out: IO[bytes] = (stack.enter_context(open(output_path, "wb")) if output_path
                          else sys.stdout.buffer)
        write = out.write
        for item in items:
            if isinstance(item, Unreadable):
                result: Decision | DecisionError = DecisionError(customer_id=None, error=item.reason)
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


def _open_profiles(stack: ExitStack, path: str, input_format: str) -> Iterable[Any]:
    fmt = input_format
    if fmt == "auto":
        fmt = "csv" if path.lower().endswith(".csv") else "jsonl"
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
