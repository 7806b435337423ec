"""``treatment measure --report``: the results as one self-contained HTML file (inline SVG,
no scripts), for a reader who has never seen a confidence interval: every chart has a
one-line caption saying what it shows.

Per metric: a forest plot (each rule's change against its control, with its 95%
interval), ROI bars, and the metric over the days after the decision per arm
(cumulative); a table of every comparison with its verdict and sample-ratio flag.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..compile import CompiledPlan
from ..html_report import STYLE, _e
from ..outputs import with_parent
from .curves import Curves
from .results import DOES_NOT_PAY_BACK, PAYS_BACK, Comparison

VERDICT_COLOURS = {PAYS_BACK: "#2e8b57", DOES_NOT_PAY_BACK: "#c0392b", "better": "#2e8b57", "worse": "#c0392b"}
ARM_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2")


def _colour(verdict: str) -> str:
    return VERDICT_COLOURS.get(verdict, "#6b7280")


def forest_plot(name: str, rows: Sequence[Comparison], unit: str, width: int = 760) -> str:
    """One line per comparison: the change (dot) and its 95% interval (bar), zero marked."""
    shown = [c for c in rows if c.difference is not None]
    if not shown:
        return f'<svg class="chart" data-chart="{_e(name)}" width="{width}" height="30"><text x="4" y="20">no comparison has enough customers yet</text></svg>'
    label_w, row_h, right = 330, 24, 20
    low = min(min(c.difference.low for c in shown if c.difference), 0.0)
    high = max(max(c.difference.high for c in shown if c.difference), 0.0)
    span = (high - low) or 1.0
    height = row_h * len(shown) + 40

    def x(value: float) -> float:
        return label_w + (width - label_w - right) * (value - low) / span

    parts = [f'<line x1="{x(0):.1f}" y1="4" x2="{x(0):.1f}" y2="{height - 30}" stroke="#9aa0a6" stroke-dasharray="4 3"/>',
             f'<text x="{x(0):.1f}" y="{height - 12}" text-anchor="middle">0 (no change)</text>',
             f'<text x="{label_w}" y="{height - 12}">{low:+.3g}{_e(unit)}</text>',
             f'<text x="{width - right}" y="{height - 12}" text-anchor="end">{high:+.3g}{_e(unit)}</text>']
    for i, c in enumerate(shown):
        d = c.difference
        assert d is not None
        y = 14 + i * row_h
        label = f"{c.rule} · {c.arm} vs {c.control}" + (f" ({c.cell})" if c.cell else "")
        parts.append(
            f'<g><title>{_e(label)}: {d.absolute:+.4g}{_e(unit)}, 95% interval {d.low:+.4g} to {d.high:+.4g}; '
            f'{_e(c.verdict)}</title><text x="{label_w - 8}" y="{y + 4}" text-anchor="end">{_e(_short(label))}</text>'
            f'<line class="mark" x1="{x(d.low):.1f}" y1="{y}" x2="{x(d.high):.1f}" y2="{y}" stroke="{_colour(c.verdict)}" '
            f'stroke-width="3"/><circle cx="{x(d.absolute):.1f}" cy="{y}" r="5" fill="{_colour(c.verdict)}"/></g>')
    return (f'<svg class="chart" data-chart="{_e(name)}" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')


ROI_SCALE = 3.0  # bars stop at +-300%: a rule costing cents can show ROI in the thousands of percent


def _short(label: str, most: int = 46) -> str:
    return label if len(label) <= most else label[:most - 1] + "…"


def roi_bars(name: str, rows: Sequence[Comparison], width: int = 760) -> str:
    """Return on the extra cost per treated customer: (value - cost) / cost, as a percent;
    bars are drawn to +-300% at most (the figure beside says the whole)."""
    shown = [c for c in rows if c.roi is not None and math.isfinite(c.roi)]
    if not shown:
        return f'<svg class="chart" data-chart="{_e(name)}" width="{width}" height="30"><text x="4" y="20">no rule with a cost and a measured value yet</text></svg>'
    label_w, row_h = 330, 22
    top = min(max(abs(c.roi or 0.0) for c in shown), ROI_SCALE) or 1.0
    half = (width - label_w - 90) / 2
    middle = label_w + half
    height = row_h * len(shown) + 10
    parts = [f'<line x1="{middle:.1f}" y1="0" x2="{middle:.1f}" y2="{height}" stroke="#9aa0a6"/>']
    for i, c in enumerate(shown):
        roi = c.roi or 0.0
        y = 5 + i * row_h
        length = half * min(abs(roi), top) / top
        left = middle if roi >= 0 else middle - length
        label = f"{c.rule} · {c.arm}" + (f" ({c.cell})" if c.cell else "")
        parts.append(
            f'<g><title>{_e(label)}: ROI {roi:+.0%} (value {c.value or 0:,.2f} against cost {c.cost:,.2f} per customer)'
            f'</title><text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{_e(_short(label))}</text>'
            f'<rect class="mark" x="{left:.1f}" y="{y + 3}" width="{max(length, 1):.1f}" height="{row_h - 6}" '
            f'fill="{"#2e8b57" if roi >= 0 else "#c0392b"}"/>'
            f'<text x="{width - 4}" y="{y + 15}" text-anchor="end">{roi:+,.0%}</text></g>')
    return (f'<svg class="chart" data-chart="{_e(name)}" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')


def curve_chart(name: str, arms: dict[str, list[tuple[float, float]]], unit: str, width: int = 360) -> str:
    """The metric's running mean per arm against days since the decision, with a legend."""
    drawn = {arm: points for arm, points in arms.items() if points}
    if not drawn:
        return f'<svg class="chart" data-chart="{_e(name)}" width="{width}" height="30"><text x="4" y="20">no closed window yet</text></svg>'
    left, top, plot_w, plot_h = 46, 10, width - 60, 150
    last_day = max(p[0] for points in drawn.values() for p in points) or 1.0
    peak = max(p[1] for points in drawn.values() for p in points) or 1.0
    parts = [f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9aa0a6"/>',
             f'<text x="{left}" y="{top + plot_h + 16}">day 0</text>',
             f'<text x="{left + plot_w}" y="{top + plot_h + 16}" text-anchor="end">day {last_day:g}</text>',
             f'<text x="{left - 4}" y="{top + 10}" text-anchor="end">{peak:.3g}{_e(unit)}</text>']
    for index, (arm, points) in enumerate(sorted(drawn.items())):
        colour = ARM_COLOURS[index % len(ARM_COLOURS)]
        path = " ".join(f"{left + plot_w * day / last_day:.1f},{top + plot_h * (1 - value / peak):.1f}"
                        for day, value in points)
        parts.append(f'<g><title>{_e(arm)}: {points[-1][1]:.4g}{_e(unit)} by day {points[-1][0]:g}</title>'
                     f'<polyline class="mark" fill="none" stroke="{colour}" stroke-width="2" points="{path}"/></g>'
                     f'<rect x="{left + 8}" y="{top + plot_h + 26 + 16 * index}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{left + 24}" y="{top + plot_h + 35 + 16 * index}">{_e(arm)}</text>')
    height = top + plot_h + 34 + 16 * len(drawn)
    return (f'<svg class="chart" data-chart="{_e(name)}" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')


