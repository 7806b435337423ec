"""A compiled plan as one SQL query (sqlglot expression trees, rendered per dialect).

The query reads a canonical view (see :mod:`.sources`) in which each profile field the
plan reads is four typed components (:mod:`.values`), and yields one decision per row,
in input order, with every MUST field of spec section 4. It is a projection only (no
joins, windows or sorts), so engines can stream it with bounded memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlglot import exp

from ..compile import CompiledChannel, CompiledCondition, CompiledPlan, CompiledRule
from ..expressions.ast import (
    Arithmetic,
    Call,
    Comparison,
    Expression,
    Field,
    ListLiteral,
    Literal,
    Logical,
    Membership,
    Negate,
    Not,
)
from .values import (
    DOUBLE,
    NULL,
    Unsupported,
    Value,
    and_,
    boolean,
    case,
    holds,
    not_,
    null_boolean,
    number,
    or_,
    paren,
    select,
    string,
)

# A whole ISO 8601 date or date-time, as values.date_ordinal accepts (RE2 syntax).
DATE_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
                r"([T ]([01][0-9]|2[0-3])(:[0-5][0-9](:[0-5][0-9]([.,][0-9]+)?)?)?"
                r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$")
IN_LIST_LIMIT = 4  # see one_of
PERMITTED_PREFIX = "permitted__"  # the per-channel flags of consent_columns=True


@dataclass(frozen=True)
class FieldColumns:
    """The canonical view's columns for one field path; None for a component it lacks."""

    n: str | None = None
    s: str | None = None
    b: str | None = None
    o: str | None = None

    def value(self) -> Value:
        return Value(*(exp.column(c) if c else None for c in (self.n, self.s, self.b, self.o)))


def required_fields(plan: CompiledPlan) -> list[tuple[str, ...]]:
    """Every profile field path a plan's decisions read, ids included, in a stable order."""
    return list(plan.profile_fields)


