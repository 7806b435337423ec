"""What every ``treatment`` command shares besides its options: error handling, the
engine, profiles to read, and contact history from a decision log.

Kept apart so that each command module stays about one job (deciding, authoring,
simulating) and none holds decision logic. The shared options are in :mod:`.options`.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

import click

from ..engine import Engine
from ..errors import PlanError, TreatmentError
from .options import default_plan_dir

PLAN_ERROR_EXIT = 2  # the exit status of a command whose plan did not load


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
            ctx.exit(PLAN_ERROR_EXIT)
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


def load_engine(plan_dir: Path | None) -> Engine:
    return Engine.load(plan_dir or default_plan_dir())


def profiles_or_sample(stack: ExitStack, profiles_path: str | None, sample_size: int | None, seed: int,
                       day: date, quiet: bool = False) -> str:
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

    from ..sample import write_file

    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="treatment-")))
    target = scratch / "sample.jsonl"
    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  console=Console(stderr=True), transient=True, disable=quiet) as bar:
        task = bar.add_task(f"making {sample_size:,} sample customers", total=sample_size)
        write_file(target, sample_size or 0, seed, day, progress=lambda made: bar.update(task, completed=made))
    return str(target)


def limits_from_log(plan: Any, db_url: str | None, as_of: date) -> dict[str, Any] | None:
    """Each logged customer's contact limits on ``as_of`` (None without --db or limits)."""
    rules = plan.contact_rules
    if db_url is None or rules is None:
        return None
    try:
        from ..store import DecisionLog
    except ImportError:
        fail("--db needs the service extra: pip install 'treatment-engine[service]'")
    if db_url.startswith("sqlite:///") and not Path(db_url.removeprefix("sqlite:///")).exists():
        fail(f"no decision log at {db_url}")
    log = DecisionLog(db_url)
    try:
        return log.decisions.limits(None, as_of, rules)
    finally:
        log.close()