def render(plan: CompiledPlan, comparisons: Sequence[Comparison], drawn: Curves, as_of: str) -> str:
    """The whole report: per metric, its charts with captions; then every comparison."""
    sections = []
    for metric in plan.metrics:
        rows = [c for c in comparisons if c.metric == metric.id]
        if not rows:
            continue
        unit = "" if metric.is_rate else f" {metric.field or 'events'}" if metric.compute != "count" else " events"
        better = "higher is better" if metric.higher_is_better else "lower is better"
        charts = [f'<h2>{_e(metric.id)} <small class="meta">({_e(metric.compute)} of {_e(metric.event)} within '
                  f'{metric.within / 86_400:g} days; {better})</small></h2>',
                  '<p class="meta">Each line is a rule\'s treated customers against its control group. The dot is the '
                  'measured change; the bar is the range the true change very likely lies in (95%). A bar that crosses '
                  'the dashed line may be no change at all. Green: pays back or better; red: does not or worse.</p>',
                  forest_plot(f"forest-{metric.id}", rows, "" if metric.is_rate else unit)]
        if metric.value is not None:
            charts += ['<p class="meta">Return on what treating a customer costs: the money the change is worth '
                       f'(1 unit = {metric.value:g}) less the cost, over the cost. Above 0%, a rule pays for itself.</p>',
                       roi_bars(f"roi-{metric.id}", rows)]
        lines = [(key, arms) for key, arms in drawn.items() if key[0] == metric.id]
        if lines:
            charts.append('<p class="meta">How the metric builds up over the days after the decision, per arm '
                          '(the average customer so far). Arms that drift apart are where the treatment acts.</p>')
            charts.append('<div class="grid">' + "".join(
                f'<div><b>{_e(rule)}</b> <span class="meta">({_e(experiment)})</span>'
                f'{curve_chart(f"curve-{metric.id}-{experiment}-{rule}", arms, unit)}</div>'
                for (_, experiment, rule), arms in sorted(lines)) + "</div>")
        sections.append("".join(charts))
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Results as of {_e(as_of)}</title>'
            f'<style>{STYLE}</style></head><body><h1>Results</h1><p class="meta">As of {_e(as_of)}, plan version(s) '
            f'{_e(", ".join(sorted({c.plan_version for c in comparisons})) or "-")}.</p>'
            f'{_srm_note(comparisons)}{"".join(sections)}{_table(comparisons)}</body></html>')