class ExpressionCompiler:
    def __init__(self, fields: Mapping[tuple[str, ...], FieldColumns], as_of: date,
                 resolved: Mapping[str, exp.Expr] | None = None) -> None:
        self.fields = fields
        self.as_of = exp.Cast(this=exp.Literal.string(as_of.isoformat()), to=exp.DataType.build("DATE"))
        self.resolved = resolved

    def condition(self, node: Expression) -> exp.Expr:
        """A boolean SQL expression that is TRUE exactly when the spec says the condition holds."""
        return holds(self.value(node).b or null_boolean())

    def value(self, node: Expression) -> Value:
        if isinstance(node, Literal):
            v = node.value
            if v is None:
                return NULL
            if isinstance(v, bool):
                return Value(b=boolean(v))
            if isinstance(v, (int, float)):
                return Value(n=number(float(v)))
            return Value(s=string(v))
        if isinstance(node, ListLiteral):
            return Value(o=exp.true())
        if isinstance(node, Field):
            if self.resolved is not None and node.name in self.resolved:
                return Value(s=self.resolved[node.name])
            columns = self.fields.get(node.path)
            return columns.value() if columns else NULL
        if isinstance(node, Call):
            argument = self.value(node.argument)
            if node.function == "missing":
                return Value(b=argument.is_null())
            return Value(n=self.days_since(argument))
        if isinstance(node, Not):
            operand = self.value(node.operand)
            return Value(b=not_(paren(operand.b)) if operand.b is not None else None)
        if isinstance(node, Negate):
            operand = self.value(node.operand)
            return Value(n=exp.Neg(this=paren(operand.n)) if operand.n is not None else None)
        if isinstance(node, Logical):
            parts = [self.value(o).b or null_boolean() for o in node.operands]
            join = exp.and_ if node.operator == "and" else exp.or_
            return Value(b=paren(join(*(paren(p) for p in parts))))
        if isinstance(node, Arithmetic):
            return Value(n=self.arithmetic(node))
        if isinstance(node, Comparison):
            return Value(b=self.comparison(node))
        if isinstance(node, Membership):
            return Value(b=self.membership(node))
        raise Unsupported(f"not an expression node: {node!r}")  # pragma: no cover

    def days_since(self, argument: Value) -> exp.Expr | None:
        text = argument.s
        if text is None:
            return None
        valid = and_(
            exp.RegexpLike(this=text, expression=exp.Literal.string(DATE_PATTERN)),
            exp.NEQ(this=exp.Substring(this=text, start=exp.Literal.number(1), length=exp.Literal.number(4)),
                    expression=exp.Literal.string("0000")),  # no year 0 in the proleptic calendar
        )
        day = exp.TryCast(this=exp.Substring(this=text, start=exp.Literal.number(1),
                                             length=exp.Literal.number(10)),
                          to=exp.DataType.build("DATE"))
        difference = exp.Cast(this=exp.DateDiff(this=self.as_of, expression=day, unit=exp.var("DAY")), to=DOUBLE)
        return case([(valid, difference)])

    def arithmetic(self, node: Arithmetic) -> exp.Expr | None:
        left, right = self.value(node.left).n, self.value(node.right).n
        if left is None or right is None:
            return None
        a, b = paren(left), paren(right)
        if node.operator == "+":
            return exp.Add(this=a, expression=b)
        if node.operator == "-":
            return exp.Sub(this=a, expression=b)
        if node.operator == "*":
            return exp.Mul(this=a, expression=b)
        # Division by zero is null (SQL engines disagree: DuckDB gives inf).
        return case([(exp.NEQ(this=b, expression=number(0.0)), exp.Div(this=a, expression=b))])

    def comparison(self, node: Comparison) -> exp.Expr:
        left, right = self.value(node.left), self.value(node.right)
        op = node.operator
        nan_possible = any(isinstance(n, (Arithmetic, Negate)) for n in (node.left, node.right))
        if op in ("==", "!="):
            equal = self.equality(left, right, nan_possible)
            return not_(paren(equal)) if op == "!=" else equal
        compare = {"<": exp.LT, "<=": exp.LTE, ">": exp.GT, ">=": exp.GTE}[op]
        single = _single_kind(left, right)
        if single in ("n", "s") and not (single == "n" and nan_possible):
            # One typed component on each side: SQL's own NULL propagation is the spec's.
            return compare(this=paren(getattr(left, single)), expression=paren(getattr(right, single)))
        branches: list[tuple[exp.Expr, exp.Expr]] = []
        if left.n is not None and right.n is not None:
            test: exp.Expr = compare(this=paren(left.n), expression=paren(right.n))
            if nan_possible:  # NaN orders before nothing in IEEE; DuckDB sorts it last
                test = and_(test, not_(exp.IsNan(this=left.n)), not_(exp.IsNan(this=right.n)))
            branches.append((and_(*_present(left.n, right.n)), test))
        if left.s is not None and right.s is not None:
            branches.append((and_(*_present(left.s, right.s)),
                             compare(this=paren(left.s), expression=paren(right.s))))
        return case(branches, null_boolean())

    def equality(self, left: Value, right: Value, nan_possible: bool) -> exp.Expr:
        if left.o is not None and right.o is not None:
            raise Unsupported("comparing two values that may both be objects or arrays")
        single = _single_kind(left, right)
        if single is not None and not (single == "n" and nan_possible):
            return exp.EQ(this=paren(getattr(left, single)), expression=paren(getattr(right, single)))
        branches: list[tuple[exp.Expr, exp.Expr]] = [
            (or_(left.is_null(), right.is_null()), null_boolean())]
        for a, b in ((left.n, right.n), (left.s, right.s), (left.b, right.b)):
            if a is not None and b is not None:
                test: exp.Expr = exp.EQ(this=paren(a), expression=paren(b))
                if nan_possible and a is left.n:
                    test = and_(test, not_(exp.IsNan(this=a)))
                branches.append((and_(*_present(a, b)), test))
        return case(branches, exp.false())

    def membership(self, node: Membership) -> exp.Expr:
        element = self.value(node.element)
        container = node.container
        if not isinstance(container, ListLiteral):
            holder = self.value(container)
            if holder.o is not None:
                raise Unsupported("'in' over a list that is not written in the plan")
            return null_boolean()  # the right side is never a list
        items = container.items
        kinds = [k for k, part in zip("nsbo", (element.n, element.s, element.b, element.o), strict=True)
                 if part is not None]
        if len(kinds) == 1 and kinds[0] != "o":
            literals = {"n": [number(float(i)) for i in items if isinstance(i, (int, float)) and not isinstance(i, bool)],
                        "s": [string(i) for i in items if isinstance(i, str)],
                        "b": [boolean(i) for i in items if isinstance(i, bool)]}[kinds[0]]
            part = getattr(element, kinds[0])
            if literals:  # NULL IN (...) is NULL, as the spec wants
                found: exp.Expr = exp.In(this=paren(part), expressions=literals)
                return not_(paren(found)) if node.negated else found
            return case([(exp.Is(this=paren(part), expression=exp.Null()), null_boolean())], boolean(node.negated))
        groups = (
            (element.n, [number(float(i)) for i in items if isinstance(i, (int, float)) and not isinstance(i, bool)]),
            (element.s, [string(i) for i in items if isinstance(i, str)]),
            (element.b, [boolean(i) for i in items if isinstance(i, bool)]),
        )
        branches: list[tuple[exp.Expr, exp.Expr]] = [(element.is_null(), null_boolean())]
        for component, literals in groups:
            if component is None:
                continue
            found = exp.In(this=paren(component), expressions=literals) if literals else exp.false()
            present = not_(exp.Is(this=paren(component), expression=exp.Null()))
            branches.append((present, not_(paren(found)) if node.negated else found))
        return case(branches, boolean(node.negated))


