"""Readable terminal output with rich: decision statistics and explanations.

Every table reads at 80 columns, on a terminal or piped (rich then takes ``$COLUMNS``,
else 80): ids (rules, segments, stages, tiers, customers) fold onto a second line rather
than being cut to an ellipsis that makes two rules look alike, numbers never wrap, a
title keeps its table at least as wide as itself, and the stage x tier grid turns into
one row per cell when its columns would not fit side by side.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby
from typing import Any, Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .arms import ArmTally, arm_label, percent
from .decision import Decision, cents
from .errors import one_line

_TREATMENT_STYLE = {"delight": "bold green", "contain": "yellow", "none": "dim"}
_ARM_STYLE = {"holdout": "magenta", "universal_holdout": "magenta", "champion": "bold"}
_OUTCOME_STYLE = {"decided": "bold green", "not matched": "dim", "skipped": "magenta",
                  "not reached": "dim"}


Kind = Literal["id", "number", "text"]


def table(title: str, *columns: tuple[str, Kind]) -> Table:
    """A titled table whose columns behave at any width: ids fold, numbers stay whole,
    text wraps at spaces."""
    made = Table(title=title, title_justify="left", min_width=cell_len(title))
    for name, kind in columns:
        if kind == "number":
            made.add_column(name, justify="right", no_wrap=True)
        elif kind == "id":
            made.add_column(name, overflow="fold")
        else:
            made.add_column(name, overflow="fold", ratio=1)
    return made


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

    mix = table("Decisions by treatment", ("treatment", "id"), ("customers", "number"), ("share", "number"))
    for treatment, count in by_treatment.most_common():
        mix.add_row(Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")),
                    f"{count:,}", f"{count / total:.1%}")
    if invalid:
        mix.add_row(Text("invalid profile", style="red"), f"{invalid:,}", "")
    console.print(mix)

    rules = table("Decisions by rule", ("rule", "id"), ("treatment", "id"), ("customers", "number"),
                  ("share", "number"))
    for (treatment, rule), count in sorted(by_rule.items(), key=lambda item: (-item[1], item[0])):
        rules.add_row(Text(rule), Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")),
                      f"{count:,}", f"{count / total:.1%}")
    console.print(rules)


def print_explanation(decision: Decision, console: Console | None = None, description: str | None = None) -> None:
    """``description``: the deciding rule's, which the plan format says explain shows."""
    console = console or Console()
    style = _TREATMENT_STYLE.get(decision.treatment, "")
    # The id, the values and the reasons come from the profile: a control character there
    # would drive the terminal (an escape sequence) or fake a line (a newline).
    headline = Text.assemble(
        (one_line(decision.customer_id), "bold"), ": ", (decision.treatment, style),
        f" by rule '{decision.rule}'",
    )
    console.print(headline)
    if description:
        console.print(f"  about:    {description}", markup=False)
    console.print(f"  actions:  {', '.join(decision.actions) or '-'}", markup=False)
    console.print(f"  channels: {', '.join(decision.channels) or '- (none permitted)'}", markup=False)
    # In cents as decide writes it ({:g} showed 1,234,567.91 as 1.23457e+06).
    console.print(f"  cost:     {cents(decision.cost):,.2f}    plan {decision.plan_version}, as of {decision.as_of}",
                  markup=False)
    # Off the champion's arm the headline's rule is not the one the table says decided:
    # say which experiment put the customer where, and what the champion would have given.
    for tried in decision.trace.experiments if decision.trace else ():
        console.print(f"  experiment: {tried.experiment}, bucket {tried.bucket} ({tried.arms}): arm {tried.arm}; "
                      f"{tried.reason}", markup=False)
    if decision.would_have is not None:
        champion = decision.would_have
        console.print(f"  champion:   would have given {champion.treatment} by rule '{champion.rule}': "
                      f"{', '.join(champion.actions) or '-'} over {', '.join(champion.channels) or '-'}, "
                      f"cost {cents(champion.cost):,.2f}", markup=False)
    trace = decision.trace
    if trace is None:
        return

    who = table("Who the customer is", ("dimension", "id"), ("value", "id"), ("how", "text"))
    for step in trace.resolution:
        who.add_row(step.dimension, Text(one_line(step.value or "null")), Text(one_line(step.detail)))
    console.print(who)

    rules = table("Rules, in evaluation order", ("priority", "number"), ("rule", "id"), ("outcome", "id"),
                  ("why", "text"))
    not_reached = 0
    for check in trace.rules:
        if check.outcome == "not reached":
            not_reached += 1
            continue
        rules.add_row(str(check.priority), Text(check.rule),
                      Text(check.outcome, style=_OUTCOME_STYLE[check.outcome]), Text(one_line(check.reason)))
    _keep_ids_whole(rules, 1, [c.rule for c in trace.rules if c.outcome != "not reached"], console.width)
    console.print(rules)
    if not_reached:
        console.print(f"  ({not_reached} lower-priority rule{'s' if not_reached != 1 else ''} "
                      f"not reached)")


