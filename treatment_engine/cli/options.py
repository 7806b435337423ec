"""The options several ``treatment`` commands take, each declared once: ``--plan``,
``--as-of`` and ``--db`` (with the one default database URL)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import click

from ..plan import bundled_plan_dir

PLAN_ENV = "TREATMENT_PLAN"
DB_ENV = "TREATMENT_DB_URL"
DEFAULT_DB_URL = "sqlite:///treatment.db"  # the service's decision log, where --db names none

Decorator = Callable[[Any], Any]


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
    return bundled_plan_dir()


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
