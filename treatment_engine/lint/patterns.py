"""What lint looks for inside one condition, node by node (passes over the expression tree)."""

from __future__ import annotations

from collections.abc import Iterator

from ..expressions import ast
from ..expressions.unparse import unparse


def literals_compared_to_resolved(expression: ast.Expression) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in ast.walk(expression):
        named = node.accept(_RESOLVED_LITERALS)
        if named is not None:
            found.setdefault(named[0], set()).update(named[1])
    return found


class _ResolvedLiterals(ast.Visitor[tuple[str, set[str]] | None]):
    """The ids a rule's condition compares segment, lifecycle_stage or value_tier with."""

    def visit_comparison(self, node: ast.Comparison) -> tuple[str, set[str]] | None:
        if (isinstance(node.left, ast.Field) and isinstance(node.right, ast.Literal)
                and node.left.name in ast.RESOLVED_NAMES and isinstance(node.right.value, str)):
            return node.left.name, {node.right.value}
        return None

    def visit_membership(self, node: ast.Membership) -> tuple[str, set[str]] | None:
        if isinstance(node.element, ast.Field) and node.element.name in ast.RESOLVED_NAMES \
                and isinstance(node.container, ast.ListLiteral):
            return node.element.name, {str(i) for i in node.container.items}
        return None

    # No other node names an id.
    def visit_literal(self, node: ast.Literal) -> tuple[str, set[str]] | None:
        return None

    def visit_list_literal(self, node: ast.ListLiteral) -> tuple[str, set[str]] | None:
        return None

    def visit_field(self, node: ast.Field) -> tuple[str, set[str]] | None:
        return None

    def visit_call(self, node: ast.Call) -> tuple[str, set[str]] | None:
        return None

    def visit_not(self, node: ast.Not) -> tuple[str, set[str]] | None:
        return None

    def visit_negate(self, node: ast.Negate) -> tuple[str, set[str]] | None:
        return None

    def visit_logical(self, node: ast.Logical) -> tuple[str, set[str]] | None:
        return None

    def visit_arithmetic(self, node: ast.Arithmetic) -> tuple[str, set[str]] | None:
        return None


_RESOLVED_LITERALS = _ResolvedLiterals()


_LITERAL_TYPES = {bool: "boolean", int: "number", float: "number", str: "string"}

Mismatch = tuple[str, str | None, int]  # message, hint, column in the expression


def type_mismatches_in(expression: ast.Expression, declared: dict[str, str]) -> Iterator[Mismatch]:
    """Every comparison of a declared field with a value of a kind it never holds."""
    checker = _TypeMismatch(declared)
    for node in ast.walk(expression):
        found = node.accept(checker)
        if found is not None:
            yield found


class _TypeMismatch(ast.Visitor[Mismatch | None]):
    """A node that compares a declared field with a value of a kind it never holds."""

    def __init__(self, declared: dict[str, str]) -> None:
        self.declared = declared

    def visit_comparison(self, node: ast.Comparison) -> Mismatch | None:
        field, literal = (node.left, node.right) if isinstance(node.right, ast.Literal) else (node.right, node.left)
        if not isinstance(literal, ast.Literal) or literal.value is None:
            return None
        if _is_number_valued(field):
            return _number_against(field, literal, node)
        if not isinstance(field, ast.Field):
            return None
        want = self.declared.get(field.name)
        have = _LITERAL_TYPES[type(literal.value)]
        if want is None or _compatible(want, have, node.operator):
            return None
        always = "always true" if node.operator == "!=" else "never true"
        return (f"'{field.name}' is declared {want}, so comparing it with {have} {literal.value!r} "
                f"({node.operator}) is {always}", f"compare with a {want} value", node.column)

    def visit_membership(self, node: ast.Membership) -> Mismatch | None:
        if not (isinstance(node.element, ast.Field) and isinstance(node.container, ast.ListLiteral)):
            return None
        want = self.declared.get(node.element.name)
        kinds = {_LITERAL_TYPES[type(i)] for i in node.container.items}
        if want is None or not kinds or any(_compatible(want, k, "==") for k in kinds):
            return None
        return (f"'{node.element.name}' is declared {want}, but the list holds "
                f"{', '.join(sorted(kinds))} values only", None, node.column)

    def visit_call(self, node: ast.Call) -> Mismatch | None:
        if node.function != "days_since" or not isinstance(node.argument, ast.Field):
            return None
        want = self.declared.get(node.argument.name)
        if want is None or want in ("date", "string"):
            return None
        return (f"days_since() needs a date, but '{node.argument.name}' is declared {want}", None,
                node.column)

    # Other nodes compare nothing with a field.
    def visit_literal(self, node: ast.Literal) -> Mismatch | None:
        return None

    def visit_list_literal(self, node: ast.ListLiteral) -> Mismatch | None:
        return None

    def visit_field(self, node: ast.Field) -> Mismatch | None:
        return None

    def visit_not(self, node: ast.Not) -> Mismatch | None:
        return None

    def visit_negate(self, node: ast.Negate) -> Mismatch | None:
        return None

    def visit_logical(self, node: ast.Logical) -> Mismatch | None:
        return None

    def visit_arithmetic(self, node: ast.Arithmetic) -> Mismatch | None:
        return None


def _is_number_valued(expression: ast.Expression) -> bool:
    """days_since() and arithmetic give a number (or null) whatever the profile holds."""
    return (isinstance(expression, ast.Call) and expression.function == "days_since") \
        or isinstance(expression, (ast.Arithmetic, ast.Negate))


def _number_against(computed: ast.Expression, literal: ast.Literal, node: ast.Comparison) -> Mismatch | None:
    """A number-valued expression compared with a string or a boolean: never true (``!=``:
    always true), for every customer, declared fields or not."""
    have = _LITERAL_TYPES[type(literal.value)]
    if have == "number":
        return None
    always = "always true" if node.operator == "!=" else "never true"
    return (f"{unparse(computed)} is a number, so comparing it with the {have} {unparse(literal)} "
            f"({node.operator}) is {always}", "compare with a number", node.column)


def _compatible(declared: str, literal: str, operator: str) -> bool:
    if declared in ("date", "string"):
        return literal == "string"
    if declared == "object":
        return False
    if declared == "boolean":
        return literal == "boolean" and operator in ("==", "!=")
    return declared == literal
