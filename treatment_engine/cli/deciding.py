"""Deciding from the command line: ``treatment decide``, ``validate``, ``explain`` and
``sample``. Argument parsing, files and printing live here; every decision is the engine's.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from typing import Any

import click

from ..decision import Decision, DecisionError
from ..engine import utc_today
from ..errors import ProfileError
from ..profiles import Unreadable, dumps, file_notes, open_profiles, parse_json_line
from ..semantics import customer_id_of
from .options import as_of_option, backend_option, history_option, plan_option
from .support import fail, limits_from_log, load_engine, profiles_or_sample

# -- decide ------------------------------------------------------------------------

@click.command()
@plan_option
@click.option("--profiles", "profiles_path", metavar="FILE",
              help="Profiles: JSON lines (one object a line), CSV with a header row "
                   "(by the .csv suffix or --input-format), or - for standard input.")
@click.option("--sample", "sample_size", type=click.IntRange(min=1), metavar="N",
              help="Decide N synthetic customers (treatment sample) instead of a file.")
@click.option("--seed", type=int, default=7, show_default=True, help="Seed for --sample.")
@as_of_option
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write decisions here instead of standard output (JSON lines): .jsonl, .csv or "
                   ".parquet, by the suffix; missing folders are created.")
@click.option("--input-format", type=click.Choice(["auto", "jsonl", "csv", "parquet"]), default="auto",
              show_default=True, help="How to read --profiles; auto goes by the file suffix.")
@click.option("--stats/--no-stats", default=False,
              help="After the run, print tables of decisions by treatment and by rule.")
@click.option("--quiet", "-q", is_flag=True, help="No summary line on standard error.")
@backend_option(["python", "duckdb"], "python", "python: the in-process evaluator; duckdb: the plan "
                "compiled to SQL (files only, not standard input).")
@history_option
def decide(plan_dir: Path | None, profiles_path: str | None, sample_size: int | None, seed: int, as_of: date | None,
           output_path: Path | None, input_format: str, stats: bool, quiet: bool, backend: str,
           db_url: str | None) -> None:
    """Decide a treatment for every profile in a file.

    Writes one JSON decision per input profile, in input order. A profile that
    cannot be decided (not an object, no customer_id, an unknown given segment)
    gets {"customer_id": ..., "error": "..."} and the batch goes on.

    \b
    Examples:
      treatment decide --profiles customers.jsonl --as-of 2026-11-01 -o out.jsonl
      treatment decide --plan my-plan --profiles customers.csv --stats
      cat customers.jsonl | treatment decide --profiles - > decisions.jsonl
      # with contact caps, counted from the service's decision log:
      treatment decide --profiles customers.jsonl --db sqlite:///treatment.db
      treatment decide --sample 10
    """
    day = as_of or utc_today()
    with ExitStack() as inputs:  # a sample's file lives until every decision is written
        # before --output is opened: a refused path must not empty it
        path = profiles_path if profiles_path == "-" and sample_size is None else profiles_or_sample(
            inputs, profiles_path, sample_size, seed, day, quiet, backend, input_format)
        _decide_file(plan_dir, path, day, output_path, input_format, stats, quiet, backend, db_url)


def _decide_file(plan_dir: Path | None, profiles_path: str, day: date, output_path: Path | None,
                 input_format: str, stats: bool, quiet: bool, backend: str, db_url: str | None) -> None:
    engine = load_engine(plan_dir, quiet=quiet)
    limits = limits_from_log(engine.plan, db_url, day) or {}
    text = day.isoformat()
    counts: Counter[str] = Counter()
    by_rule: Counter[tuple[str, str]] = Counter()
    started = time.perf_counter()
    with ExitStack() as stack:
        items: Iterable[Any]
        from ..shape_check import ShapeCheck
        check = ShapeCheck(list(engine.plan.profile_fields))
        if backend == "duckdb":
            if profiles_path == "-":
                raise click.UsageError("--backend duckdb reads files; use --backend python for standard input")
            from ..sql.duckdb_backend import DuckDBBackend
            sql_engine = DuckDBBackend(engine.plan, limits=limits)
            items = _sql_results(sql_engine.records(profiles_path, day, input_format))
        else:
            items = _observed(open_profiles(stack, profiles_path, input_format), check)
        write = _record_writer(stack, output_path, engine.version, text, backend)
        for item in items:
            if isinstance(item, (Decision, DecisionError)):
                result: Decision | DecisionError = item
            elif isinstance(item, Unreadable):
                result = DecisionError(customer_id=None, error=item.reason)
            else:
                result = engine.decide_or_error(item, day,
                                                limits=limits.get(customer_id_of(item) or "") if limits else None)
            if isinstance(result, DecisionError):
                counts["invalid"] += 1
            else:
                counts["decided"] += 1
                if stats:
                    by_rule[(result.treatment, result.rule)] += 1
            write(result.to_record())
    elapsed = time.perf_counter() - started
    for warning in [*(sql_engine.shape if backend == "duckdb" else check).warnings(list(engine.plan.profile_fields)),
                    *file_notes(profiles_path, input_format)]:
        click.echo(f"warning: {warning}", err=True)
    total = counts["decided"] + counts["invalid"]
    if not quiet:
        rate = f", {total / elapsed:,.0f}/s" if elapsed > 0 and total else ""
        click.echo(f"decided {counts['decided']:,}, invalid {counts['invalid']:,} in "
                   f"{elapsed:.2f} s{rate} (plan {engine.version}, as of {text})", err=True)
    if stats:
        from ..report import print_decision_stats
        print_decision_stats(by_rule, counts["invalid"])


def _observed(items: Iterable[Any], check: Any) -> Iterable[Any]:
    for item in items:
        check.observe(item)
        yield item


def _record_writer(stack: ExitStack, output_path: Path | None, version: str, day: str,
                   backend: str) -> Callable[[dict[str, Any]], None]:
    """Where decide's records go: a file in its suffix's format, else standard output."""
    if output_path is None:
        out = sys.stdout.buffer
        stack.callback(out.flush)

        def write(record: dict[str, Any]) -> None:
            out.write(dumps(record))
        return write
    from ..outputs import DecisionWriter, metadata
    return stack.enter_context(DecisionWriter(output_path, metadata(version, day, backend))).write


def _sql_results(records: Iterable[dict[str, Any]]) -> Iterable[Decision | DecisionError]:
    from ..decision import WouldHave, fast_decision
    from ..outputs import ONLY_WHEN_SET
    for record in records:
        if "error" in record:
            yield DecisionError(customer_id=record["customer_id"], error=record["error"])
        else:
            record["actions"], record["channels"] = tuple(record["actions"]), tuple(record["channels"])
            record["trace"] = None
            for name in ONLY_WHEN_SET:  # a record leaves them out when unset; a Decision holds None
                record.setdefault(name, None)
            if record["would_have"] is not None:
                record["would_have"] = WouldHave.model_validate(record["would_have"])
            yield fast_decision(record)


# -- validate ----------------------------------------------------------------------

@click.command()
@plan_option
def validate(plan_dir: Path | None) -> None:
    """Check a plan and summarise it, or list every problem as path:line:col.

    Exit status 0 for a valid plan, 2 for a plan that would not load.

    \b
    Example:
      treatment validate --plan my-plan
    """
    engine = load_engine(plan_dir)
    counts = ", ".join(f"{n} {what}" for what, n in engine.plan.counts().items())
    click.echo(f"valid plan {engine.version}: {counts}")


# -- explain -----------------------------------------------------------------------

@click.command()
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
      treatment explain --profile '{"customer_id": "c1", "annual_value": 2400}'
      treatment explain --profiles examples/customers.jsonl --customer c000042
    """
    if (profile_json is None) == (profiles_path is None):
        raise click.UsageError("give either --profile JSON or --profiles FILE --customer ID")
    if profile_json is not None:
        if customer_id is not None:
            raise click.UsageError("--customer ID picks a profile from --profiles FILE; --profile JSON is the "
                                   "profile itself")
        try:
            profile = parse_json_line(profile_json)
        except ValueError as error:
            # The reason reads on from its subject ("is not valid JSON: ...", "is not UTF-8 ...").
            raise click.BadParameter(f"the profile {error}", param_hint="--profile") from None
    else:
        if not customer_id:
            raise click.UsageError("--profiles needs --customer ID to say which profile to explain")
        profile = _find_profile(profiles_path or "", customer_id)
    engine = load_engine(plan_dir)
    try:
        decision = engine.explain(profile, as_of)
    except ProfileError as error:
        fail(f"this profile cannot be decided: {error.message}")
    if output_format == "json":
        # The record decide writes (and POST /v1/explain answers), cost in cents, with its trace.
        import json
        click.echo(json.dumps(decision.to_record(), indent=2, ensure_ascii=False))
        return
    from ..report import print_explanation
    described = {rule.id: rule.description for rule in engine.plan.rules}
    print_explanation(decision, description=described.get(decision.rule))