# What the explanation's rules table needs beside its rule column: priority and outcome,
# borders and padding, and a 'why' column wide enough to read (it wraps at spaces).
_BESIDE_RULE_IDS = 50


def _keep_ids_whole(made: Table, column: int, ids: list[str], width: int) -> None:
    """Give an id column its longest id when the rest still fits ``width``: rich shrinks
    the widest wrapping columns alike, and would fold an id mid-word to give a text
    column, which wraps at spaces anyway, one more character."""
    longest = max((cell_len(i) for i in ids), default=0)
    if longest and width - longest >= _BESIDE_RULE_IDS:
        made.columns[column].width = longest


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

    mix = table("Decisions by treatment", ("treatment", "id"), ("customers", "number"), ("share", "number"),
                ("total cost", "number"), ("per customer", "number"))
    for treatment, count in summary.by_treatment.most_common():
        cost = summary.cost_by_treatment[treatment]
        mix.add_row(Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")), f"{count:,}",
                    f"{count / decided:.1%}", f"{cost:,.2f}", f"{cost / count:,.2f}")
    console.print(mix)

    rules = table("Decisions by rule", ("rule", "id"), ("treatment", "id"), ("customers", "number"),
                  ("share", "number"))
    for (rule, treatment), count in sorted(summary.by_rule.items(), key=lambda i: (-i[1], i[0])):
        rules.add_row(Text(rule), Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")),
                      f"{count:,}", f"{count / decided:.1%}")
    console.print(rules)
    if summary.arms.experimenting:
        print_arms(summary.arms, console)

    console.print(_stage_tier_grid(summary, console.width))

    top_cells = table("Customers by segment x stage x tier (top 15)", ("segment", "id"), ("stage", "id"),
                      ("tier", "id"), ("delight", "number"), ("contain", "number"), ("none", "number"))
    combined: Counter[tuple[Any, Any, Any]] = Counter()
    for (segment, stage, tier, _), count in summary.by_cell.items():
        combined[(segment, stage, tier)] += count
    for key, _count in combined.most_common(15):
        top_cells.add_row(*(Text(v or "(none)") for v in key),
                      *(f"{summary.by_cell.get((*key, t), 0):,}" for t in ("delight", "contain", "none")))
    console.print(top_cells)

    channels = table("Contacts and cost by first permitted channel", ("channel", "id"), ("contacts", "number"),
                     ("contact cost", "number"))
    for channel, count in summary.by_channel.most_common():
        channels.add_row(Text(channel), f"{count:,}", f"{summary.channel_cost[channel]:,.2f}")
    console.print(channels)

    spend = table("Delight spend by value tier", ("tier", "id"), ("spend", "number"), ("share", "number"))
    total_spend = sum(summary.delight_spend_by_tier.values()) or 1
    for tier, amount in sorted(summary.delight_spend_by_tier.items(), key=lambda i: -i[1]):
        spend.add_row(Text(tier or "(none)"), f"{amount:,.2f}", f"{amount / total_spend:.1%}")
    spend.add_row(Text("total", style="bold"), f"{sum(summary.delight_spend_by_tier.values()):,.2f}", "")
    console.print(spend)
    for note in summary.notes:
        console.print(Text(f"note: {note}", style="yellow"))


