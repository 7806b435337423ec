"""``treatment events``: moments of truth from customer events."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

import click

from ..outputs import with_parent
from .options import plan_option
from .support import fail, load_engine


@click.group()
def events() -> None:
    """Moments of truth: patterns over customer events that trigger a treatment.

    A plan's `moments:` (docs/plan-format.md, appendix D) name patterns such as "a
    second complaint within 30 days" or "an order, then no installation within 14
    days". When one completes, the customer is decided with the moment's `set`
    applied to their profile.

    \b
    Examples:
      treatment events sample --n 2000 --until 2026-11-01 -o events.jsonl
      treatment events replay events.jsonl --profiles customers.jsonl
    """


@events.command("replay")
@click.argument("events_path", metavar="EVENTS.jsonl")
@plan_option
@click.option("--profiles", "profiles_path", metavar="FILE",
              help="Customer profiles (JSON lines, CSV or Parquet) to decide with; without, a fired "
                   "moment decides a profile of just its customer_id and the moment's fields.")
@click.option("--until", "until_text", metavar="TIMESTAMP",
              help="Run the clock on to this time after the last event, so absences whose deadline "
                   "falls before it fire (ISO 8601). By default the clock stops at the last event.")
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each fired moment and its decision (JSON lines) here; '-' for standard output.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write each refused event with its reason (JSON lines) here.")
def replay_events(events_path: str, plan_dir: Path | None, profiles_path: str | None, until_text: str | None,
                  output_path: Path | None, errors_path: Path | None) -> None:
    """Replay a file of events through the plan's moments, on the events' own clock.

    Events are taken in timestamp order (file order among equal times), and time moves
    only with them: a window closes, and an absence fires, exactly when it would have.
    Bad events (unknown type, no customer_id or timestamp, not JSON) are counted and
    listed, and the others go on.

    \b
    Examples:
      treatment events replay events.jsonl --profiles examples/customers.jsonl
      treatment events replay events.jsonl --until 2026-12-31 -o fired.jsonl
    """
    from ..moments.correlator import replay
    from ..moments.events import parse_timestamp
    from ..profiles import dumps, open_profiles, read_jsonl, record_lines

    engine = load_engine(plan_dir)
    if not engine.plan.correlates:
        fail("this plan defines no moments (a top-level 'moments:' list in rules/, or a journey step's 'on_stall')")
    until = None
    if until_text is not None:
        until = parse_timestamp(until_text)
        if until is None:
            raise click.BadParameter("not an ISO 8601 date or date-time", param_hint="--until")
    profiles: dict[str, Any] = {}
    with ExitStack() as stack:
        if profiles_path:
            for profile in open_profiles(stack, profiles_path):
                if isinstance(profile, dict) and isinstance(profile.get("customer_id"), str):
                    profiles[profile["customer_id"]] = profile
        try:
            stream: IO[bytes] = sys.stdin.buffer if events_path == "-" else stack.enter_context(open(events_path, "rb"))
        except OSError as problem:
            fail(f"{problem.strerror}: {events_path}")
        try:
            fired, errors, summary = replay(engine.plan, read_jsonl(stream), profiles, until)
        except RuntimeError as problem:  # the durable-rules worker died: say so, no traceback
            fail(str(problem))
    if output_path is not None:
        with ExitStack() as stack:
            out = sys.stdout.buffer if str(output_path) == "-" else stack.enter_context(open(with_parent(output_path), "wb"))
            for item in fired:
                out.write(dumps(item.to_record()))
    # The file's line of each refusal written or shown, in one pass (none from standard input).
    lines = record_lines(events_path, (e.index for e in (errors if errors_path is not None else errors[:5])))
    if errors_path is not None:
        with open(with_parent(errors_path), "wb") as out:
            for refused in errors:
                line = lines.get(refused.index)
                out.write(dumps({**refused.to_record(), **({"line": line} if line is not None else {})}))
    from ..report import print_moments
    print_moments(summary, errors[:5], source=events_path, lines=lines)


@events.command("sample")
@click.option("--n", "count", type=click.IntRange(min=1), default=2000, show_default=True, help="How many events.")
@click.option("--customers", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Spread over the first N sample customers (c000000 ...), as `treatment sample` names them.")
@click.option("--days", type=click.IntRange(min=1), default=60, show_default=True,
              help="Over the N days before --until.")
@click.option("--until", "until_day", type=click.DateTime(formats=["%Y-%m-%d"]), required=True,
              help="The day after the last event (YYYY-MM-DD).")
@click.option("--seed", type=int, default=7, show_default=True,
              help="Seed of the random events: the same seed writes the same events.")
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here (JSON lines) instead of standard output.")
@click.option("--journeys", "journeys", is_flag=True,
              help="Write the bundled plan's journey events instead (sign-ups to a first bill, house moves, "
                   "over the 240 days before --until, for `treatment journeys`); --n and --days do not apply.")
def sample_events(count: int, customers: int, days: int, until_day: Any, seed: int, output_path: Path | None,
                  journeys: bool) -> None:
    """Synthetic events for the bundled plan's moments (complaints, survey answers, orders,
    installations, failed payments), in time order, from a seed.

    \b
    Examples:
      treatment events sample --n 2000 --until 2026-11-01 -o events.jsonl
      treatment events replay events.jsonl --profiles customers.jsonl \\
          --until 2026-11-01
      treatment events sample --journeys --until 2026-11-01 -o journeys.jsonl
    """
    from ..journeys.sample import SPAN_DAYS, journey_events
    from ..profiles import dumps
    from ..sample import iter_events

    span = SPAN_DAYS if journeys else days
    if until_day.date().toordinal() <= span:  # date.min is day 1
        raise click.BadParameter(f"{span:,} days before {until_day.date()} would be before the year 1",
                                 param_hint="--until" if journeys else "--until/--days")
    made = journey_events(customers, seed=seed, until=until_day.date()) if journeys \
        else iter_events(count, customers, seed=seed, days=days, until=until_day.date())
    with ExitStack() as stack:
        out = stack.enter_context(open(with_parent(output_path), "wb")) if output_path else sys.stdout.buffer
        for item in made:
            out.write(dumps(item))
