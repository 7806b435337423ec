"""Readable terminal output with rich: decision statistics and explanations."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .decision import Decision

_TREATMENT_STYLE = {"delight": "bold green", "contain": "yellow", "none": "dim"}
_OUTCOME_STYLE = {"decided": "bold green", "not matched": "dim", "skipped": "magenta",
                  "not reached": "dim"}


def print_decision_stats(by_rule: Counter[tuple[str, str]], invalid: int,
                         console: Console | None = None) -> None:
    console = console or Console(stderr=True)
    total = sum(by_rule.values())
    if not total:
        console.print("no profile was decided")
        return
    by_treatment: Counter[str] = Counter()
    for (treatment, _), count in by_rule.items():
        by_treatment[treatment] += count

    mix = Table(title="Decisions by treatment", title_justify="left")
    mix.add_column("treatment")
    mix.add_column("customers", justify="right")
    mix.add_column("share", justify="right")
    for treatment, count in by_treatment.most_common():
        mix.add_row(Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")),
                    f"{count:,}", f"{count / total:.1%}")
    if invalid:
        mix.add_row(Text("invalid profile", style="red"), f"{invalid:,}", "")
    console.print(mix)

    rules = Table(title="Decisions by rule", title_justify="left")
    rules.add_column("rule")
    rules.add_column("treatment")
    rules.add_column("customers", justify="right")
    rules.add_column("share", justify="right")
    for (treatment, rule), count in sorted(by_rule.items(), key=lambda item: (-item[1], item[0])):
        rules.add_row(Text(rule), Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")),
                      f"{count:,}", f"{count / total:.1%}")
    console.print(rules)


def print_explanation(decision: Decision, console: Console | None = None) -> None:
    console = console or Console()
    style = _TREATMENT_STYLE.get(decision.treatment, "")
    headline = Text.assemble(
        (decision.customer_id, "bold"), ": ", (decision.treatment, style),
        f" by rule '{decision.rule}'",
    )
    console.print(headline)
    console.print(f"  actions:  {', '.join(decision.actions) or '-'}", markup=False)
    console.print(f"  channels: {', '.join(decision.channels) or '- (none permitted)'}", markup=False)
    console.print(f"  cost:     {decision.cost:g}    plan {decision.plan_version}, as of {decision.as_of}",
                  markup=False)
    trace = decision.trace
    if trace is None:
        return

    who = Table(title="Who the customer is", title_justify="left")
    who.add_column("dimension")
    who.add_column("value")
    who.add_column("how")
    for step in trace.resolution:
        who.add_row(step.dimension, Text(step.value or "null"), Text(step.detail))
    console.print(who)

    rules = Table(title="Rules, in evaluation order", title_justify="left")
    rules.add_column("priority", justify="right")
    rules.add_column("rule")
    rules.add_column("outcome")
    rules.add_column("why")
    not_reached = 0
    for check in trace.rules:
        if check.outcome == "not reached":
            not_reached += 1
            continue
        rules.add_row(str(check.priority), Text(check.rule),
                      Text(check.outcome, style=_OUTCOME_STYLE[check.outcome]), Text(check.reason))
    console.print(rules)
    if not_reached:
        console.print(f"  ({not_reached} lower-priority rule{'s' if not_reached != 1 else ''} "
                      f"not reached)")


def print_simulation(summary: Any, console: Console | None = None) -> None:
    """The outcome tables of a simulation: treatments, rules, cells, channels, spend."""
    console = console or Console()
    decided = summary.decided or 1
    head = Table.grid(padding=(0, 2))
    head.add_row("customers", f"{summary.total:,}", "decided", f"{summary.decided:,}",
                 "invalid profiles", f"{summary.invalid:,}")
    head.add_row("backend", summary.backend, "plan", summary.plan_version, "as of", summary.as_of)
    head.add_row("elapsed", f"{summary.seconds:.2f} s", "rate",
                 f"{summary.total / summary.seconds:,.0f}/s" if summary.seconds else "-",
                 "no permitted channel", f"{summary.no_channel:,}")
    console.print(head)

    mix = Table(title="Decisions by treatment", title_justify="left")
    for column, justify in (("treatment", "left"), ("customers", "right"), ("share", "right"),
                            ("total cost", "right"), ("cost per customer", "right")):
        mix.add_column(column, justify=justify)  # type: ignore[arg-type]
    for treatment, count in summary.by_treatment.most_common():
        cost = summary.cost_by_treatment[treatment]
        mix.add_row(Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")), f"{count:,}",
                    f"{count / decided:.1%}", f"{cost:,.2f}", f"{cost / count:,.2f}")
    console.print(mix)

    rules = Table(title="Decisions by rule", title_justify="left")
    for column, justify in (("rule", "left"), ("treatment", "left"), ("customers", "right"), ("share", "right")):
        rules.add_column(column, justify=justify)  # type: ignore[arg-type]
    for (rule, treatment), count in sorted(summary.by_rule.items(), key=lambda i: (-i[1], i[0])):
        rules.add_row(Text(rule), Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")),
                      f"{count:,}", f"{count / decided:.1%}")
    console.print(rules)

    stages, tiers = summary.stages(), summary.tiers()
    grid = Table(title="Delight share by lifecycle stage x value tier (customers)", title_justify="left")
    grid.add_column("stage \\ tier")
    for tier in tiers:
        grid.add_column(tier or "(none)", justify="right")
    for stage in stages:
        cells = []
        for tier in tiers:
            total = sum(v for k, v in summary.by_cell.items() if k[1] == stage and k[2] == tier)
            delight = sum(v for k, v in summary.by_cell.items() if k[1] == stage and k[2] == tier and k[3] == "delight")
            cells.append(f"{delight / total:.0%} of {total:,}" if total else "-")
        grid.add_row(Text(stage or "(none)"), *cells)
    console.print(grid)

    top_cells = Table(title="Customers by segment x stage x tier (top 15)", title_justify="left")
    for column in ("segment", "stage", "tier", "delight", "contain", "none"):
        top_cells.add_column(column, justify="right" if column in ("delight", "contain", "none") else "left")
    combined: Counter[tuple[Any, Any, Any]] = Counter()
    for (segment, stage, tier, _), count in summary.by_cell.items():
        combined[(segment, stage, tier)] += count
    for key, _count in combined.most_common(15):
        top_cells.add_row(*(Text(v or "(none)") for v in key),
                      *(f"{summary.by_cell.get((*key, t), 0):,}" for t in ("delight", "contain", "none")))
    console.print(top_cells)

    channels = Table(title="Channel volumes (first permitted channel) and cost", title_justify="left")
    for column, justify in (("channel", "left"), ("contacts", "right"), ("contact cost", "right")):
        channels.add_column(column, justify=justify)  # type: ignore[arg-type]
    for channel, count in summary.by_channel.most_common():
        channels.add_row(Text(channel), f"{count:,}", f"{summary.channel_cost[channel]:,.2f}")
    console.print(channels)

    spend = Table(title="Delight spend by value tier", title_justify="left")
    for column, justify in (("tier", "left"), ("spend", "right"), ("share", "right")):
        spend.add_column(column, justify=justify)  # type: ignore[arg-type]
    total_spend = sum(summary.delight_spend_by_tier.values()) or 1
    for tier, amount in sorted(summary.delight_spend_by_tier.items(), key=lambda i: -i[1]):
        spend.add_row(Text(tier or "(none)"), f"{amount:,.2f}", f"{amount / total_spend:.1%}")
    spend.add_row(Text("total", style="bold"), f"{sum(summary.delight_spend_by_tier.values()):,.2f}", "")
    console.print(spend)
    for note in summary.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def print_moments(summary: Any, first_errors: list[Any], console: Console | None = None) -> None:
    """The replay's summary: moments fired, what they decided, and refused events."""
    console = console or Console(stderr=True)
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    console.print(f"{summary.events:,} events ({summary.invalid:,} refused) in {summary.seconds:.2f} s "
                  f"({rate:,.0f}/s); {sum(summary.fired.values()):,} moments fired")
    if summary.fired:
        table = Table(title="Moments fired and what they decided", title_justify="left")
        table.add_column("moment")
        table.add_column("treatment")
        table.add_column("rule")
        table.add_column("customers", justify="right")
        ranked = sorted(summary.treatments.items(), key=lambda item: (-summary.fired[item[0][0]], -item[1]))
        shown = [row for index, row in enumerate(ranked)  # per moment, its three commonest outcomes
                 if sum(1 for earlier in ranked[:index] if earlier[0][0] == row[0][0]) < 3]
        for (moment, treatment, rule), count in shown:
            table.add_row(moment, Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")), rule, f"{count:,}")
        hidden = len(ranked) - len(shown)
        if hidden:
            table.caption = f"{hidden} less common outcomes not shown (all of them are in --output)"
        console.print(table)
    for error in first_errors:
        console.print(f"[red]event {error.index}[/red] ({error.customer_id or 'no customer'}): {error.error}")
    if summary.invalid > len(first_errors):
        console.print(f"... and {summary.invalid - len(first_errors):,} more refused events (see --errors FILE)")
