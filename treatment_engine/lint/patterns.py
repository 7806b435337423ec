"""What lint looks for inside one condition, node by node (passes over the expression tree)."""

from __future__ import annotations

from collections.abc import Iterator

from ..expressions.ast import (
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
    walk,
)


def literals_compared_to_resolved(expression: Expression) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for node in walk(expression):
        named = node.accept(_RESOLVED_LITERALS)
        if named is not None:
            found.setdefault(named[0], set()).update(named[1])
    return found


class _ResolvedLiterals(Visitor[tuple[str, set[str]] | None]):
    """The ids a rule's condition compares segment, lifecycle_stage or value_tier with."""

    def visit_comparison(self, node: Comparison) -> tuple[str, set[str]] | None:
        if (isinstance(node.left, Field) and isinstance(node.right, Literal)
                and node.left.name in RESOLVED_NAMES and isinstance(node.right.value, str)):
            return node.left.name, {node.right.value}
        return None

    def visit_membership(self, node: Membership) -> tuple[str, set[str]] | None:
        if isinstance(node.element, Field) and node.element.name in RESOLVED_NAMES \
                and isinstance(node.container, ListLiteral):
            return node.element.name, {str(i) for i in node.container.items}
        return None

    # No other node names an id.
    def visit_literal(self, node: Literal) -> tuple[str, set[str]] | None:
        return None

    def visit_list_literal(self, node: ListLiteral) -> tuple[str, set[str]] | None:
        return None

    def visit_field(self, node: Field) -> tuple[str, set[str]] | None:
        return None

    def visit_call(self, node: Call) -> tuple[str, set[str]] | None:
        return None

    def visit_not(self, node: Not) -> tuple[str, set[str]] | None:
        return None

    def visit_negate(self, node: Negate) -> tuple[str, set[str]] | None:
        return None

    def visit_logical(self, node: Logical) -> tuple[str, set[str]] | None:
        return None

    def visit_arithmetic(self, node: Arithmetic) -> tuple[str, set[str]] | None:
        return None


_RESOLVED_LITERALS = _ResolvedLiterals()


_LITERAL_TYPES = {bool: "boolean", int: "number", float: "number", str: "string"}

Mismatch = tuple[str, str | None]  # message, hint


def type_mismatches_in(expression: Expression, declared: dict[str, str]) -> Iterator[Mismatch]:
    """Every comparison of a declared field with a value of a kind it never holds."""
    checker = _TypeMismatch(declared)
    for node in walk(expression):
        found = node.accept(checker)
        if found is not None:
            yield found


class _TypeMismatch(Visitor[Mismatch | None]):
    """A node that compares a declared field with a value of a kind it never holds."""

    def __init__(self, declared: dict[str, str]) -> None:
        self.declared = declared

    def visit_comparison(self, node: Comparison) -> Mismatch | None:
        field, literal = (node.left, node.right) if isinstance(node.left, Field) else (node.right, node.left)
        if not (isinstance(field, Field) and isinstance(literal, Literal)) or literal.value is None:
            return None
        want = self.declared.get(field.name)
        have = _LITERAL_TYPES[type(literal.value)]
        if want is None or _compatible(want, have, node.operator):
            return None
        always = "always true" if node.operator == "!=" else "never true"
        return (f"'{field.name}' is declared {want}, so comparing it with {have} {literal.value!r} "
                f"({node.operator}) is {always}", f"compare with a {want} value")

    def visit_membership(self, node: Membership) -> Mismatch | None:
        if not (isinstance(node.element, Field) and isinstance(node.container, ListLiteral)):
            return None
        want = self.declared.get(node.element.name)
        kinds = {_LITERAL_TYPES[type(i)] for i in node.container.items}
        if want is None or not kinds or any(_compatible(want, k, "==") for k in kinds):
            return None
        return (f"'{node.element.name}' is declared {want}, but the list holds "
                f"{', '.join(sorted(kinds))} values only", None)

    def visit_call(self, node: Call) -> Mismatch | None:
        if node.function != "days_since" or not isinstance(node.argument, Field):
            return None
        want = self.declared.get(node.argument.name)
        if want is None or want in ("date", "string"):
            return None
        return f"days_since() needs a date, but '{node.argument.name}' is declared {want}", None

    # Other nodes compare nothing with a field.
    def visit_literal(self, node: Literal) -> Mismatch | None:
        return None

    def visit_list_literal(self, node: ListLiteral) -> Mismatch | None:
        return None

    def visit_field(self, node: Field) -> Mismatch | None:
        return None

    def visit_not(self, node: Not) -> Mismatch | None:
        return None

    def visit_negate(self, node: Negate) -> Mismatch | None:
        return None

    def visit_logical(self, node: Logical) -> Mismatch | None:
        return None

    def visit_arithmetic(self, node: Arithmetic) -> Mismatch | None:
        return None


def _compatible(declared: str, literal: str, operator: str) -> bool:
    if declared in ("date", "string"):
        return literal == "string"
    if declared == "object":
        return False
    if declared == "boolean":
        return literal == "boolean" and operator in ("==", "!=")
    return declared == literal
