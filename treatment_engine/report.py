"""Readable terminal output with rich: decision statistics and explanations."""

from __future__ import annotations

from collections import Counter

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
