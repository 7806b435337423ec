"""Stage 1 of the decision query (:mod:`.decision_query`): who the customer is.

The customer id, the segment, lifecycle stage and value tier (given, else derived), the
error of a row that cannot be decided, and each rule's profit budget; each clause
reproduces a function of :mod:`treatment_engine.semantics`, named in the method that
builds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from sqlglot import exp

from .. import semantics
from ..compile import CompiledCondition, CompiledPlan
from ..semantics import Dimension
from .expressions import ExpressionCompiler, FieldColumns
from .fragments import NULL, Value, and_, case, coalesce, holds, not_, number, paren, present, select, string

if TYPE_CHECKING:
    from .decision_query import LimitsRelation

IN_LIST_LIMIT = 4  # see one_of
Branch = tuple[exp.Expr, exp.Expr]  # (WHEN, THEN) of a CASE
BUDGET = "__budget"  # see ResolvedStage.budget


def one_of(value: exp.Expr, ids: list[str]) -> exp.Expr:
    """TRUE when ``value`` is one of ``ids``; NULL or FALSE otherwise (used where both fail).

    Past a few items DuckDB turns ``x IN (...)`` (and ARRAY_CONTAINS of a constant list)
    into a hash join against the list (a MARK join) that every row probes; a simple CASE
    stays a comparison in the projection.
    """
    if len(ids) <= IN_LIST_LIMIT:
        return exp.In(this=paren(value), expressions=[string(i) for i in ids])
    return exp.Case(this=paren(value), ifs=[exp.If(this=string(i), true=exp.true()) for i in ids],
                    default=exp.false())


class ResolvedStage:
    """The resolved stage's part of the query builder (:class:`.decision_query.DecisionQueryBuilder`)."""

    plan: CompiledPlan
    limits: LimitsRelation | None
    plain: ExpressionCompiler
    cid: Value
    fields: Mapping[tuple[str, ...], FieldColumns]

    def field(self, path: tuple[str, ...]) -> Value:
        columns = self.fields.get(path)
        return columns.value() if columns else NULL

    def customer_id_ok(self) -> exp.Expr:
        """semantics.check_profile (the id half) and semantics.customer_id_of."""
        cid = self.cid.s
        return and_(*present(cid), exp.NEQ(this=cid, expression=string(""))) if cid else exp.false()

    def given_or_derived(self, dimension: Dimension, entries: tuple[CompiledCondition, ...],
                         ids: frozenset[str]) -> tuple[exp.Expr, Branch | None]:
        """semantics.given, else semantics.derived: the value, and the error branch of a row
        whose given value the plan does not define (None when the source never gives one)."""
        derived = case([(self.plain.condition(e.expression) if e.expression is not None else exp.true(),
                         string(e.id)) for e in entries], exp.Null())
        return self.given_else(dimension, ids, derived)

    def tier(self) -> tuple[exp.Expr, Branch | None]:
        """semantics.given, else semantics.tier_for (tiers are sorted by descending min)."""
        plan = self.plan
        value = self.field(plan.tier_field).n if plan.tier_field is not None else None
        derived = case([(exp.GTE(this=paren(value), expression=number(t.min)), string(t.id))
                        for t in plan.tiers], exp.Null()) if value is not None else exp.Null()
        return self.given_else(semantics.TIER, plan.tier_ids, derived)

    def given_else(self, dimension: Dimension, ids: frozenset[str],
                   derived: exp.Expr) -> tuple[exp.Expr, Branch | None]:
        given = self.field((dimension.key,))
        if not given.parts():
            return derived, None
        defined = one_of(given.s, sorted(ids)) if given.s is not None and ids else exp.false()
        bad = and_(given.is_not_null(), not_(holds(defined)))
        # COALESCE, not CASE on the given value: the same for every row that is decided (a
        # given value that is not text makes the row an error row, whose rule is never
        # picked) and cheaper, which counts because back ends inline it into every rule test.
        value = coalesce(given.s, derived) if given.s is not None else derived
        return value, (bad, self.undefined_message(dimension, given))

    def undefined_message(self, dimension: Dimension, given: Value) -> exp.Expr:
        """semantics.undefined_given, by the component that holds the given value."""
        branches: list[Branch] = []
        if given.s is not None:
            before, after = semantics.undefined_text_parts(dimension)
            branches.append((present(given.s)[0],
                             exp.Concat(expressions=[string(before), given.s, string(after)])))
        for component in ("n", "b", "o"):
            part = getattr(given, component)
            if part is not None:
                branches.append((present(part)[0], string(semantics.undefined_kind(dimension, component))))
        # One component (a text column, say) needs no CASE: the value is known to be present.
        return branches[0][1] if len(branches) == 1 else case(branches)

    def error(self, invalid_column: str | None, undefined: list[Branch | None]) -> exp.Expr:
        """The first reason a row cannot be decided, in semantics.check_profile's order and
        then semantics.DIMENSIONS'; NULL for a row that is decided."""
        branches: list[Branch] = []
        if invalid_column:
            branches.append((not_(exp.Is(this=exp.column(invalid_column), expression=exp.Null())),
                             exp.column(invalid_column)))
        branches.append((not_(self.customer_id_ok()), string(semantics.NO_CUSTOMER_ID)))
        branches += [branch for branch in undefined if branch is not None]
        return case(branches, exp.Null())

    def budget(self) -> exp.Expr | None:
        """semantics.profitable's ratio x value, once per row (None: no policy or no value):
        every rule's ratio test compares its cost with this same product, and reading a
        column there costs less than a multiplication in each rule test (1,000,000
        customers, the 500-rule plan: 1.5 against 1.7 s of CPU)."""
        policy = self.plan.policy
        value = self.field(policy.value_field).n if policy is not None else None
        if policy is None or value is None:
            return None
        return exp.Mul(this=number(policy.delight_max_cost_ratio), expression=paren(value))

    def resolved_stage(self, source: exp.Expr, kept: list[exp.Column], invalid_column: str | None) -> exp.Select:
        plan, limits = self.plan, self.limits
        segment, bad_segment = self.given_or_derived(semantics.SEGMENT, plan.segments, plan.segment_ids)
        stage, bad_stage = self.given_or_derived(semantics.STAGE, plan.lifecycle, plan.stage_ids)
        tier, bad_tier = self.tier()
        needed = sorted({c for f in self.fields.values() for c in (f.n, f.s, f.b, f.o) if c})
        if limits is not None:
            needed += [limits.cooling_down, *sorted(limits.blocked.values())]
        query = select(
            *kept,  # source columns passed through, e.g. an order key
            *(exp.column(c) for c in needed),
            exp.alias_(case([(self.customer_id_ok(), self.cid.s or exp.Null())], exp.Null()), "customer_id",
                       copy=False),
            exp.alias_(self.error(invalid_column, [bad_segment, bad_stage, bad_tier]), "error", copy=False),
            exp.alias_(segment, "segment", copy=False), exp.alias_(stage, "lifecycle_stage", copy=False),
            exp.alias_(tier, "value_tier", copy=False),
            *([exp.alias_(budget, BUDGET, copy=False)] if (budget := self.budget()) is not None else []),
        ).from_(copy=False, expression=source)
        if limits is not None:
            query = query.join(limits.relation, on=exp.EQ(this=exp.column(limits.customer_id),
                                                         expression=self.cid.s or exp.Null()),
                               join_type="left", copy=False)
        return query
