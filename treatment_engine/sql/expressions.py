"""Expressions as SQL: each node of a condition compiled to typed value components.

Spec section 6 in SQL, over the canonical view of :mod:`.sources` (each field four
components, :mod:`.fragments`). Where SQL back ends differ from the spec (division by zero,
NaN, year 0000) the SQL written here says what the spec says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlglot import exp

from ..expressions import ast
from .fragments import (
    DOUBLE,
    NULL,
    Unsupported,
    Value,
    and_,
    boolean,
    case,
    column,
    holds,
    not_,
    null_boolean,
    number,
    or_,
    paren,
    present,
    string,
)

# A whole ISO 8601 date or date-time, as values.date_ordinal accepts (RE2 syntax).
DATE_PATTERN = (r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
                r"([T ]([01][0-9]|2[0-3])(:[0-5][0-9](:[0-5][0-9]([.,][0-9]+)?)?)?"
                r"(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$")


@dataclass(frozen=True)
class FieldColumns:
    """The canonical view's columns for one field path; None for a component it lacks."""

    n: str | None = None
    s: str | None = None
    b: str | None = None
    o: str | None = None

    def value(self) -> Value:
        return Value(*(column(c) if c else None for c in (self.n, self.s, self.b, self.o)))


class ExpressionCompiler(ast.Visitor[Value]):
    """An expression as SQL over the canonical view: each node's value as typed components.

    ``resolved`` maps segment / lifecycle_stage / value_tier to the columns holding the
    resolved values, for rule conditions (which read those, not the profile's fields).
    """

    def __init__(self, fields: Mapping[tuple[str, ...], FieldColumns], as_of: date,
                 resolved: Mapping[str, exp.Expr] | None = None) -> None:
        self.fields = fields
        self.as_of = exp.Cast(this=exp.Literal.string(as_of.isoformat()), to=exp.DataType.build("DATE"))
        self.resolved = resolved

    def condition(self, node: ast.Expression) -> exp.Expr:
        """A boolean SQL expression that is TRUE exactly when the spec says the condition holds."""
        return holds(self.value(node).b or null_boolean())

    def value(self, node: ast.Expression) -> Value:
        return node.accept(self)

    def visit_literal(self, node: ast.Literal) -> Value:
        v = node.value
        if v is None:
            return NULL
        if isinstance(v, bool):
            return Value(b=boolean(v))
        if isinstance(v, (int, float)):
            return Value(n=number(float(v)))
        return Value(s=string(v))

    def visit_list_literal(self, node: ast.ListLiteral) -> Value:
        return Value(o=exp.true())  # a list is only ever compared as a whole (see visit_membership)

    def visit_field(self, node: ast.Field) -> Value:
        if self.resolved is not None and node.name in self.resolved:
            return Value(s=self.resolved[node.name])
        columns = self.fields.get(node.path)
        return columns.value() if columns else NULL

    def visit_call(self, node: ast.Call) -> Value:
        argument = self.value(node.argument)
        if node.function == "missing":
            return Value(b=argument.is_null())
        return Value(n=self.days_since(argument))

    def visit_not(self, node: ast.Not) -> Value:
        operand = self.value(node.operand)
        return Value(b=not_(paren(operand.b)) if operand.b is not None else None)

    def visit_negate(self, node: ast.Negate) -> Value:
        operand = self.value(node.operand)
        return Value(n=exp.Neg(this=paren(operand.n)) if operand.n is not None else None)

    def visit_logical(self, node: ast.Logical) -> Value:
        # Each part is a fresh tree of this visit, so it is joined in place: sqlglot's
        # default deep copy of every operand was a third of building a plan's query.
        # The parts need no parentheses of their own: and_ and or_ put them around an
        # AND or OR, and every other part binds tighter.
        parts = [self.value(o).b or null_boolean() for o in node.operands]
        join = and_ if node.operator == "and" else or_
        return Value(b=paren(join(*parts)))

    def visit_arithmetic(self, node: ast.Arithmetic) -> Value:
        return Value(n=self.arithmetic(node))

    def visit_comparison(self, node: ast.Comparison) -> Value:
        return Value(b=self.comparison(node))

    def visit_membership(self, node: ast.Membership) -> Value:
        return Value(b=self.membership(node))

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

    def arithmetic(self, node: ast.Arithmetic) -> exp.Expr | None:
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
        # Division by zero is null (SQL back ends disagree: DuckDB gives inf).
        return case([(exp.NEQ(this=b, expression=number(0.0)), exp.Div(this=a, expression=b))])

    def comparison(self, node: ast.Comparison) -> exp.Expr:
        left, right = self.value(node.left), self.value(node.right)
        op = node.operator
        nan_possible = any(isinstance(n, (ast.Arithmetic, ast.Negate)) for n in (node.left, node.right))
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
            branches.append((and_(*present(left.n, right.n)), test))
        if left.s is not None and right.s is not None:
            branches.append((and_(*present(left.s, right.s)),
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
                branches.append((and_(*present(a, b)), test))
        return case(branches, exp.false())

    def membership(self, node: ast.Membership) -> exp.Expr:
        element = self.value(node.element)
        container = node.container
        if not isinstance(container, ast.ListLiteral):
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