def _find_profile(path: str, customer_id: str) -> Any:
    with ExitStack() as stack:
        for item in open_profiles(stack, path):
            if isinstance(item, dict) and item.get("customer_id") == customer_id:
                return item
    fail(f"no profile with customer_id {customer_id!r} in {path}")


# -- sample ------------------------------------------------------------------------

@click.command()
@click.option("--n", "count", type=click.IntRange(min=0), default=1000, show_default=True,
              help="How many customers to make.")
@click.option("--seed", type=int, default=7, show_default=True,
              help="Random seed: the same seed makes the same customers.")
@as_of_option
@click.option("--output", "-o", "output_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write here instead of standard output (JSON lines): .jsonl, .csv or .parquet, by the "
                   "suffix. Parquet columns hold one type, so there a number written as text stays a number.")
@click.option("--outcomes", "outcomes_for", metavar="DECISIONS",
              help="Instead of customers: outcome events (JSON lines) for the customers of this decisions file, "
                   "drawn with a seeded true effect per rule, arm and metric of the plan (appendix I).")
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path),
              help="With --outcomes: write the true effect of every comparison here (JSON).")
@plan_option
def sample(count: int, seed: int, as_of: date | None, output_path: Path | None, outcomes_for: str | None,
           truth_path: Path | None, plan_dir: Path | None) -> None:
    """Make synthetic customers for the default plan, reproducibly.

    Dates are spread around --as-of so that every lifecycle stage occurs, and the
    mix reaches every rule of the bundled plan.

    \b
    Examples:
      treatment sample --n 1000 --seed 7 --as-of 2026-11-01 -o customers.jsonl
      treatment sample --outcomes out/decisions.jsonl --truth out/truth.json \\
          -o out/outcomes.jsonl
    """
    from ..sample import generate, write_file

    if outcomes_for is not None:
        from .measure import write_outcomes
        write_outcomes(plan_dir, outcomes_for, seed, output_path, truth_path)
        return
    if output_path is None:
        for customer in generate(count, seed=seed, as_of=as_of or utc_today()):
            sys.stdout.buffer.write(dumps(customer))
        return
    write_file(output_path, count, seed, as_of or utc_today())
