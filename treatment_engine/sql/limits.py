"""Per-customer contact limits as a table the decision query joins (see decision_query.LimitsRelation).

The limits are worked out by :func:`treatment_engine.contacts.contact_state`, once per
customer with a history, so SQL applies exactly what the in-process evaluator applies;
only customers with a limit in force get a row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlglot import exp

from ..compile import CompiledPlan
from ..contacts import ANY_CHANNEL, ContactState
from .decision_query import LimitsRelation

TABLE = "__limits"
CUSTOMER_ID = "__limits_customer_id"
COOLING_DOWN = "__limits_cooling_down"


def capped_channels(plan: CompiledPlan) -> list[str]:
    """The channels a cap can block, in a stable order."""
    rules = plan.contact_rules
    if rules is None:
        return []
    keys = {cap.key for cap in rules.caps}
    return sorted(plan.channels) if ANY_CHANNEL in keys else sorted(keys & set(plan.channels))


def relation(plan: CompiledPlan, table: str = TABLE) -> LimitsRelation:
    blocked = {channel: f"__limits_blocked_{i}" for i, channel in enumerate(capped_channels(plan))}
    return LimitsRelation(exp.alias_(exp.to_table(table), "limits", table=True, copy=False),
                          CUSTOMER_ID, COOLING_DOWN, blocked)


def arrow_table(plan: CompiledPlan, states: Mapping[str, ContactState]) -> Any:
    """The rows of :func:`relation`: one per customer with a limit in force."""
    import pyarrow as pa

    columns = relation(plan).blocked
    limited = [(cid, state) for cid, state in states.items() if state.blocked or state.cooling_down]
    data: dict[str, Any] = {
        CUSTOMER_ID: pa.array([cid for cid, _ in limited], pa.string()),
        COOLING_DOWN: pa.array([state.cooling_down for _, state in limited], pa.bool_()),
    }
    for channel, column in columns.items():
        data[column] = pa.array([channel in state.blocked for _, state in limited], pa.bool_())
    return pa.table(data)
