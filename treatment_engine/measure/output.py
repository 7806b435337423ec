"""Results as a table (rich, readable at 80 columns), JSON or CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import orjson

from .results import Comparison

CSV_COLUMNS = ("plan_version", "experiment", "rule", "cell", "arm", "control", "metric", "customers", "arm_n", "arm_mean",
               "arm_low", "arm_high", "control_n", "control_mean", "control_low", "control_high", "difference", "difference_low", "difference_high", "relative", "relative_low",
               "relative_high", "p_value", "adjusted_p", "value", "value_low", "value_high", "cost", "roi",
               "srm_p", "srm", "verdict")


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def record(c: Comparison) -> dict[str, Any]:
    d = c.difference
    flat = {"plan_version": c.plan_version, "experiment": c.experiment, "rule": c.rule, "cell": c.cell, "arm": c.arm,
            "control": c.control, "metric": c.metric, "customers": c.customers,
            "arm_n": c.treated.n, "arm_mean": c.treated.mean, "arm_low": c.treated.low, "arm_high": c.treated.high,
            "control_n": c.baseline.n, "control_mean": c.baseline.mean, "control_low": c.baseline.low,
            "control_high": c.baseline.high,
            **({f"difference{k}": getattr(d, n) for k, n in (("", "absolute"), ("_low", "low"), ("_high", "high"))}
               if d else {"difference": None, "difference_low": None, "difference_high": None}),
            "relative": d.relative if d else None, "relative_low": d.relative_low if d else None,
            "relative_high": d.relative_high if d else None, "p_value": d.p_value if d else None,
            "adjusted_p": c.adjusted_p, "value": c.value, "value_low": c.value_low, "value_high": c.value_high,
            "cost": c.cost, "roi": c.roi, "srm_p": c.srm_p, "srm": c.srm, "verdict": c.verdict}
    return {key: _clean(float(v) if hasattr(v, "item") else v) for key, v in flat.items()}


def to_json(comparisons: list[Comparison]) -> str:
    return orjson.dumps({"comparisons": [record(c) for c in comparisons]}, option=orjson.OPT_INDENT_2).decode()


def to_csv(comparisons: list[Comparison]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for comparison in comparisons:
        writer.writerow(record(comparison))
    return out.getvalue()


def _number(value: float | None, money: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    if money:
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _change(c: Comparison) -> str:
    return "-" if c.difference is None else f"{c.difference.absolute:+.3g}"


def _interval(c: Comparison) -> str:
    d = c.difference
    return "-" if d is None else f"{d.low:+.2g}, {d.high:+.2g}"


def print_results(comparisons: list[Comparison], console: Any) -> None:
    """Per plan version, per rule and arm: a heading, then a row per metric."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    if not comparisons:
        console.print("no experiment has customers with a closed window yet: nothing to measure")
        return
    for version in sorted({c.plan_version for c in comparisons}):
        shown = [c for c in comparisons if c.plan_version == version]
        console.print(f"[bold]results, plan version {escape(version)}[/]: change = arm minus control, with its 95% "
                      f"interval; p after Holm's correction across rules (each arm's own mean and "
                      f"interval: --format json or csv)")
        groups: dict[tuple[str, str, str, str, str], list[Comparison]] = {}
        for c in shown:
            groups.setdefault((c.experiment, c.rule, c.cell, c.arm, c.control), []).append(c)
        for (_, rule, cell, arm, control), rows in groups.items():
            against = "no treatment (universal holdout)" if control == "universal_holdout" else control
            flag = "  [bold red]sample ratio mismatch[/]" if rows[0].srm else ""
            where = f" ({escape(cell)})" if cell else ""
            console.print(f"\n[bold]{escape(rule)}[/]{where}: {escape(arm)} vs {escape(against)}, "
                          f"{rows[0].customers:,} customers{flag}")
            table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
            for name, justify in (("metric", "left"), ("change", "right"), ("95% interval", "right"), ("p", "right"),
                                  ("verdict", "left")):
                table.add_column(name, justify=justify, no_wrap=name != "verdict")  # type: ignore[arg-type]
            for c in rows:
                table.add_row(c.metric, _change(c), _interval(c), _p(c.adjusted_p), c.verdict)
            console.print(table)
            _print_money(rows, console)
        if any(c.srm for c in shown):
            console.print("[bold red]sample ratio mismatch[/]: an experiment's arms are not the sizes the plan "
                          "declares (chi-square p < 0.001); check assignment before trusting its results")


def _p(value: float | None) -> str:
    return "-" if value is None else "<0.001" if value < 0.001 else f"{value:.2g}"


def _print_money(rows: list[Comparison], console: Any) -> None:
    """Under a rule's table: per metric with a value, what the change is worth against the cost."""
    from rich.markup import escape

    priced = [c for c in rows if c.value is not None]
    if not priced:
        return
    cost = priced[0].cost
    parts = []
    for c in priced:
        roi = "" if c.roi is None else f", ROI {c.roi:+,.0%}"
        parts.append(f"{escape(c.metric)} {_number(c.value, True)} ({_number(c.value_low, True)} to "
                     f"{_number(c.value_high, True)}){roi}")
    console.print(f"value per treated customer, against an extra cost of {_number(cost, True)}: " + "; ".join(parts))
