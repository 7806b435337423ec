"""Expression tree back to text, with only the parentheses precedence needs."""

from __future__ import annotations

from .ast import (
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

# Higher binds tighter; mirrors the grammar in parser.py.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6,
               "negate": 7, "atom": 8}


def unparse(node: Expression) -> str:
    return _text(node)


def _level(node: Expression) -> int:
    if isinstance(node, Logical):
        return _PRECEDENCE[node.operator]
    if isinstance(node, Not):
        return _PRECEDENCE["not"]
    if isinstance(node, (Comparison, Membership)):
        return _PRECEDENCE["compare"]
    if isinstance(node, Arithmetic):
        return _PRECEDENCE[node.operator]
    if isinstance(node, Negate):
        return _PRECEDENCE["negate"]
    return _PRECEDENCE["atom"]


def _wrap(node: Expression, minimum: int) -> str:
    text = _text(node)
    return f"({text})" if _level(node) < minimum else text


def _literal(value: object) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return f"'{value}'" if '"' in value else f'"{value}"'
    return repr(value)


def _text(node: Expression) -> str:
    if isinstance(node, Literal):
        return _literal(node.value)
    if isinstance(node, ListLiteral):
        return "[" + ", ".join(_literal(item) for item in node.items) + "]"
    if isinstance(node, Field):
        return node.name
    if isinstance(node, Call):
        return f"{node.function}({_text(node.argument)})"
    if isinstance(node, Not):
        return "not " + _wrap(node.operand, _PRECEDENCE["not"])
    if isinstance(node, Negate):
        return "-" + _wrap(node.operand, _PRECEDENCE["negate"])
    if isinstance(node, Logical):
        # and/or are associative (in three-valued logic too), so a nested same operator
        # needs no parentheses; the parser flattens it anyway.
        level = _PRECEDENCE[node.operator]
        return f" {node.operator} ".join(_wrap(o, level) for o in node.operands)
    if isinstance(node, Arithmetic):
        level = _PRECEDENCE[node.operator]
        # Left-associative: the right side needs parentheses at equal precedence.
        return f"{_wrap(node.left, level)} {node.operator} {_wrap(node.right, level + 1)}"
    if isinstance(node, Comparison):
        level = _PRECEDENCE["compare"] + 1
        return f"{_wrap(node.left, level)} {node.operator} {_wrap(node.right, level)}"
    if isinstance(node, Membership):
        level = _PRECEDENCE["compare"] + 1
        keyword = "not in" if node.negated else "in"
        return f"{_wrap(node.element, level)} {keyword} {_wrap(node.container, level)}"
    raise TypeError(f"not an expression node: {node!r}")  # pragma: no cover
