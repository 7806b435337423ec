"""A simulation as one self-contained HTML file: inline SVG charts, no scripts, no network.

Opens offline in any browser and survives being mailed around. Every chart is an
``<svg class="chart" data-chart="...">`` with a ``<title>`` per mark, so hovering shows
the exact figure and tests can find the charts.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .arms import ArmTally, arm_label, percent
from .outputs import with_parent

COLOURS = {"delight": "#2e8b57", "contain": "#d4a017", "none": "#9aa0a6"}
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2.2rem}
.meta{color:#555}.kpis{display:flex;gap:1.5rem;flex-wrap:wrap;margin:1.2rem 0}
.kpi{background:#f4f6f8;border-radius:8px;padding:.8rem 1.1rem;min-width:9rem}
.kpi b{display:block;font-size:1.4rem}.grid{display:grid;grid-template-columns:1fr 1fr;gap:2rem}
table{border-collapse:collapse;font-size:.9rem}td,th{padding:.25rem .6rem;border-bottom:1px solid #e3e6ea;text-align:right}
td:first-child,th:first-child{text-align:left}svg text{font-size:12px;fill:#222}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def bar_chart(name: str, items: list[tuple[str, float, str]], unit: str = "", width: int = 520) -> str:
    """Horizontal bars: (label, value, colour)."""
    if not items:
        return f'<svg class="chart" data-chart="{_e(name)}" width="{width}" height="30"><text x="4" y="20">no data</text></svg>'
    label_width, row = 230, 22
    top = max(v for _, v, _ in items) or 1
    height = row * len(items) + 10
    bars = []
    for i, (label, value, colour) in enumerate(items):
        y = 5 + i * row
        length = max(1.0, (width - label_width - 90) * value / top)
        bars.append(
            f'<g><title>{_e(label)}: {value:,.2f}{_e(unit)}</title>'
            f'<text x="{label_width - 6}" y="{y + 15}" text-anchor="end">{_e(label[:34])}</text>'
            f'<rect class="mark" x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 6}" fill="{colour}"/>'
            f'<text x="{label_width + length + 5:.1f}" y="{y + 15}">{value:,.0f}{_e(unit)}</text></g>')
    return (f'<svg class="chart" data-chart="{_e(name)}" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(bars)}</svg>')


def heatmap(name: str, rows: list[str], columns: list[str], share: dict[tuple[str, str], tuple[float, int]]) -> str:
    """Cells shaded by the delight share; each cell says share and customers."""
    cell_w, cell_h, left, top = 92, 34, 120, 24
    width, height = left + cell_w * len(columns) + 10, top + cell_h * len(rows) + 10
    parts = [f'<text x="{left + i * cell_w + cell_w / 2}" y="16" text-anchor="middle">{_e(c)}</text>'
             for i, c in enumerate(columns)]
    for r, row_name in enumerate(rows):
        y = top + r * cell_h
        parts.append(f'<text x="{left - 6}" y="{y + 21}" text-anchor="end">{_e(row_name)}</text>')
        for c, column in enumerate(columns):
            fraction, total = share.get((row_name, column), (0.0, 0))
            shade = f"rgba(46,139,87,{0.08 + 0.85 * fraction:.2f})" if total else "#f1f1f1"
            x = left + c * cell_w
            parts.append(f'<g><title>{_e(row_name)} x {_e(column)}: {fraction:.0%} delight of {total:,}</title>'
                         f'<rect class="mark" x="{x}" y="{y}" width="{cell_w - 3}" height="{cell_h - 3}" fill="{shade}"/>'
                         f'<text x="{x + cell_w / 2 - 1}" y="{y + 20}" text-anchor="middle">'
                         f'{f"{fraction:.0%}" if total else "-"}</text></g>')
    return (f'<svg class="chart" data-chart="{_e(name)}" role="img" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{"".join(parts)}</svg>')


def experiment_section(arms: ArmTally) -> str:
    """Arm sizes per experiment (against the declared shares) and per rule, and what the
    holdouts save; empty for a plan without experiments."""
    if not arms.experimenting:
        return ""
    rows = []
    for row in arms.experiment_rows():
        saved = "" if row.saved is None else f"{row.saved:,.2f}"
        rows.append(f'<tr data-experiment="{_e(row.experiment)}" data-arm="{_e(row.arm)}"><td>{_e(row.experiment)}</td>'
                    f"<td>{_e(row.arm)}</td><td>{row.customers:,}</td><td>{row.share:.1%}</td>"
                    f"<td>{_e(percent(row.declared))}</td><td>{saved}</td></tr>")
    by_rule = "".join(f"<tr><td>{_e(rule)}</td><td>{_e(arm)}</td><td>{count:,}</td><td>{share:.1%}</td></tr>"
                      for rule, arm, count, share in arms.rule_rows())
    return (f'<h2>Experiment arms</h2><p class="meta">holdouts save <b>{arms.saved_by_holdouts():,.2f}</b> on '
            f"{arms.held_out():,} held-out customers; saved: the champion's cost of an arm's customers less "
            f"theirs; share: of the experiment's customers</p>"
            f'<table class="arms"><thead><tr><th>experiment</th><th>arm</th><th>customers</th><th>share</th>'
            f"<th>declared</th><th>saved</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
            f"<h2>Arms by rule</h2><table><thead><tr><th>champion rule</th><th>arm</th><th>customers</th>"
            f"<th>share of the rule</th></tr></thead><tbody>{by_rule}</tbody></table>")


def _holdout_kpi(arms: ArmTally) -> str:
    if not arms.experimenting:
        return ""
    return (f'<div class="kpi">holdouts save<b>{arms.saved_by_holdouts():,.0f}</b>'
            f"{arms.held_out():,} held out</div>")


def render(summary: Any) -> str:
    decided = summary.decided or 1
    treatments = "".join(
        f'<div class="kpi">{_e(t)}<b style="color:{COLOURS.get(t, "#222")}">{c / decided:.1%}</b>{c:,} customers</div>'
        for t, c in summary.by_treatment.most_common())
    stages = [s or "(none)" for s in summary.stages()]
    tiers = [t or "(none)" for t in summary.tiers()]
    share: dict[tuple[str, str], tuple[float, int]] = {}
    for stage in stages:
        for tier in tiers:
            cells = {k: v for k, v in summary.by_cell.items() if (k[1] or "(none)") == stage and (k[2] or "(none)") == tier}
            total = sum(cells.values())
            delight = sum(v for k, v in cells.items() if k[3] == "delight")
            share[(stage, tier)] = (delight / total if total else 0.0, total)
    rule_bars = [(rule, float(count), COLOURS.get(treatment, "#555"))
                 for (rule, treatment), count in sorted(summary.by_rule.items(), key=lambda i: -i[1])]
    channel_bars = [(channel, float(summary.channel_cost[channel]), "#4a78b5")
                    for channel in sorted(summary.channel_cost, key=lambda c: -summary.channel_cost[c])]
    tier_bars = [(tier or "(none)", float(amount), "#2e8b57")
                 for tier, amount in sorted(summary.delight_spend_by_tier.items(), key=lambda i: -i[1])]
    rows = "".join(f"<tr><td>{_e(rule)}</td><td>{_e(treatment)}</td><td>{count:,}</td><td>{count / decided:.1%}</td></tr>"
                   for (rule, treatment), count in sorted(summary.by_rule.items(), key=lambda i: -i[1]))
    total_spend = sum(summary.delight_spend_by_tier.values())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Treatment plan simulation {_e(summary.plan_version)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
<h1>Treatment plan simulation</h1>
<p class="meta">plan {_e(summary.plan_version)} &middot; as of {_e(summary.as_of)} &middot; backend {_e(summary.backend)}
&middot; {summary.total:,} customers ({summary.invalid:,} invalid) &middot; {summary.seconds:.2f} s</p>
<div class="kpis">{treatments}
<div class="kpi">delight spend<b>{total_spend:,.0f}</b>total</div>
<div class="kpi">no permitted channel<b>{summary.no_channel:,}</b>customers</div>{_holdout_kpi(summary.arms)}</div>
<h2>Delight share by lifecycle stage x value tier</h2>
{heatmap("treatment-mix", stages, tiers, share)}
<div class="grid"><div><h2>Cost by channel</h2>{bar_chart("channel-cost", channel_bars)}</div>
<div><h2>Delight spend by value tier</h2>{bar_chart("tier-spend", tier_bars)}</div></div>
<h2>Rule hit counts</h2>
{bar_chart("rule-hits", rule_bars, width=900)}
<h2>Decisions by rule</h2>
<table><thead><tr><th>rule</th><th>treatment</th><th>customers</th><th>share</th></tr></thead><tbody>{rows}</tbody></table>
{experiment_section(summary.arms)}
{"".join(f'<p class="meta">note: {_e(n)}</p>' for n in summary.notes)}
</body></html>
"""


