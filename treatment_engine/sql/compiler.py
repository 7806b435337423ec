"""The SQL compiler's public names in one place, for the back ends that run its query.

The work is split by job: :mod:`.expressions` compiles conditions (a visitor over the
expression tree), :mod:`.decision_query` builds the plan's query around them (its first stage in
:mod:`.resolution`), and
:mod:`.fragments` holds the typed-component helpers both use.
"""

from __future__ import annotations

from .decision_query import (
    OUTPUT_COLUMNS,
    PERMITTED_PREFIX,
    DecisionQuery,
    DecisionQueryBuilder,
    LimitsRelation,
    decision_query,
    decision_sql,
    permitted_flags,
    required_fields,
)
from .expressions import DATE_PATTERN, ExpressionCompiler, FieldColumns
from .resolution import IN_LIST_LIMIT, one_of

__all__ = [
    "DATE_PATTERN",
    "IN_LIST_LIMIT",
    "OUTPUT_COLUMNS",
    "PERMITTED_PREFIX",
    "DecisionQuery",
    "DecisionQueryBuilder",
    "ExpressionCompiler",
    "FieldColumns",
    "LimitsRelation",
    "decision_query",
    "decision_sql",
    "one_of",
    "permitted_flags",
    "required_fields",
]
