"""A journeys report as a table (rich, fits 80 columns), JSON or CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..moments.events import iso
from .breakdown import Breakdown
from .summary import JourneyReport, StepReport

if TYPE_CHECKING:  # rich only for the table (imported there): 0.07 CPU s that JSON and CSV need not pay
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

Breakdowns = Mapping[str, Sequence[Breakdown]]  # by journey id


def duration(seconds: float | None) -> str:
    """Seconds as the largest unit that keeps a small number: 45s, 12m, 5.5h, 3.2d."""
    if seconds is None:
        return "-"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_reports(reports: Sequence[JourneyReport], as_of: float, console: Console | None = None,
                  breakdowns: Breakdowns | None = None) -> None:
    """Per journey: a line of counts, the funnel by step, the watermelon flag in words, and
    the breakdown by group when one was asked for. At most 80 columns wide, whatever the
    terminal: the report reads the same in a log, a mail or a wide window."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if console is None:
        console = Console()
        console.width = min(console.width, 80)
    for report in reports:
        console.print(Text.assemble((report.id, "bold"), f" (owner: {report.owner}), as of {iso(as_of)}"))
        console.print(f"{report.customers:,} customers, {report.entered:,} runs: {report.completed:,} completed, "
                      f"{report.abandoned:,} abandoned, {report.in_progress:,} in progress; "
                      f"success {_percent(report.success_rate)} of {report.succeeded + report.failed:,} decided"
                      + (f" (target {_percent(report.success_target)})" if report.success_target is not None else "")
                      + f"; total time median {duration(report.total.median)}, p90 {duration(report.total.p90)}")
        steps = Table(box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
        steps.add_column("step", overflow="fold", min_width=22)
        for name in ("runs", "conv", "drop", "median", "p75", "p90", "on time"):
            steps.add_column(name, justify="right", no_wrap=True)
        for step in report.steps:
            steps.add_row(step.name + (" (opt.)" if step.optional else ""), f"{step.reached:,}",
                          _percent(step.conversion), _count(step.dropped), duration(step.times.median),
                          duration(step.times.p75), duration(step.times.p90), _touchpoint(step))
        console.print(steps)
        if report.watermelon:
            console.print(Text.assemble(("WATERMELON", "bold red"), f": {report.id}: {report.watermelon}"))
        if breakdowns and breakdowns.get(report.id):
            console.print(_breakdown_table(breakdowns[report.id]))
        console.print()


def _group_name(group: Mapping[str, str | None]) -> str:
    return " / ".join(value if value is not None else "(unknown)" for value in group.values())


def _breakdown_table(groups: Sequence[Breakdown]) -> Table:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    shown = Table(title="by " + ", ".join(groups[0].group), title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False)
    shown.add_column("group", overflow="fold", min_width=22)
    for name in ("runs", "done", "dropped", "going", "success", "flag"):
        shown.add_column(name, justify="right", no_wrap=True)
    for item in groups:
        r = item.report
        shown.add_row(_group_name(item.group), f"{r.entered:,}", f"{r.completed:,}", f"{r.abandoned:,}",
                      f"{r.in_progress:,}", _percent(r.success_rate),
                      Text("WATERMELON", style="bold red") if r.watermelon else Text("-"))
    return shown


def _touchpoint(step: StepReport) -> Text:
    from rich.text import Text

    if step.target is None:
        return Text("-")
    shown = f"{_percent(step.touchpoint_rate)}/{_percent(step.target)}"
    return Text(shown, style="green" if step.met else "red" if step.met is False else "")


def as_json(reports: Sequence[JourneyReport], as_of: float, breakdowns: Breakdowns | None = None) -> str:
    shown = []
    for report in reports:
        item = dataclasses.asdict(report)
        if breakdowns is not None:
            item["breakdown"] = [{"group": b.group, **dataclasses.asdict(b.report)}
                                 for b in breakdowns.get(report.id, ())]
        shown.append(item)
    return json.dumps({"as_of": iso(as_of), "journeys": shown}, indent=2)


CSV_COLUMNS = ("journey", "group", "owner", "customers", "runs", "completed", "abandoned", "in_progress", "success_rate",
               "success_target", "watermelon", "step", "optional", "reached", "dropped", "waiting", "conversion",
               "median_seconds", "p75_seconds", "p90_seconds", "touchpoint_rate", "touchpoint_target")


def as_csv(reports: Sequence[JourneyReport], breakdowns: Breakdowns | None = None) -> str:
    """One row per journey, group and step, the journey's own figures repeated on each;
    ``group`` is empty for the whole journey, else ``segment=...;arm=...``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for report in reports:
        groups = [("", report), *((";".join(f"{k}={v if v is not None else ''}" for k, v in b.group.items()), b.report)
                                  for b in (breakdowns or {}).get(report.id, ()))]
        for group, r in groups:
            _csv_rows(writer, group, r)
    return out.getvalue()


def _csv_rows(writer: Any, group: str, r: JourneyReport) -> None:
    for s in r.steps:
        row: list[Any] = [r.id, group, r.owner, r.customers, r.entered, r.completed, r.abandoned, r.in_progress,
                          r.success_rate, r.success_target, r.watermelon is not None, s.name, s.optional,
                          s.reached, s.dropped, s.waiting, s.conversion, s.times.median, s.times.p75,
                          s.times.p90, s.touchpoint_rate, s.target]
        writer.writerow("" if cell is None else cell for cell in row)
