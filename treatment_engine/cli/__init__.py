"""The ``treatment`` command: a thin click adapter over :class:`~treatment_engine.Engine`.

One module per group of commands (:mod:`.deciding`, :mod:`.authoring`,
:mod:`.simulation`, :mod:`.service`, :mod:`.events`), the options they share in
:mod:`.options`, and error handling in :mod:`.support`. Plan errors print as
``path:line:col: code: message`` lines with exit status 2 and no traceback; unreadable
inputs print one line and exit 1.
"""

from __future__ import annotations

import click

from .authoring import init, lint, run_tests, schema
from .deciding import decide, explain, sample, validate
from .events import events
from .journeys import journeys
from .measure import measure
from .options import default_plan_dir
from .service import keys, replay_alias, reproduce, serve
from .simulation import diff_command, simulate
from .support import Group

__all__ = ["cli", "default_plan_dir", "main"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
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


for command in (decide, validate, explain, sample, lint, schema, run_tests, init, simulate, diff_command,
                serve, reproduce, replay_alias, keys, events, measure, journeys):
    cli.add_command(command)


def main() -> None:
    """Entry point of the ``treatment`` console script."""
    cli(prog_name="treatment")
