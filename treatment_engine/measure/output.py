"""Results as a table (rich, readable at 80 columns), JSON or CSV."""

from __future__ import annotations

import csv
import io
import math
from typing import Any

import orjson

from .results import Comparison

CSV_COLUMNS = ("plan_version", "experiment", "rule", "arm", "control", "metric", "customers", "arm_mean",
               "control_mean", "difference", "difference_low", "difference_high", "relative", "relative_low",
               "relative_high", "p_value", "adjusted_p", "value", "value_low", "value_high", "cost", "roi",
               "srm_p", "srm", "verdict")


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def record(c: Comparison) -> dict[str, Any]:
    d = c.difference
    flat = {"plan_version": c.plan_version, "experiment": c.experiment, "rule": c.rule, "arm": c.arm,
            "control": c.control, "metric": c.metric, "customers": c.customers,
            "arm_mean": c.treated.mean, "control_mean": c.baseline.mean,
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
        return f"{value:,.2f}"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _change(c: Comparison) -> str:
    d = c.difference
    if d is None:
        return "-"
    return f"{d.absolute:+.3g} [{d.low:+.3g}, {d.high:+.3g}]"


def print_results(comparisons: list[Comparison], console: Any) -> None:
    """Per plan version, per rule and arm: a heading, then a row per metric."""
    from rich import box
    from rich.table import Table

    if not comparisons:
        console.print("no experiment has customers with a closed window yet: nothing to measure")
        return
    for version in sorted({c.plan_version for c in comparisons}):
        shown = [c for c in comparisons if c.plan_version == version]
        console.print(f"[bold]results, plan version {version}[/]: change = arm minus control, with its 95% "
                      f"interval; p after Holm's correction across rules")
        groups: dict[tuple[str, str, str, str], list[Comparison]] = {}
        for c in shown:
            groups.setdefault((c.experiment, c.rule, c.arm, c.control), []).append(c)
        for (experiment, rule, arm, control), rows in groups.items():
            against = "no treatment (universal holdout)" if control == "universal_holdout" else control
            flag = "  [bold red]sample ratio mismatch[/]" if rows[0].srm else ""
            console.print(f"\n[bold]{rule}[/]: {arm} vs {against}, {rows[0].customers:,} customers{flag}")
            table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
            for name, justify in (("metric", "left"), ("arm", "right"), ("control", "right"),
                                  ("change [95%]", "right"), ("p", "right"), ("verdict", "left")):
                table.add_column(name, justify=justify)  # type: ignore[arg-type]
            for c in rows:
                table.add_row(c.metric, _number(c.treated.mean), _number(c.baseline.mean), _change(c),
                              _number(c.adjusted_p), _short(c.verdict))
            console.print(table)
        _print_money(shown, console)
        if any(c.srm for c in shown):
            console.print("[bold red]sample ratio mismatch[/]: an experiment's arms are not the sizes the plan "
                          "declares (chi-square p < 0.001); check assignment before trusting its results")


def _short(verdict: str) -> str:
    """The table's verdict: 'not enough data yet (about N more customers per arm)' as '+N/arm needed'."""
    if verdict.startswith("not enough data yet"):
        return "need ~" + verdict.split("about ")[1].split(" more")[0] + " more/arm"
    return verdict


def _print_money(shown: list[Comparison], console: Any) -> None:
    from rich import box
    from rich.table import Table

    priced = [c for c in shown if c.value is not None]
    if not priced:
        return
    console.print("\n[bold]value per treated customer[/]: the change in money, against the extra cost; "
                  "ROI = (value - cost) / cost")
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False)
    for name in ("rule: arm", "metric", "value [95%]", "cost", "ROI"):
        table.add_column(name, justify="left" if name in ("rule: arm", "metric") else "right")
    for c in priced:
        table.add_row(f"{c.rule}: {c.arm}", c.metric,
                      f"{_number(c.value, True)} [{_number(c.value_low, True)}, {_number(c.value_high, True)}]",
                      _number(c.cost, True), "-" if c.roi is None else f"{c.roi:+.0%}")
    console.print(table)
