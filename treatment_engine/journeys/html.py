"""Journeys as one self-contained HTML file, in the style of the simulation report
(:mod:`treatment_engine.html_report`: inline SVG, no scripts): per journey a funnel, the
time to each step, each touchpoint's rate beside the journey's own with the watermelon
flag in words, and the breakdown by group."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..html_report import STYLE, bar_chart
from ..moments.events import iso
from ..outputs import with_parent
from .breakdown import Breakdown
from .output import duration
from .summary import JourneyReport

GREEN, RED, GREY, BLUE = "#2e8b57", "#c0392b", "#9aa0a6", "#3b6ea8"
FLAG_STYLE = ".flag{background:#fdecea;border-left:4px solid #c0392b;padding:.7rem 1rem}" \
             ".ok{background:#eef7f0;border-left:4px solid #2e8b57;padding:.7rem 1rem}"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render(reports: Sequence[JourneyReport], as_of: float,
           breakdowns: Mapping[str, Sequence[Breakdown]] | None = None) -> str:
    sections = "".join(_journey(report, (breakdowns or {}).get(report.id, ())) for report in reports)
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Customer journeys</title>"
            f"<style>{STYLE}{FLAG_STYLE}</style></head><body><h1>Customer journeys</h1>"
            f"<p class=meta>as of {_e(iso(as_of))}; runs in progress are never counted as failures</p>"
            f"{sections}</body></html>")


def write_report(reports: Sequence[JourneyReport], as_of: float, path: Path,
                 breakdowns: Mapping[str, Sequence[Breakdown]] | None = None) -> None:
    with_parent(path).write_text(render(reports, as_of, breakdowns), encoding="utf-8")


def _journey(report: JourneyReport, groups: Sequence[Breakdown]) -> str:
    kpis = "".join(f'<div class=kpi>{_e(name)}<b>{_e(value)}</b></div>' for name, value in (
        ("customers", f"{report.customers:,}"), ("runs", f"{report.entered:,}"),
        ("completed", f"{report.completed:,}"), ("abandoned", f"{report.abandoned:,}"),
        ("in progress", f"{report.in_progress:,}"),
        ("success", f"{_percent(report.success_rate)} (target {_percent(report.success_target)})")))
    funnel = bar_chart(f"funnel-{report.id}", [(s.name, float(s.reached), GREY if s.optional else BLUE)
                                               for s in report.steps], " runs")
    rows = "".join(f"<tr><td>{_e(s.name)}{' (optional)' if s.optional else ''}</td><td>{s.reached:,}</td>"
                   f"<td>{'-' if s.dropped is None else f'{s.dropped:,}'}</td><td>{_percent(s.conversion)}</td>"
                   f"<td>{duration(s.times.median)}</td><td>{duration(s.times.p75)}</td>"
                   f"<td>{duration(s.times.p90)}</td></tr>" for s in report.steps)
    rows += (f"<tr><td>whole journey (completed runs)</td><td>{report.completed:,}</td><td>-</td>"
             f"<td>{_percent(report.conversion)}</td><td>{duration(report.total.median)}</td>"
             f"<td>{duration(report.total.p75)}</td><td>{duration(report.total.p90)}</td></tr>")
    times = ("<table><tr><th>step</th><th>runs</th><th>dropped</th><th>conversion</th><th>median</th>"
             f"<th>p75</th><th>p90</th></tr>{rows}</table>")
    return (f"<h2>{_e(report.id)} <small class=meta>owner: {_e(report.owner)}</small></h2>"
            f"<div class=kpis>{kpis}</div>{_verdict(report)}"
            f"<div class=grid><div><h3>Funnel</h3>{funnel}</div><div><h3>Touchpoints and the journey</h3>"
            f"{_side_by_side(report)}</div></div><h3>Drop-off and time to each step</h3>{times}"
            f"{_groups(groups)}")


def _verdict(report: JourneyReport) -> str:
    if report.watermelon:
        return f"<p class=flag><b>Watermelon.</b> {_e(report.id)}: {_e(report.watermelon)}.</p>"
    touchpoints = [s for s in report.steps if s.target is not None]
    if not touchpoints:
        return "<p class=meta>No step has a target of its own: no watermelon check.</p>"
    missed = [s.name for s in touchpoints if s.met is False]
    if missed:
        return (f"<p class=meta>Not a watermelon: the touchpoints {_e(', '.join(missed))} miss their own "
                f"targets, so the trouble shows outside too.</p>")
    return (f"<p class=ok>Not a watermelon: every touchpoint meets its target and the journey succeeds for "
            f"{_percent(report.success_rate)} of decided runs.</p>")


def _side_by_side(report: JourneyReport) -> str:
    items = [(f"{s.name} (target {_percent(s.target)})", 100 * (s.touchpoint_rate or 0.0),
              GREEN if s.met else RED) for s in report.steps if s.target is not None]
    journey_ok = report.watermelon is None and (report.success_target is None or report.success_rate is None
                                                or report.success_rate >= report.success_target)
    items.append((f"journey success (target {_percent(report.success_target)})",
                  100 * (report.success_rate or 0.0), GREEN if journey_ok else RED))
    return bar_chart(f"touchpoints-{report.id}", items, "%")


def _groups(groups: Sequence[Breakdown]) -> str:
    if not groups:
        return ""
    names = list(groups[0].group)
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(v if v is not None else '(unknown)')}</td>" for v in g.group.values())
        + f"<td>{g.report.entered:,}</td><td>{g.report.completed:,}</td><td>{g.report.abandoned:,}</td>"
          f"<td>{g.report.in_progress:,}</td><td>{_percent(g.report.success_rate)}</td>"
          f"<td>{'watermelon' if g.report.watermelon else '-'}</td></tr>" for g in groups)
    return (f"<h3>By {_e(', '.join(names))}</h3><table><tr>{head}<th>runs</th><th>completed</th>"
            f"<th>abandoned</th><th>in progress</th><th>success</th><th>flag</th></tr>{rows}</table>")