def print_arms(arms: ArmTally, console: Console) -> None:
    """Experiment arms: per experiment, each arm's customers against its declared share and
    what it saved against the champion; per rule, how its customers split over the arms."""
    experiments = table("Experiment arms (share of the experiment's customers)", ("experiment, arm", "id"),
                        ("customers", "number"), ("share", "number"), ("declared", "number"), ("saved", "number"))
    rows = arms.experiment_rows()
    for experiment, group in groupby(rows, key=lambda row: row.experiment):
        arm_rows = list(group)
        # The experiment on a line of its own, its arms indented under it: two id columns
        # side by side ("universal_holdout" twice) would not fit 80 columns.
        experiments.add_row(Text(experiment, style="bold"), f"{sum(r.customers for r in arm_rows):,}", "", "", "")
        for row in arm_rows:
            experiments.add_row(Text(f"  {row.arm}", style=_ARM_STYLE.get(row.arm, "")), f"{row.customers:,}",
                                f"{row.share:.1%}", percent(row.declared),
                                "" if row.saved is None else f"{row.saved:,.2f}")
    experiments.caption = "saved: the champion's cost of these customers less theirs"
    experiments.caption_justify = "left"
    console.print(experiments)
    by_rule = table("Arms by rule (share of the rule's customers)", ("champion rule", "id"), ("arm", "id"),
                    ("customers", "number"), ("share", "number"))
    for rule, arm, count, share in arms.rule_rows():
        by_rule.add_row(Text(rule), Text(arm, style=_ARM_STYLE.get(arm, "")), f"{count:,}", f"{share:.1%}")
    console.print(by_rule)
    console.print(f"holdouts save {arms.saved_by_holdouts():,.2f} on {arms.held_out():,} held-out customers",
                  markup=False)


def _stage_tier_grid(summary: Any, width: int) -> Table:
    """Delight share per lifecycle stage x value tier: a grid with a column per tier when
    the tiers fit side by side, else one row per cell (which fits any width)."""
    stages, tiers = summary.stages(), summary.tiers()
    cells: dict[tuple[Any, Any], tuple[int, int]] = {}
    for (_, stage, tier, treatment), count in summary.by_cell.items():
        delight, total = cells.get((stage, tier), (0, 0))
        cells[(stage, tier)] = (delight + count * (treatment == "delight"), total + count)
    shown = {key: f"{delight / total:.0%} of {total:,}" for key, (delight, total) in cells.items()}
    first = max([cell_len("stage \\ tier"), *(cell_len(s or "(none)") for s in stages)])
    need = first + 4 + sum(3 + max([cell_len(t or "(none)"), *(cell_len(shown.get((s, t), "-")) for s in stages)])
                           for t in tiers)
    title = "Delight share by lifecycle stage x value tier (customers)"
    if need <= width:
        grid = table(title, ("stage \\ tier", "id"), *((tier or "(none)", "number") for tier in tiers))
        for stage in stages:
            grid.add_row(Text(stage or "(none)"), *(shown.get((stage, tier), "-") for tier in tiers))
        return grid
    grid = table(title, ("stage", "id"), ("tier", "id"), ("delight", "number"), ("customers", "number"))
    for stage in stages:
        for tier in tiers:
            if (stage, tier) in cells:
                delight, total = cells[(stage, tier)]
                grid.add_row(Text(stage or "(none)"), Text(tier or "(none)"), f"{delight / total:.0%}", f"{total:,}")
    return grid


