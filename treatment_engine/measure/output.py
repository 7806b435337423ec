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
    from rich.table import Table

    if not comparisons:
        console.print("no experiment has customers with a closed window yet: nothing to measure")
        return
    for version in sorted({c.plan_version for c in comparisons}):
        shown = [c for c in comparisons if c.plan_version == version]
        table = Table(title=f"results, plan version {version}", title_justify="left", show_lines=False,
                      caption="change: arm minus control, with its 95% interval; p: after Holm's correction",
                      caption_justify="left")
        for name, justify in (("rule: arm vs control / metric", "left"), ("n", "right"),
                              ("change [95%]", "right"), ("p", "right"), ("verdict", "left")):
            table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
        for c in shown:
            control = "none" if c.control == "universal_holdout" else c.control
            table.add_row(f"{c.rule}: {c.arm} vs {control}\n  {c.metric}", f"{c.customers:,}", _change(c),
                          _number(c.adjusted_p), _short(c.verdict))
        console.print(table)
        _print_money(shown, console)
        for c in shown:
            if c.srm:
                console.print(f"[bold red]sample ratio mismatch[/] in {c.experiment} ({c.rule}): arms are not "
                              f"the sizes the plan declares (p = {c.srm_p:.2g}); check assignment before "
                              f"trusting these results")
                break


def _short(verdict: str) -> str:
    """The table's verdict: 'not enough data yet (about N more customers per arm)' as '+N/arm needed'."""
    if verdict.startswith("not enough data yet"):
        return "not enough data: ~" + verdict.split("about ")[1].split(" more")[0] + " more/arm"
    return verdict


def _print_money(shown: list[Comparison], console: Any) -> None:
    from rich.table import Table

    priced = [c for c in shown if c.value is not None]
    if not priced:
        return
    table = Table(title="value per treated customer", title_justify="left",
                  caption="value: the metric's change in money; ROI: (value - cost) / cost", caption_justify="left")
    for name in ("rule / arm", "metric", "value [95%]", "cost", "ROI"):
        table.add_column(name, justify="left" if name in ("rule / arm", "metric") else "right")
    for c in priced:
        table.add_row(f"{c.rule}: {c.arm}", c.metric,
                      f"{_number(c.value, True)} [{_number(c.value_low, True)}, {_number(c.value_high, True)}]",
                      _number(c.cost, True), "-" if c.roi is None else f"{c.roi:+.0%}")
    console.print(table)
