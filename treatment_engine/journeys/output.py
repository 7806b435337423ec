"""A journeys report as a table (rich, fits 80 columns), JSON or CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..moments.events import iso
from .summary import JourneyReport, StepReport


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


def print_reports(reports: Sequence[JourneyReport], as_of: float, console: Console | None = None) -> None:
    """Per journey: a line of counts, the funnel by step, and the watermelon flag in words."""
    console = console or Console()
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
        console.print()


def _touchpoint(step: StepReport) -> Text:
    if step.target is None:
        return Text("-")
    shown = f"{_percent(step.touchpoint_rate)}/{_percent(step.target)}"
    return Text(shown, style="green" if step.met else "red" if step.met is False else "")


def as_json(reports: Sequence[JourneyReport], as_of: float) -> str:
    return json.dumps({"as_of": iso(as_of), "journeys": [dataclasses.asdict(r) for r in reports]}, indent=2)


CSV_COLUMNS = ("journey", "owner", "customers", "runs", "completed", "abandoned", "in_progress", "success_rate",
               "success_target", "watermelon", "step", "optional", "reached", "dropped", "waiting", "conversion",
               "median_seconds", "p75_seconds", "p90_seconds", "touchpoint_rate", "touchpoint_target")


def as_csv(reports: Sequence[JourneyReport]) -> str:
    """One row per journey and step, the journey's own figures repeated on each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in reports:
        for s in r.steps:
            row: list[Any] = [r.id, r.owner, r.customers, r.entered, r.completed, r.abandoned, r.in_progress,
                              r.success_rate, r.success_target, r.watermelon is not None, s.name, s.optional,
                              s.reached, s.dropped, s.waiting, s.conversion, s.times.median, s.times.p75,
                              s.times.p90, s.touchpoint_rate, s.target]
            writer.writerow("" if cell is None else cell for cell in row)
    return out.getvalue()