def print_diff(result: Any, as_of: str, top: int, console: Console | None = None) -> None:
    """``treatment diff``: what changes, transitions and the rules that move most; a
    diff with no changes says so instead of printing empty tables."""
    console = console or Console()
    console.print(f"base plan {result.base_version} -> new plan {result.new_version}, as of {as_of}",
                  markup=False)
    if not result.changed and not result.arms_changed:
        console.print(f"no differences: no customer's decision changes ({result.decided:,} decided, "
                      f"{result.invalid:,} invalid)", markup=False)
        return
    console.print(f"{result.total:,} customers: {result.changed:,} change treatment, rule, actions or channels "
                  f"({result.changed / (result.decided or 1):.1%}); {result.unchanged:,} unchanged; "
                  f"{result.invalid:,} invalid", markup=False)
    delta = result.new_cost - result.base_cost
    console.print(f"channels change for {result.channels_changed:,}; cost {result.base_cost:,.2f} -> "
                  f"{result.new_cost:,.2f} ({delta:+,.2f}, {delta / (result.decided or 1):+,.3f} per customer)",
                  markup=False)
    moves = table("Transitions (base -> new)", ("from (base)", "id"), ("to (new)", "id"), ("customers", "number"),
                  ("e.g.", "id"))
    for key, count in result.ranked_transitions(top):
        moves.add_row(Text(f"{key[0]} ({key[1]})"), Text(f"{key[2]} ({key[3]})"), f"{count:,}",
                      Text(result.examples[key]))
    if moves.row_count:  # none when only arms change (a challenger nobody can be given)
        console.print(moves)
    movers = table("Rules that gain or lose the most customers", ("rule", "id"), ("change", "number"))
    for rule, change in result.movers(top):
        movers.add_row(Text(rule), Text(f"{change:+,}", style="green" if change > 0 else "red"))
    if movers.row_count:
        console.print(movers)
    if result.arms_changed:
        print_arm_moves(result, top, console)


def print_arm_moves(result: Any, top: int, console: Console) -> None:
    """Customers whose experiment arm changes between the plans (``diff``)."""
    console.print(f"{result.arms_changed:,} customers change experiment arm "
                  f"({result.arms_changed / (result.decided or 1):.1%})", markup=False)
    moves = table("Arm changes (base -> new)", ("from (base)", "id"), ("to (new)", "id"), ("customers", "number"),
                  ("e.g.", "id"))
    for key, count in result.ranked_arm_moves(top):
        moves.add_row(Text(arm_label(key[0], key[1])), Text(arm_label(key[2], key[3])), f"{count:,}",
                      Text(result.arm_examples[key]))
    console.print(moves)


def print_moments(summary: Any, first_errors: list[Any], console: Console | None = None,
                  source: str = "", lines: dict[int, int] | None = None) -> None:
    """The replay's summary: moments fired, what they decided, and refused events, each
    named by its file's line where ``lines`` knows it (see ``EventError.where``)."""
    console = console or Console(stderr=True)
    rate = summary.events / summary.seconds if summary.seconds else 0.0
    console.print(f"{summary.events:,} events ({summary.invalid:,} refused) in {summary.seconds:.2f} s "
                  f"({rate:,.0f}/s); {sum(summary.fired.values()):,} moments fired")
    if summary.fired:
        fired = table("Moments fired and what they decided", ("moment", "id"), ("treatment", "id"),
                      ("rule", "id"), ("customers", "number"))
        # Without vertical rules, as the journeys' tables: a journey step's stall moment
        # (installation.signed_up.stalled) beside a rule's id then fits 80 columns unfolded.
        fired.box, fired.pad_edge, fired.collapse_padding = box.SIMPLE_HEAD, False, True
        ranked = sorted(summary.treatments.items(), key=lambda item: (-summary.fired[item[0][0]], -item[1]))
        shown = [row for index, row in enumerate(ranked)  # per moment, its three commonest outcomes
                 if sum(1 for earlier in ranked[:index] if earlier[0][0] == row[0][0]) < 3]
        for (moment, treatment, rule), count in shown:
            fired.add_row(moment, Text(treatment, style=_TREATMENT_STYLE.get(treatment, "")), rule, f"{count:,}")
        hidden = len(ranked) - len(shown)
        if hidden:
            fired.caption = f"{hidden} less common outcomes not shown (all of them are in --output)"
        console.print(fired)
    for error in first_errors:
        # The event's own text, never markup: a customer id '[/red]' stopped the command with
        # rich's MarkupError.
        console.print(Text.assemble((error.where(source, lines or {}), "red"), " ", error.said()))
    if summary.invalid > len(first_errors):
        console.print(f"... and {summary.invalid - len(first_errors):,} more refused events (see --errors FILE)")
