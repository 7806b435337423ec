"""The options several ``treatment`` commands take, each declared once: ``--plan``,
``--as-of`` and ``--db`` (with the one default database URL)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Literal

import click

from ..plan import bundled_plan_dir, find_plan_dir

PLAN_ENV = "TREATMENT_PLAN"
DB_ENV = "TREATMENT_DB_URL"
DEFAULT_DB_URL = "sqlite:///treatment.db"  # the service's decision log, where --db names none

Decorator = Callable[[Any], Any]


@dataclass(frozen=True)
class PlanChoice:
    """The plan a command uses, and how it was chosen (which every command says)."""

    path: Path
    how: Literal["option", "environment", "found", "bundled"]
    searched_from: Path  # the current directory when the command started

    def describe(self, version: str | None = None) -> str:
        """One line for standard error: which plan, its version once loaded, and, for the
        bundled demo plan, that no plan of the user's was found."""
        version_text = f" (version {version})" if version else ""
        if self.how == "bundled":
            return (f"using the bundled demo plan{version_text} at {self.path}: no plan directory (one holding "
                    f"rules/ or segments/) in {self.searched_from} or above it; give --plan DIR to use yours")
        if self.how == "found" and self.path != self.searched_from:
            return f"using plan {self.path.absolute()}{version_text}, found above the current directory"
        where = f", from ${PLAN_ENV}" if self.how == "environment" else ""
        return f"using plan {_shown(self.path, self.searched_from)}{version_text}{where}"


def _shown(path: Path, here: Path) -> str:
    """``path`` as a person reads it best: relative when it is here, below or above here."""
    path = path.absolute()
    if path == here or path.is_relative_to(here) or here.is_relative_to(path):
        return os.path.relpath(path, here)
    return str(path)


def choose_plan(plan_dir: Path | None) -> PlanChoice:
    """The plan to use: ``--plan``; else $TREATMENT_PLAN; else the nearest plan directory at
    or above the current directory (as git finds .git); else the bundled demo plan."""
    here = Path.cwd()
    if plan_dir is not None:
        return PlanChoice(plan_dir, "option", here)
    if os.environ.get(PLAN_ENV):
        return PlanChoice(Path(os.environ[PLAN_ENV]), "environment", here)
    found = find_plan_dir(here)
    if found is not None:
        return PlanChoice(found, "found", here)
    return PlanChoice(bundled_plan_dir(), "bundled", here)


def default_plan_dir() -> Path:
    """Where a plan is looked for when ``--plan`` is not given (see :func:`choose_plan`)."""
    return choose_plan(None).path


def parse_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date in the form YYYY-MM-DD") from None


plan_option = click.option(
    "--plan", "plan_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="Plan directory (holding segments/ and rules/). Default: $TREATMENT_PLAN, else the "
         "nearest plan directory at or above the current one, else the bundled demo plan. Every "
         "command says on standard error which plan it used.")
as_of_option = click.option(
    "--as-of", callback=parse_as_of, metavar="YYYY-MM-DD",
    help="The day decisions are made for (default: today, UTC). Fix it to reproduce a run.")


def db_option(help_text: str, *, history_only: bool = False) -> Decorator:
    """``--db URL``, a decision log's database (any SQLAlchemy URL) as ``db_url``. The
    service's commands default to $TREATMENT_DB_URL, else :data:`DEFAULT_DB_URL`; with
    ``history_only`` (commands that read contact history if asked) there is no default."""
    named: dict[str, Any] = ({"default": None} if history_only
                             else {"envvar": DB_ENV, "default": DEFAULT_DB_URL, "show_default": True})
    return click.option("--db", "db_url", metavar="URL", help=help_text, **named)


history_option = db_option(
    "Read contact history from this decision log (the service's --db URL), so the plan's "
    "contact_caps and delight_cooldown_days apply. Without it no history is assumed.", history_only=True)


def backend_option(choices: list[str], default: str, help_text: str) -> Decorator:
    """``--backend NAME`` as ``backend``: which back end decides (the in-process
    evaluator, DuckDB or Spark). ``--engine``, its name before "engine" came to mean only
    :class:`~treatment_engine.Engine`, is still taken, hidden and deprecated."""
    choice = click.Choice(choices)

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def resolved(*args: Any, backend: str | None, engine_alias: str | None, **kwargs: Any) -> Any:
            if backend is not None and engine_alias is not None and backend != engine_alias:
                raise click.UsageError(f"--backend {backend} and --engine {engine_alias} disagree; give --backend only")
            return function(*args, backend=backend or engine_alias or default, **kwargs)
        with_alias = click.option("--engine", "engine_alias", type=choice, default=None, hidden=True,
                                  deprecated="use --backend")(resolved)
        return click.option("--backend", "backend", type=choice, default=None,
                            help=f"{help_text} Default: {default}.")(with_alias)
    return decorate
