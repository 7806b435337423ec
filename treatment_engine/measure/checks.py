"""Whole-plan checks of metrics (appendix I), run by :mod:`..validate` with the rest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import PlanIssue
from ..expressions.ast import Call, Expression, walk


def check_metric_conditions(metrics: Sequence[Any], conditions: Sequence[Expression | None],
                            issues: list[PlanIssue]) -> None:
    """``metrics``: located metrics (value, source, path). A metric's ``if`` reads one event:
    ``days_since`` counts days to a decision's ``as_of``, which an event does not have."""
    for metric, condition in zip(metrics, conditions, strict=True):
        if condition is None:
            continue
        for node in walk(condition):
            if isinstance(node, Call) and node.function == "days_since":
                issues.append(PlanIssue(
                    metric.source.locate(metric.path + ("if",), prefer_key=False), "bad-expression",
                    f"metric '{metric.value.id}': days_since has no as_of to count to over an event",
                    "compare the event's own fields (amount, score, ...)"))
                break
