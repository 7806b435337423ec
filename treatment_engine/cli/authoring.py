"""Authoring commands: ``treatment lint``, ``schema``, ``test`` and ``init``."""

from __future__ import annotations

import shlex
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..engine import Engine, utc_today
from ..errors import PlanError, PlanIssue, one_line
from .options import PlanChoice, as_of_option, choose_plan, plan_option
from .support import PLAN_ERROR_EXIT, announce, fail, load_engine

if TYPE_CHECKING:
    from ..plantests import LoadedCase


@click.command()
@plan_option
@click.option("--format", "output_format", type=click.Choice(["text", "json", "sarif"]), default="text",
              show_default=True, help="text for people, json for scripts, sarif for code scanning.")
@click.option("--strict", is_flag=True, help="Exit 1 when there are warnings (errors always exit 2).")
def lint(plan_dir: Path | None, output_format: str, strict: bool) -> None:
    """Find plan mistakes before customers see them.

    Checks for cells only the default can decide (TP001), rules that can never
    decide (TP002), equal-priority rules that compete (TP003), delight that never
    passes the policy (TP004), rules with no reachable channel (TP005), actions of the
    wrong kind (TP006), unused or unreachable definitions (TP007, TP008), unknown
    fields when the plan declares its `fields:` (TP009), and comparisons that can
    never hold (TP010: a number such as days_since() against a string, or a declared
    field against a literal of another type). Each finding has path:line:col, a
    stable code and a fix hint.

    Exit status: 0 clean (notes allowed), 1 warnings with --strict, 2 errors.

    \b
    Examples:
      treatment lint --plan my-plan
      treatment lint --plan my-plan --strict --format sarif > lint.sarif
    """
    from ..lint import lint_plan
    from ..lint.output import as_json, as_sarif, as_text

    choice = choose_plan(plan_dir)
    root = choice.path
    report = lint_plan(root)
    announce(choice, report.plan_version)
    if output_format == "json":
        click.echo(as_json(report))
    elif output_format == "sarif":
        click.echo(as_sarif(report, root))
    else:
        click.echo(as_text(report))
    sys.exit(report.exit_code(strict=strict))


@click.command()
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

    from ..schema import plan_file_schema
    click.echo(json.dumps(plan_file_schema(), indent=2))


@click.command("test")
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
    from ..plantests import run_cases

    choice = choose_plan(plan_dir)
    root = choice.path
    engine, cases = _plan_and_cases(choice, as_of or utc_today())
    if not cases:
        fail(f"no tests found: add tests/*.yaml to {root}")
    run = run_cases(engine, cases)
    for result in run.results:
        name = one_line(result.loaded.case.name)  # a name's newline would print a line of its own
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


def _plan_and_cases(choice: PlanChoice, as_of: date) -> tuple[Engine, list[LoadedCase]]:
    """The plan and its test cases, or every problem of both (a broken test file is not
    a broken plan: say which one the author has to fix)."""
    from ..plantests import load_cases, unknown_names

    issues: list[PlanIssue] = []
    engine: Engine | None = None
    cases: list[LoadedCase] = []
    try:
        engine = load_engine(choice)
    except PlanError as error:
        issues.extend(error.issues)
    try:
        cases = load_cases(choice.path, as_of)
        if engine is not None:
            bad_names = unknown_names(engine.plan, cases)
            if bad_names:
                raise PlanError(bad_names)
    except PlanError as error:
        issues.extend(error.issues)
        for line in PlanError(issues).lines():
            click.echo(line, err=True)
        what = "the plan and its tests were" if engine is None else "the plan's tests were"
        click.echo(f"{what} not loaded: {len(issues)} problem{'s' * (len(issues) != 1)}", err=True)
        sys.exit(PLAN_ERROR_EXIT)
    if engine is None:
        raise PlanError(issues)
    return engine, cases


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Start a new plan: segments, a catalog, two rules and a test, linting clean.

    \b
    Example:
      treatment init my-plan && treatment test --plan my-plan
    """
    from ..scaffold import write_scaffold

    if directory.exists() and any(directory.iterdir()):
        fail(f"{directory} is not empty; choose a new directory")
    for path in write_scaffold(directory):
        click.echo(f"created {path}")
    shown = shlex.quote(str(directory))  # a line to paste into a shell: 'my plan' stays one argument
    click.echo(f"next: treatment lint --plan {shown} && treatment test --plan {shown}")

