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
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ..engine import Engine
from ..errors import PlanError, TreatmentError
from ..profiles import check_profiles_path
from .options import PlanChoice, choose_plan

if TYPE_CHECKING:
    from ..store import DecisionLog

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


def announce(choice: PlanChoice, version: str | None, *, quiet: bool = False) -> None:
    """Say on standard error which plan the command uses (standard output is for data).
    ``quiet`` silences it, except the fallback to the bundled demo plan, which is a warning."""
    if not quiet or choice.how == "bundled":
        click.echo(choice.describe(version), err=True)


def load_engine(plan: Path | PlanChoice | None, *, quiet: bool = False) -> Engine:
    """The plan given (or chosen by :func:`~.options.choose_plan`), loaded, and announced."""
    choice = plan if isinstance(plan, PlanChoice) else choose_plan(plan)
    try:
        engine = Engine.load(choice.path)
    except PlanError:
        announce(choice, None)  # the problems that follow are located relative to this plan
        raise
    announce(choice, engine.version, quiet=quiet)
    return engine


def profiles_or_sample(stack: ExitStack, profiles_path: str | None, sample_size: int | None, seed: int,
                       day: date, quiet: bool = False, backend: str = "python", declared: str = "auto") -> str:
    """The profiles file to read: the one given, or a seeded sample written to a temp file.
    The one given is checked for ``backend`` before anything is written (see
    :func:`..profiles.check_profiles_path`: the Python engine reads a pipe)."""
    if (profiles_path is None) == (sample_size is None):
        raise click.UsageError("give either --profiles FILE or --sample N")
    if profiles_path == "-":
        # Read as a file named '-' it was "no such profiles file: -", though decide reads it.
        raise click.BadParameter("'-' (standard input) is read by decide and explain; this command reads a file"
                                 + (" (or, with --backend python, a pipe such as /dev/stdin)" if backend != "python"
                                    else " or a pipe such as /dev/stdin"), param_hint="--profiles")
    if profiles_path is not None:
        check_profiles_path(profiles_path, backend, declared)
        return profiles_path
    import tempfile

    from rich.progress import BarColumn, TaskProgressColumn, TextColumn

    from ..sample import write_file

    scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="treatment-")))
    target = scratch / "sample.jsonl"
    with progress_bar(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), quiet=quiet) as bar:
        task = bar.add_task(f"making {sample_size:,} sample customers", total=sample_size)
        write_file(target, sample_size or 0, seed, day, progress=lambda made: bar.update(task, completed=made))
    return str(target)


def progress_bar(*columns: Any, quiet: bool = False) -> Any:
    """A rich progress bar on stderr that leaves nothing behind when done: none with
    --quiet, nor where stderr is not a terminal (a pipe, a file, CI's log), where the
    transient bar left an empty line per bar."""
    from rich.console import Console
    from rich.progress import Progress

    console = Console(stderr=True)
    return Progress(*columns, console=console, transient=True, disable=quiet or not console.is_terminal)


LOG_MISSING_EXIT = 2  # the exit status of a command given a decision log that is not there


def open_log(db_url: str) -> DecisionLog:
    """The decision log at ``db_url``, for a command that reads one. Only ``serve`` (and
    ``keys create``) create a log: a database that does not exist or holds none is refused
    with exit status 2, and no file is made for a mistyped path."""
    try:
        from ..store import DecisionLog, LogNotFound
    except ImportError:
        fail("--db needs the service extra: pip install 'treatment-engine[service]'")
    try:
        return DecisionLog(db_url, create=False)
    except LogNotFound as error:
        fail(str(error), LOG_MISSING_EXIT)


def create_log(db_url: str, **settings: Any) -> DecisionLog:
    """The decision log at ``db_url``, made and migrated if need be (``serve``, ``keys
    create``); a URL no log can be opened at is refused with exit status 2."""
    from ..store import DecisionLog, LogNotFound

    try:
        return DecisionLog(db_url, **settings)
    except LogNotFound as error:
        fail(str(error), LOG_MISSING_EXIT)


def limits_from_log(plan: Any, db_url: str | None, as_of: date) -> dict[str, Any] | None:
    """Each logged customer's contact limits on ``as_of`` (None without --db or limits).
    A --db that names no log is refused even when the plan has no limits to read."""
    if db_url is None:
        return None
    log = open_log(db_url)
    rules = plan.contact_rules
    if rules is None:
        log.close()
        return None
    try:
        return log.decisions.limits(None, as_of, rules)
    finally:
        log.close()
