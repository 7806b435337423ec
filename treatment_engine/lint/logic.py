"""Small, sound reasoning about conditions: does one imply another, can both hold?

Each answer is True, False, or None for "cannot tell". It handles what plans are
mostly made of: conjunctions of ``field <op> literal`` and ``field in [..]``. A
condition holds only when true, and comparisons are true only for non-null values of
the literal's type, so interval reasoning per field is sound under the spec's
three-valued logic. Anything else (or, not, arithmetic, functions) gives None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..expressions.ast import (
    FLIPPED,
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
    Visitor,
    fields_read,
)
from ..expressions.unparse import unparse


@dataclass(frozen=True)
class Range:
    """The numbers a field may take: an interval, each end open or closed."""

    low: float = -math.inf
    low_closed: bool = False
    high: float = math.inf
    high_closed: bool = False

    def empty(self) -> bool:
        return self.low > self.high or (self.low == self.high and not (self.low_closed and self.high_closed))

    def meet(self, other: Range) -> Range:
        low, low_closed = max((self.low, not self.low_closed), (other.low, not other.low_closed))
        high, high_closed = min((self.high, self.high_closed), (other.high, other.high_closed))
        return Range(low, not low_closed, high, high_closed)

    def within(self, other: Range) -> bool:
        """Every number of self is in other."""
        if self.empty():
            return True
        low_ok = self.low > other.low or (self.low == other.low and (other.low_closed or not self.low_closed))
        high_ok = self.high < other.high or (self.high == other.high and (other.high_closed or not self.high_closed))
        return low_ok and high_ok


# An atom's meaning: ("number", Range), or ("text" | "boolean", frozenset of allowed values).
Meaning = tuple[str, object]


class _Atom(Visitor[tuple[str, Meaning] | None]):
    """A node's meaning as one field's constraint, when it is an atom lint reasons about."""

    def visit_field(self, node: Field) -> tuple[str, Meaning] | None:
        return node.name, ("boolean", frozenset([True]))  # a bare field holds only when it is true

    def visit_comparison(self, node: Comparison) -> tuple[str, Meaning] | None:
        left, right, op = node.left, node.right, node.operator
        if isinstance(left, Literal) and isinstance(right, Field):
            left, right, op = right, left, FLIPPED[op]
        if not (isinstance(left, Field) and isinstance(right, Literal)):
            return None
        value = right.value
        if isinstance(value, bool) and op == "==":
            return left.name, ("boolean", frozenset([value]))
        if isinstance(value, bool) or value is None:
            return None
        if isinstance(value, (int, float)):
            v = float(value)
            ranges = {"<": Range(high=v), "<=": Range(high=v, high_closed=True), ">": Range(low=v),
                      ">=": Range(low=v, low_closed=True), "==": Range(v, True, v, True)}
            return (left.name, ("number", ranges[op])) if op in ranges else None
        if op == "==":
            return left.name, ("text", frozenset([value]))
        return None

    def visit_membership(self, node: Membership) -> tuple[str, Meaning] | None:
        if node.negated or not isinstance(node.element, Field) or not isinstance(node.container, ListLiteral):
            return None
        items = node.container.items
        if items and all(isinstance(i, str) for i in items):
            return node.element.name, ("text", frozenset(items))
        return None

    # Anything else is no atom: lint cannot tell (or, not, arithmetic, functions, constants).
    def visit_literal(self, node: Literal) -> tuple[str, Meaning] | None:
        return None

    def visit_list_literal(self, node: ListLiteral) -> tuple[str, Meaning] | None:
        return None

    def visit_call(self, node: Call) -> tuple[str, Meaning] | None:
        return None

    def visit_not(self, node: Not) -> tuple[str, Meaning] | None:
        return None

    def visit_negate(self, node: Negate) -> tuple[str, Meaning] | None:
        return None

    def visit_logical(self, node: Logical) -> tuple[str, Meaning] | None:
        return None

    def visit_arithmetic(self, node: Arithmetic) -> tuple[str, Meaning] | None:
        return None


_ATOM = _Atom()


def _constraints(expression: Expression) -> dict[str, Meaning] | None:
    """Per-field meaning of a conjunction of atoms, or None if it is not one."""
    parts = expression.operands if isinstance(expression, Logical) and expression.operator == "and" \
        else (expression,)
    found: dict[str, Meaning] = {}
    for part in parts:
        atom = part.accept(_ATOM)
        if atom is None:
            return None
        name, (kind, value) = atom
        if name in found:
            previous_kind, previous = found[name]
            if previous_kind != kind:
                return {name: ("number", Range(1, False, 0, False))}  # a number and a string: never
            if kind == "number":
                found[name] = (kind, previous.meet(value))  # type: ignore[attr-defined]
            else:
                found[name] = (kind, previous & value)  # type: ignore[operator]
        else:
            found[name] = (kind, value)
    return found


def implies(premise: Expression | None, conclusion: Expression | None) -> bool | None:
    """Whether every profile for which ``premise`` is true makes ``conclusion`` true."""
    if conclusion is None:
        return True
    if premise is None:
        return False  # a condition holds for some customers only
    if unparse(premise) == unparse(conclusion):
        return True
    if not fields_read(conclusion) <= fields_read(premise):
        # The premise leaves a field of the conclusion free, so (short of a conclusion
        # that holds whatever that field is, which no plan writes on purpose) it can be
        # true while the conclusion is not.
        return False
    given, wanted = _constraints(premise), _constraints(conclusion)
    if given is None or wanted is None:
        return None
    for name, (kind, value) in wanted.items():
        if name not in given:
            return False  # the premise leaves this field free
        have_kind, have = given[name]
        if have_kind != kind:
            return None
        if kind == "number":
            if not have.within(value):  # type: ignore[attr-defined]
                return False
        elif not have <= value:  # type: ignore[operator]
            return False
    return True


def disjoint(first: Expression | None, second: Expression | None) -> bool:
    """True only when no profile can make both conditions true."""
    if first is None or second is None:
        return False
    a, b = _constraints(first), _constraints(second)
    if a is None or b is None:
        return False
    for name in a.keys() & b.keys():
        kind_a, value_a = a[name]
        kind_b, value_b = b[name]
        if kind_a != kind_b:
            return True  # one needs a number, the other a string
        if kind_a == "number" and value_a.meet(value_b).empty():  # type: ignore[attr-defined]
            return True
        if kind_a != "number" and not (value_a & value_b):  # type: ignore[operator]
            return True
    return any(k == "number" and v.empty() for k, v in (*a.values(), *b.values()))  # type: ignore[attr-defined]