def write_report(summary: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with_parent(path).write_text(render(summary), encoding="utf-8")


def render_diff(result: Any, as_of: str) -> str:
    """``treatment diff --report``: the plan diff as one page (KPIs, rules that move, transitions)."""
    delta = result.new_cost - result.base_cost
    kpis = "".join(f'<div class="kpi">{_e(label)}<b>{value}</b>{_e(note)}</div>' for label, value, note in (
        ("customers changed", f"{result.changed:,}", f"of {result.decided:,} decided"),
        ("channels changed", f"{result.channels_changed:,}", "customers"),
        ("cost change", f"{delta:+,.2f}", f"{delta / (result.decided or 1):+,.3f} per customer"),
        ("arms changed", f"{result.arms_changed:,}", "customers"),
        ("invalid profiles", f"{result.invalid:,}", "in both plans")))
    movers = [(f"{rule} ({change:+,})", float(abs(change)), "#2e8b57" if change > 0 else "#c0392b")
              for rule, change in result.movers()]
    rows = "".join(f"<tr><td>{_e(key[0])} ({_e(key[1])})</td><td>{_e(key[2])} ({_e(key[3])})</td>"
                   f"<td>{count:,}</td><td>{_e(result.examples[key])}</td></tr>"
                   for key, count in result.ranked_transitions())
    body = ("<p><b>No differences</b>: both plans decide every customer alike.</p>"
            if not result.changed and not result.arms_changed else
            f"<h2>Rules that gain or lose customers</h2>{bar_chart('rule-changes', movers, width=900)}"
            f"<h2>Transitions (base &rarr; new)</h2><table><thead><tr><th>from (base)</th><th>to (new)</th>"
            f"<th>customers</th><th>e.g.</th></tr></thead><tbody>{rows}</tbody></table>{_arm_moves(result)}")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Treatment plan diff {_e(result.base_version)} -&gt; {_e(result.new_version)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>
<body>
<h1>Treatment plan diff</h1>
<p class="meta">base plan {_e(result.base_version)} &rarr; new plan {_e(result.new_version)} &middot; as of {_e(as_of)}
&middot; {result.total:,} customers &middot; cost {result.base_cost:,.2f} &rarr; {result.new_cost:,.2f}</p>
<div class="kpis">{kpis}</div>
{body}
</body></html>
"""


def _arm_moves(result: Any) -> str:
    if not result.arms_changed:
        return ""
    rows = "".join(f"<tr><td>{_e(arm_label(key[0], key[1]))}</td><td>{_e(arm_label(key[2], key[3]))}</td>"
                   f"<td>{count:,}</td><td>{_e(result.arm_examples[key])}</td></tr>"
                   for key, count in result.ranked_arm_moves())
    return (f'<h2>Arm changes (base &rarr; new)</h2><p class="meta">{result.arms_changed:,} customers change '
            f'experiment arm</p><table class="arm-changes"><thead><tr><th>from (base)</th><th>to (new)</th>'
            f"<th>customers</th><th>e.g.</th></tr></thead><tbody>{rows}</tbody></table>")


def write_diff_report(result: Any, as_of: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with_parent(path).write_text(render_diff(result, as_of), encoding="utf-8")