def _single_kind(left: Value, right: Value) -> str | None:
    """The component both values have and nothing else (``n``, ``s`` or ``b``), if any."""
    for kind in ("n", "s", "b"):
        if [p is not None for p in (left.n, left.s, left.b, left.o)] == [k == kind for k in "nsbo"] \
                and [p is not None for p in (right.n, right.s, right.b, right.o)] == [k == kind for k in "nsbo"]:
            return kind
    return None


def _present(*parts: exp.Expr) -> list[exp.Expr]:
    return [not_(exp.Is(this=paren(p), expression=exp.Null())) for p in parts]


# -- the decision query ----------------------------------------------------------------

@dataclass(frozen=True)
class LimitsRelation:
    """Per-customer contact limits (:mod:`treatment_engine.contacts`) as a relation the
    query LEFT JOINs by customer id; a customer it lacks has no limits. Build it with
    :mod:`.limits`, which names the columns."""

    relation: exp.Expr  # a table expression, aliased
    customer_id: str
    cooling_down: str  # BOOLEAN: delight rules do not apply
    blocked: Mapping[str, str]  # channel id -> BOOLEAN column: its cap is reached


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


def permitted_flags(plan: CompiledPlan, limits: LimitsRelation | None = None) -> list[str]:
    """The flag columns of ``consent_columns=True``: a channel not permitted to everyone."""
    return [f"{PERMITTED_PREFIX}{n}" for n in sorted(plan.channels)
            if plan.channels[n].consent is not None or (limits is not None and n in limits.blocked)]


@dataclass(frozen=True)
class DecisionQuery:
    sql: exp.Select
    rules: tuple[CompiledRule, ...]  # by the index the query's __rule column holds


