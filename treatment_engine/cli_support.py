"""What every ``treatment`` command shares: where the plan is, dates, error handling.

Kept apart so that each command module stays about one job (deciding, authoring,
simulating) and none holds decision logic.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click

from .engine import Engine
from .errors import PlanError, TreatmentError

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


class Group(click.Group):
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
            fail(str(error))
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as Unix tools do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except OSError as error:
            fail(f"{error.strerror or error}: {error.filename}" if error.filename else str(error))


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def parse_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
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
    "--as-of", callback=parse_as_of, metavar="YYYY-MM-DD",
    help="The day decisions are made for (default: today, UTC). Fix it to reproduce a run.")


def load_engine(plan_dir: Path | None) -> Engine:
    return Engine.load(plan_dir or default_plan_dir())




def profiles_or_sample(stack: ExitStack, profiles_path: str | None, sample_size: int | None, seed: int,
                       day: date) -> str:
    """The profiles file to read: the one given, or a seeded sample written to a temp file."""
    if (profiles_path is None) == (sample_size is None):
        raise click.UsageError("give either --profiles FILE or --sample N")
    if profiles_path is not None:
        if not Path(profiles_path).is_file():
            fail(f"no such profiles file: {profiles_path}")
        return profiles_path
    import tempfile

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from .sample import write_file

    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="treatment-")))
    target = scratch / "sample.jsonl"
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(f"making {sample_size:,} sample customers", total=sample_size)
        write_file(target, sample_size or 0, seed, day, progress=lambda made: bar.update(task, completed=made))
    return str(target)



def history_option(function: Any) -> Any:
    return click.option(
        "--db", "db_url", metavar="URL", default=None,
        help="Read contact history from this decision log (the service's --db URL), so the plan's "
             "contact_caps and delight_cooldown_days apply. Without it no history is assumed.")(function)


def limits_from_log(plan: Any, db_url: str | None, as_of: date) -> dict[str, Any] | None:
    """Each logged customer's contact limits on ``as_of`` (None without --db or limits)."""
    rules = plan.contact_rules
    if db_url is None or rules is None:
        return None
    try:
        from .store import DecisionLog
    except ImportError:
        fail("--db needs the service extra: pip install 'treatment-engine[service]'")
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).exists():
        fail(f"no decision log at {db_url}")
    log = DecisionLog(db_url)
    try:
        return log.limits(None, as_of, rules)
    finally:
        log.close()