def _srm_note(comparisons: Sequence[Comparison]) -> str:
    """What the sample-ratio check found; arms it did not test (another plan version's,
    whose shares are not known) are said to be unchecked, not to be right."""
    unchecked = sorted({(c.plan_version, c.experiment, c.rule) for c in comparisons if c.srm_p is None})
    untested = "" if not unchecked else (
        f'<p class="meta">Sample ratio not checked for {_e(", ".join(f"{r} ({x}, plan version {v})" for v, x, r in unchecked))}: '
        'the plan given does not declare that version\'s arms and shares.</p>')
    flagged = sorted({(c.experiment, c.rule) for c in comparisons if c.srm})
    if not flagged:
        if len(unchecked) == len({(c.plan_version, c.experiment, c.rule) for c in comparisons}):
            return untested
        others = " other" if unchecked else ""
        return (f'<p class="meta">Sample ratio: every{others} experiment\'s arms are the sizes the plan gives them '
                f'(no chi-square p below 0.001).</p>{untested}')
    named = ", ".join(f"{rule} ({experiment})" for experiment, rule in flagged)
    return (f'<p class="srm"><b>Sample-ratio mismatch</b> in {_e(named)}: the arms are not the sizes the plan '
            'gives them, so something other than chance chose who got what. Do not trust these results until '
            f'that is found.</p>{untested}')


def _table(comparisons: Sequence[Comparison]) -> str:
    head = ("rule", "arm", "control", "cell", "metric", "customers", "change", "95% interval", "ROI", "verdict", "SRM")
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in (
            c.rule, c.arm, c.control, c.cell or "-", c.metric, f"{c.customers:,}",
            f"{c.difference.absolute:+.3g}" if c.difference else "-",
            f"{c.difference.low:+.3g} to {c.difference.high:+.3g}" if c.difference else "-",
            f"{c.roi:+.0%}" if c.roi is not None and math.isfinite(c.roi) else "-", c.verdict,
            "mismatch" if c.srm else "ok" if c.srm_p is not None else "not checked")) + "</tr>" for c in comparisons)
    return (f'<h2>Every comparison</h2><table><tr>{"".join(f"<th>{h}</th>" for h in head)}</tr>{rows}</table>')


def write_results_report(path: Path, plan: CompiledPlan, comparisons: Sequence[Comparison], drawn: Curves,
                         as_of: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with_parent(path).write_text(render(plan, comparisons, drawn, as_of), encoding="utf-8")
