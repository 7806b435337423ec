"""Expression tree to a tree of Python closures: the in-process back end.

Every compiled expression is a function ``f(profile, env) -> value`` where ``env`` is
an :data:`Env` tuple ``(segment, lifecycle_stage, value_tier, as_of_ordinal)``. A
condition holds only when ``f(...) is True``.

Why closures and not generated source: nothing an author writes ever reaches
``compile``/``eval``, and a closure per node costs one Python call. The shapes that
dominate real plans (``field <op> literal``, ``days_since(field) <op> n``,
``field in [..]``) are fused into one closure each, which is where the speed comes from.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from . import values
from .ast import (
    FLIPPED,
    RESOLVED_NAMES,
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
)

Env = tuple[Any, Any, Any, int]
Compiled = Callable[[dict[str, Any], Env], Any]

_EXACT_INT = 2**53  # integers up to this magnitude are exact as floats
_ORDER_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}


def compile_expression(node: Expression, *, resolved_names: bool) -> Compiled:
    """Compile a parsed expression. With ``resolved_names``, the fields ``segment``,
    ``lifecycle_stage`` and ``value_tier`` read the resolved values (rule conditions)."""
    return _Compiler(resolved_names).compile(node)


class _Compiler(Visitor[Compiled]):
    def __init__(self, resolved_names: bool) -> None:
        self.resolved_names = resolved_names

    def compile(self, node: Expression) -> Compiled:
        return node.accept(self)

    def visit_literal(self, node: Literal) -> Compiled:
        value = node.value
        return lambda p, e: value

    def visit_list_literal(self, node: ListLiteral) -> Compiled:
        items = node.items
        return lambda p, e: list(items)

    def visit_not(self, node: Not) -> Compiled:
        return _not(self.compile(node.operand))

    def visit_negate(self, node: Negate) -> Compiled:
        return _negate(self.compile(node.operand))

    def visit_logical(self, node: Logical) -> Compiled:
        parts = [self.compile(operand) for operand in node.operands]
        return _junction(parts, dominant=node.operator == "or")

    def visit_arithmetic(self, node: Arithmetic) -> Compiled:
        return _arithmetic(node.operator, self.compile(node.left), self.compile(node.right))

    def visit_field(self, node: Field) -> Compiled:
        path = node.path
        if self.resolved_names and len(path) == 1 and path[0] in RESOLVED_NAMES:
            index = RESOLVED_NAMES.index(path[0])
            return lambda p, e: e[index]
        if len(path) == 1:
            name = path[0]
            return lambda p, e: p.get(name)
        return lambda p, e: values.lookup(p, path)

    def top_level_name(self, node: Expression) -> str | None:
        """The name of a plain profile field, which fused leaves read with ``p.get``."""
        if (isinstance(node, Field) and len(node.path) == 1
                and not (self.resolved_names and node.path[0] in RESOLVED_NAMES)):
            return node.path[0]
        return None

    def visit_call(self, node: Call) -> Compiled:
        name = self.top_level_name(node.argument)
        if node.function == "missing":
            if name is not None:
                return lambda p, e: p.get(name) is None
            argument = self.compile(node.argument)
            return lambda p, e: argument(p, e) is None
        argument = self.compile(node.argument)
        date_ordinal = values.date_ordinal

        def days_since(p: dict[str, Any], e: Env) -> int | None:
            value = argument(p, e)
            if type(value) is not str:
                return None
            ordinal = date_ordinal(value)
            return None if ordinal is None else e[3] - ordinal

        return days_since

    def visit_comparison(self, node: Comparison) -> Compiled:
        op, left, right = node.operator, node.left, node.right
        if isinstance(left, Literal) and not isinstance(right, Literal):
            op, left, right = FLIPPED[op], right, left
        if isinstance(right, Literal):
            return self.compare_to_literal(op, left, right.value)
        left_fn, right_fn = self.compile(left), self.compile(right)
        if op == "==":
            return lambda p, e: values.equals(left_fn(p, e), right_fn(p, e))
        if op == "!=":
            def not_equal(p: dict[str, Any], e: Env) -> bool | None:
                same = values.equals(left_fn(p, e), right_fn(p, e))
                return None if same is None else not same
            return not_equal
        return lambda p, e: values.order(op, left_fn(p, e), right_fn(p, e))

    def compare_to_literal(self, op: str, left: Expression, literal: Any) -> Compiled:
        if literal is None:  # any comparison with null is null
            return lambda p, e: None
        get = self.compile(left)
        kind = type(literal)
        if kind is bool:
            if op not in ("==", "!="):
                return lambda p, e: None
            want = literal if op == "==" else not literal
            mismatch = op == "!="

            def compare_bool(p: dict[str, Any], e: Env) -> bool | None:
                v = get(p, e)
                if type(v) is bool:
                    return v is want
                return None if v is None else mismatch
            return compare_bool
        name = self.top_level_name(left)
        if kind is str:
            return _compare_str(op, get, literal)
        if name is not None:
            return _compare_field_to_number(op, name, values.to_float(literal))
        return _compare_number(op, get, values.to_float(literal))

    def visit_membership(self, node: Membership) -> Compiled:
        element = self.compile(node.element)
        negated = node.negated
        if not isinstance(node.container, ListLiteral):
            container = self.compile(node.container)

            def member(p: dict[str, Any], e: Env) -> bool | None:
                found = values.member(element(p, e), container(p, e))
                return found if found is None or not negated else not found
            return member
        items = node.container.items
        strings = frozenset(i for i in items if type(i) is str)
        numbers = frozenset(values.to_float(i) for i in items
                            if isinstance(i, (int, float)) and not isinstance(i, bool))
        booleans = frozenset(i for i in items if type(i) is bool)
        absent = negated  # the answer when the element equals no item

        def member_of_literal(p: dict[str, Any], e: Env) -> bool | None:
            v = element(p, e)
            t = type(v)
            if t is str:
                return (v in strings) is not negated
            if t is float:
                return (v in numbers) is not negated
            if t is int:
                return ((v if -_EXACT_INT <= v <= _EXACT_INT else values.to_float(v))
                        in numbers) is not negated
            if t is bool:
                return (v in booleans) is not negated
            return None if v is None else absent
        return member_of_literal


def _compare_str(op: str, get: Compiled, literal: str) -> Compiled:
    if op == "==":
        def equal(p: dict[str, Any], e: Env) -> bool | None:
            v = get(p, e)
            if type(v) is str:
                return v == literal
            return None if v is None else False
        return equal
    if op == "!=":
        def not_equal(p: dict[str, Any], e: Env) -> bool | None:
            v = get(p, e)
            if type(v) is str:
                return v != literal
            return None if v is None else True
        return not_equal
    compare: Callable[[Any, Any], bool] = _ORDER_OPS[op]

    def order(p: dict[str, Any], e: Env) -> bool | None:
        v = get(p, e)
        return compare(v, literal) if type(v) is str else None
    return order


def _compare_number(op: str, get: Compiled, literal: float) -> Compiled:
    mismatch: bool | None  # the answer for a non-null value of another type
    compare: Callable[[Any, Any], bool]
    if op in ("==", "!="):
        mismatch = op == "!="
        compare = operator.eq if op == "==" else operator.ne
    else:
        mismatch = None
        compare = _ORDER_OPS[op]

    def number(p: dict[str, Any], e: Env) -> bool | None:
        v = get(p, e)
        t = type(v)
        if t is float:
            return compare(v, literal)
        if t is int:
            return compare(v if -_EXACT_INT <= v <= _EXACT_INT else values.to_float(v), literal)
        return None if v is None else mismatch
    return number


def _compare_field_to_number(op: str, name: str, literal: float) -> Compiled:
    """``field <op> number``, the commonest leaf of all: _compare_number with the field
    read inline, which saves a Python call per evaluation."""
    mismatch: bool | None = (op == "!=") if op in ("==", "!=") else None
    compare: Callable[[Any, Any], bool] = (
        operator.eq if op == "==" else operator.ne if op == "!=" else _ORDER_OPS[op])

    def field_number(p: dict[str, Any], e: Env) -> bool | None:
        v: Any = p.get(name)
        t = type(v)
        if t is float:
            return compare(v, literal)
        if t is int:
            return compare(v if -_EXACT_INT <= v <= _EXACT_INT else values.to_float(v), literal)
        return None if v is None else mismatch
    return field_number


def _not(operand: Compiled) -> Compiled:
    def negation(p: dict[str, Any], e: Env) -> bool | None:
        v = operand(p, e)
        if v is True:
            return False
        if v is False:
            return True
        return None
    return negation


def _negate(operand: Compiled) -> Compiled:
    def minus(p: dict[str, Any], e: Env) -> float | None:
        v = operand(p, e)
        return -values.to_float(v) if values.is_number(v) else None
    return minus


def _arithmetic(op: str, left: Compiled, right: Compiled) -> Compiled:
    calculate = values.arithmetic
    return lambda p, e: calculate(op, left(p, e), right(p, e))


def _junction(parts: list[Compiled], dominant: bool) -> Compiled:
    """Kleene `and` (dominant False) or `or` (dominant True), left to right: the first
    dominant value decides; otherwise the other truth value only when every part gave it,
    else unknown (None). Two parts, the common case, get a loop-free closure."""
    other = not dominant
    result: bool = dominant  # returned; `dominant` itself is narrowed by the `is` tests
    if len(parts) == 2:
        first, second = parts

        def pair(p: dict[str, Any], e: Env) -> bool | None:
            a = first(p, e)
            if a is dominant:
                return result
            b = second(p, e)
            if b is dominant:
                return result
            return other if (a is other and b is other) else None
        return pair

    def each(p: dict[str, Any], e: Env) -> bool | None:
        unknown = False
        for part in parts:
            v = part(p, e)
            if v is dominant:
                return result
            if v is not other:
                unknown = True
        return None if unknown else other
    return each