def decision_query(plan: CompiledPlan, fields: Mapping[tuple[str, ...], FieldColumns],
                   source: exp.Expr, as_of: date, *, invalid_column: str | None = None,
                   list_base: int = 1, carry: tuple[str, ...] = (),
                   consent_columns: bool = False, limits: LimitsRelation | None = None) -> DecisionQuery:
    """One row per source row: customer_id, segment, lifecycle_stage, value_tier, treatment,
    rule, actions, channels, channel (the first), cost, error. ``invalid_column`` names a
    source column holding a reason the row is no profile at all (bad JSON, not an object).
    ``limits`` brings in contact caps and the delight cooldown, for a plan that sets them."""
    plain = ExpressionCompiler(fields, as_of)

    def field(path: tuple[str, ...]) -> Value:
        columns = fields.get(path)
        return columns.value() if columns else NULL

    cid = field(("customer_id",))
    cid_ok = and_(*_present(cid.s), exp.NEQ(this=cid.s, expression=string(""))) if cid.s else exp.false()

    def resolved(key: str, entries: tuple[CompiledCondition, ...], ids: frozenset[str]) -> tuple[exp.Expr, exp.Expr]:
        given = field((key,))
        derived = case([(plain.condition(e.expression) if e.expression is not None else exp.true(),
                         string(e.id)) for e in entries], exp.Null())
        if not given.parts():
            return derived, exp.false()
        defined = (one_of(given.s, sorted(ids))
                   if given.s is not None and ids else exp.false())
        bad = and_(given.is_not_null(), not_(holds(defined)))
        # COALESCE, not CASE on the given value: the same for every row that is decided (a
        # given value that is not text makes the row an error row, whose rule is never
        # picked) and cheaper, which counts because engines inline it into every rule test.
        value = exp.func("COALESCE", given.s, derived) if given.s is not None else derived
        return value, bad

    segment, bad_segment = resolved("segment", plan.segments, plan.segment_ids)
    stage, bad_stage = resolved("lifecycle_stage", plan.lifecycle, plan.stage_ids)
    tier_given = field(("value_tier",))
    tier_value = field(plan.tier_field).n if plan.tier_field is not None else None
    derived_tier = case([(exp.GTE(this=paren(tier_value), expression=number(t.min)), string(t.id))
                         for t in plan.tiers], exp.Null()) if tier_value is not None else exp.Null()
    if tier_given.parts():
        tier_ok = (one_of(tier_given.s, sorted(plan.tier_ids))
                   if tier_given.s is not None and plan.tier_ids else exp.false())
        tier = exp.func("COALESCE", tier_given.s, derived_tier) if tier_given.s is not None else derived_tier
        bad_tier = and_(tier_given.is_not_null(), not_(holds(tier_ok)))
    else:
        tier, bad_tier = derived_tier, exp.false()

    error_branches: list[tuple[exp.Expr, exp.Expr]] = []
    if invalid_column:
        error_branches.append((not_(exp.Is(this=exp.column(invalid_column), expression=exp.Null())),
                               exp.column(invalid_column)))
    error_branches += [
        (not_(cid_ok), string("the profile has no customer_id (a non-empty string)")),
        (bad_segment, string("the profile gives a segment the plan does not define")),
        (bad_stage, string("the profile gives a lifecycle stage the plan does not define")),
        (bad_tier, string("the profile gives a value tier the plan does not define")),
    ]
    resolved_columns = {"segment": exp.column("segment"), "lifecycle_stage": exp.column("lifecycle_stage"),
                        "value_tier": exp.column("value_tier")}
    in_rules = ExpressionCompiler(fields, as_of, resolved_columns)
    all_rules = (*plan.rules, plan.default)

    def unless(column: str | None) -> exp.Expr | None:
        # A customer missing from the limits relation has NULL here: no limit.
        return not_(exp.func("COALESCE", exp.column(column), exp.false())) if column else None

    def consented(channel: CompiledChannel) -> exp.Expr:
        """TRUE when the profile may be contacted on the channel; NULL or FALSE otherwise."""
        if channel.consent is None:
            consent: exp.Expr = exp.true()
        else:
            flag = field(channel.consent).b
            consent = paren(flag) if flag is not None else exp.false()
        uncapped = unless(limits.blocked.get(channel.id)) if limits else None
        if uncapped is None:
            return consent
        return uncapped if channel.consent is None else paren(and_(consent, uncapped))

    def applies(rule: CompiledRule) -> exp.Expr:
        # Only ever used as a CASE WHEN test, which a NULL fails like FALSE; so the
        # conjunction needs no COALESCE (and SQL's AND/OR are the spec's three-valued ones).
        tests: list[exp.Expr] = []
        for column, allowed in (("segment", rule.segments), ("lifecycle_stage", rule.stages),
                                ("value_tier", rule.tiers)):
            if allowed is not None:
                tests.append(one_of(exp.column(column), sorted(allowed)))
        if rule.expression is not None:
            tests.append(paren(in_rules.value(rule.expression).b or null_boolean()))
        if rule.needs_profit_check and plan.policy is not None:
            value = field(plan.policy.value_field).n
            tests.append(exp.LTE(this=number(rule.action_cost), expression=exp.Mul(
                this=number(plan.policy.delight_max_cost_ratio), expression=paren(value)))
                if value is not None else exp.false())
        if rule.treatment == "delight" and limits is not None:
            tests.append(unless(limits.cooling_down) or exp.true())
        if rule.treatment != "none":
            tests.append(paren(or_(*(consented(c) for c in rule.channels))) if rule.channels
                         else exp.false())
        return and_(*tests) if tests else exp.true()

    chosen = case([(applies(rule), exp.Literal.number(i)) for i, rule in enumerate(plan.rules)],
                  exp.Literal.number(len(plan.rules)))

    needed = sorted({c for f in fields.values() for c in (f.n, f.s, f.b, f.o) if c})
    if limits is not None:
        needed += [limits.cooling_down, *sorted(limits.blocked.values())]
    kept = [exp.column(c) for c in carry]  # source columns passed through, e.g. an order key
    stage_one = select(
        *kept,
        *(exp.column(c) for c in needed),
        exp.alias_(case([(cid_ok, cid.s or exp.Null())], exp.Null()), "customer_id", copy=False),
        exp.alias_(case(error_branches, exp.Null()), "error", copy=False),
        exp.alias_(segment, "segment", copy=False), exp.alias_(stage, "lifecycle_stage", copy=False), exp.alias_(tier, "value_tier", copy=False),
    ).from_(copy=False, expression=source)
    if limits is not None:
        stage_one = stage_one.join(limits.relation, on=exp.EQ(this=exp.column(limits.customer_id),
                                                             expression=cid.s or exp.Null()),
                                   join_type="left", copy=False)
    stage_two = select("*", exp.alias_(case([(not_(exp.Is(this=exp.column("error"), expression=exp.Null())),
                                                  exp.Null())], chosen), "__rule", copy=False)).from_(copy=False, expression=
        exp.alias_(exp.Subquery(this=stage_one), "resolved", table=True, copy=False))

    index: exp.Expr = exp.column("__rule")  # the rule's position, 0-based
    if list_base:
        index = exp.Add(this=index, expression=exp.Literal.number(list_base))

    def lookup(values: list[exp.Expr]) -> exp.Expr:
        # One reference to __rule per output: a 500-way CASE here would be re-evaluated per
        # branch wherever the engine inlines the projection.
        return exp.Bracket(this=exp.Array(expressions=values), expressions=[index])

    def text_list(items: tuple[str, ...] | list[str]) -> exp.Expr:
        return exp.Cast(this=exp.Array(expressions=[string(i) for i in items]), to=exp.DataType.build("ARRAY<VARCHAR>"))

    channel_ids = sorted(plan.channels)
    candidate = exp.to_identifier("ch")
    rule_channels = lookup([text_list([c.id for c in r.channels] if r.treatment != "none" else [])
                            for r in all_rules])
    # Without channels every list is empty: nothing to filter (and a CASE needs a WHEN).
    permitted: exp.Expr = exp.ArrayFilter(
        this=rule_channels,
        expression=exp.Lambda(this=exp.func("COALESCE", exp.Case(
            this=exp.column("ch"),
            ifs=[exp.If(this=string(name), true=consented(plan.channels[name])) for name in channel_ids],
            default=exp.false()), exp.false()), expressions=[candidate])) if channel_ids else rule_channels
    first = exp.Bracket(this=exp.column("channels"), expressions=[exp.Literal.number(0)])
    # The first channel's cost by its position in constant lists: one reference to the
    # filtered channel list (a CASE on it is expanded per branch, re-running the filter).
    position: exp.Expr = exp.ArrayPosition(
        this=exp.Cast(this=exp.Array(expressions=[string(n) for n in channel_ids]),
                      to=exp.DataType.build("ARRAY<VARCHAR>")), expression=first)
    if list_base != 1:
        position = exp.Sub(this=position, expression=exp.Literal.number(1 - list_base))
    first_cost = exp.Bracket(this=exp.Array(expressions=[number(plan.channels[n].cost) for n in channel_ids]),
                             expressions=[position]) if channel_ids else number(0.0)
    # With consent_columns, one TRUE/FALSE per channel that is not permitted to everyone
    # (consent or a cap), so that a summary can group by them and name each group's
    # channel without running the filter.
    flag_names = permitted_flags(plan, limits) if consent_columns else []
    decided = select(
        *(exp.alias_(exp.func("COALESCE", consented(plan.channels[name.removeprefix(PERMITTED_PREFIX)]),
                              exp.false()), name, copy=False) for name in flag_names),
        *(k.copy() for k in kept),
        exp.column("customer_id"), exp.column("segment"), exp.column("lifecycle_stage"),
        exp.column("value_tier"), exp.column("error"), exp.column("__rule"),
        exp.alias_(permitted, "channels", copy=False),
    ).from_(copy=False, expression=exp.alias_(exp.Subquery(this=stage_two), "chosen", table=True, copy=False))
    final = select(
        exp.column("customer_id"), exp.column("segment"), exp.column("lifecycle_stage"),
        exp.column("value_tier"),
        exp.alias_(lookup([string(r.treatment) for r in all_rules]), "treatment", copy=False),
        exp.alias_(lookup([string(r.id) for r in all_rules]), "rule", copy=False),
        exp.alias_(lookup([text_list(r.actions) for r in all_rules]), "actions", copy=False),
        exp.column("channels"),
        exp.alias_(first, "channel", copy=False),
        exp.alias_(exp.Add(this=lookup([number(r.action_cost) for r in all_rules]),
                           expression=exp.func("COALESCE", first_cost, number(0.0))), "cost", copy=False),
        exp.column("error"),
        *(k.copy() for k in kept),
        *(exp.column(name) for name in flag_names),
        # For summaries: grouping by the rule's position is cheaper than by its id and
        # treatment, which are looked up per row.
        *([exp.column("__rule")] if consent_columns else []),
    ).from_(copy=False, expression=exp.alias_(exp.Subquery(this=decided), "decided", table=True, copy=False))
    return DecisionQuery(final, all_rules)
