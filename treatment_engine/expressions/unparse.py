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
    Visitor,
)

# Higher binds tighter; mirrors the grammar in parser.py.
_PRECEDENCE = {"or": 1, "and": 2, "not": 3, "compare": 4, "+": 5, "-": 5, "*": 6, "/": 6,
               "negate": 7, "atom": 8}
_ATOM, _COMPARE = _PRECEDENCE["atom"], _PRECEDENCE["compare"]


def unparse(node: Expression) -> str:
    return node.accept(_TEXT)


class _Level(Visitor[int]):
    """How tightly a node binds: an operand binding looser than its place needs parentheses."""

    def visit_literal(self, node: Literal) -> int:
        return _ATOM

    def visit_list_literal(self, node: ListLiteral) -> int:
        return _ATOM

    def visit_field(self, node: Field) -> int:
        return _ATOM

    def visit_call(self, node: Call) -> int:
        return _ATOM

    def visit_not(self, node: Not) -> int:
        return _PRECEDENCE["not"]

    def visit_negate(self, node: Negate) -> int:
        return _PRECEDENCE["negate"]

    def visit_logical(self, node: Logical) -> int:
        return _PRECEDENCE[node.operator]

    def visit_arithmetic(self, node: Arithmetic) -> int:
        return _PRECEDENCE[node.operator]

    def visit_comparison(self, node: Comparison) -> int:
        return _COMPARE

    def visit_membership(self, node: Membership) -> int:
        return _COMPARE


class _Text(Visitor[str]):
    def wrap(self, node: Expression, minimum: int) -> str:
        text = node.accept(self)
        return f"({text})" if node.accept(_LEVEL) < minimum else text

    def visit_literal(self, node: Literal) -> str:
        return _literal(node.value)

    def visit_list_literal(self, node: ListLiteral) -> str:
        return "[" + ", ".join(_literal(item) for item in node.items) + "]"

    def visit_field(self, node: Field) -> str:
        return node.name

    def visit_call(self, node: Call) -> str:
        return f"{node.function}({node.argument.accept(self)})"

    def visit_not(self, node: Not) -> str:
        return "not " + self.wrap(node.operand, _PRECEDENCE["not"])

    def visit_negate(self, node: Negate) -> str:
        return "-" + self.wrap(node.operand, _PRECEDENCE["negate"])

    def visit_logical(self, node: Logical) -> str:
        # and/or are associative (in three-valued logic too), so a nested same operator
        # needs no parentheses; the parser flattens it anyway.
        level = _PRECEDENCE[node.operator]
        return f" {node.operator} ".join(self.wrap(o, level) for o in node.operands)

    def visit_arithmetic(self, node: Arithmetic) -> str:
        level = _PRECEDENCE[node.operator]
        # Left-associative: the right side needs parentheses at equal precedence.
        return f"{self.wrap(node.left, level)} {node.operator} {self.wrap(node.right, level + 1)}"

    def visit_comparison(self, node: Comparison) -> str:
        return f"{self.wrap(node.left, _COMPARE + 1)} {node.operator} {self.wrap(node.right, _COMPARE + 1)}"

    def visit_membership(self, node: Membership) -> str:
        keyword = "not in" if node.negated else "in"
        return f"{self.wrap(node.element, _COMPARE + 1)} {keyword} {self.wrap(node.container, _COMPARE + 1)}"


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


_LEVEL = _Level()
_TEXT = _Text()
