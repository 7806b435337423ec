"""Metrics in the plan (docs/plan-format.md, appendix I): what an outcome event counts for.

A metric names an event type, an optional ``if`` over the event's own fields (section 6,
parsed like every condition), what to compute per customer over the events in a window
after their decision, and which direction is better. Part of the core: the plan model
holds :class:`Metric` and the compiled plan :class:`CompiledMetric`; the measuring itself
(SQL, statistics) lives in the adapter modules of this package.

This module imports nothing of the plan model (``model`` imports it): its strict base comes
from ``strict``, and it declares its own duration type.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from ..durations import PATTERN, at_most, seconds
from ..errors import Location
from ..expressions.ast import Expression
from ..expressions.closures import Compiled, compile_expression
from ..strict import PlanPart

Compute = Literal["rate", "count", "sum", "mean", "last"]
NEEDS_FIELD = ("sum", "mean", "last")  # computed from a numeric field of the events
MAX_WINDOW_SECONDS = 3660 * 86_400  # ten years: outcomes are read long after decisions
MAX_VALUE = 1_000_000_000  # money per unit of a metric, as an action's cost is bounded


Window = Annotated[str, StringConstraints(pattern=PATTERN), AfterValidator(at_most(MAX_WINDOW_SECONDS))]
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class Metric(PlanPart):
    """One metric: ``compute`` over the ``event`` events (those whose ``if`` holds) that a
    customer has ``within`` the window after their first decision in an experiment."""

    id: Annotated[str, StringConstraints(min_length=1)]
    description: str | None = None
    event: Annotated[str, StringConstraints(min_length=1)]
    if_: str | None = Field(default=None, alias="if")
    compute: Compute
    field: str | None = None
    within: Window
    higher_is_better: bool = True
    # Money one unit of the metric is worth (one churned customer, one unit of revenue):
    # with it, a difference becomes incremental value, weighed against the treatment's cost.
    value: Annotated[float, Field(ge=0, le=MAX_VALUE, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _field_fits_compute(self) -> Metric:
        if self.compute in NEEDS_FIELD and self.field is None:
            raise ValueError(f"'compute: {self.compute}' needs 'field': the numeric event field to "
                             f"{'add up' if self.compute == 'sum' else 'read'} (amount, score, ...)")
        if self.compute not in NEEDS_FIELD and self.field is not None:
            raise ValueError(f"'compute: {self.compute}' counts events and reads no field: drop 'field' "
                             f"(or compute sum, mean or last of it)")
        if self.field is not None and not _FIELD_NAME.match(self.field):
            raise ValueError(f"'field' must be one top-level event field name, got {self.field!r}")
        return self


@dataclass(frozen=True, slots=True)
class CompiledMetric:
    id: str
    event: str
    expression: Expression | None  # the `if`, over the event's fields
    test: Compiled | None
    compute: str
    field: str | None
    within: int  # seconds after the decision; the edge itself is inside the window
    higher_is_better: bool
    value: float | None
    location: Location

    @property
    def is_rate(self) -> bool:
        return self.compute == "rate"

    def matches(self, fields: dict[str, Any]) -> bool:
        """Whether an event of this metric's type counts for it (its ``if`` holds: true, not null)."""
        return self.test is None or self.test(fields, (None, None, None, 0)) is True


def compile_metric(metric: Metric, expression: Expression | None, location: Location) -> CompiledMetric:
    test = compile_expression(expression, resolved_names=False) if expression is not None else None
    return CompiledMetric(metric.id, metric.event, expression, test, metric.compute, metric.field,
                          seconds(metric.within), metric.higher_is_better, metric.value, location)
