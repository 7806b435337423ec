"""The expression tree the parser builds and every back end (closures, SQL, lint) reads.

Nodes are frozen so one parsed expression can be shared by threads and stages.
``column`` is the 1-based position of the node's first character in the source text.

Every pass over the tree (closures, the SQL compiler, unparse, lint, :func:`walk`) is a
:class:`Visitor` with one method per node class, reached by the node's ``accept``.
Adding a node class means adding its method to Visitor, and then every pass that lacks
it cannot be instantiated; tests/test_visitor.py checks each pass against each class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

LiteralValue = int | float | str | bool | None
T = TypeVar("T")
R = TypeVar("R", covariant=True)  # what a Visitor's methods return


@dataclass(frozen=True, slots=True)
class Literal:
    value: LiteralValue
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_literal(self)


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``[1, 2]`` or ``["a", "b"]``: literals only, never null (spec section 6)."""

    items: tuple[int | float | str | bool, ...]
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_list_literal(self)


@dataclass(frozen=True, slots=True)
class Field:
    """A profile field; ``path`` has one element per dot-separated part."""

    path: tuple[str, ...]
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_field(self)

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Call:
    function: str  # "missing" | "days_since"
    argument: Expression
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_call(self)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expression
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_not(self)


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expression
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_negate(self)


@dataclass(frozen=True, slots=True)
class Logical:
    """``and`` / ``or`` over two or more operands, flattened."""

    operator: str  # "and" | "or"
    operands: tuple[Expression, ...]
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_logical(self)


@dataclass(frozen=True, slots=True)
class Arithmetic:
    operator: str  # "+" | "-" | "*" | "/"
    left: Expression
    right: Expression
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_arithmetic(self)


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str  # "==" | "!=" | "<" | "<=" | ">" | ">="
    left: Expression
    right: Expression
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_comparison(self)


@dataclass(frozen=True, slots=True)
class Membership:
    """``x in [..]``; ``negated`` for ``not in``."""

    element: Expression
    container: Expression
    negated: bool = False
    column: int = 1

    def accept(self, visitor: Visitor[T]) -> T:
        return visitor.visit_membership(self)


Expression = (
    Literal | ListLiteral | Field | Call | Not | Negate | Logical | Arithmetic | Comparison | Membership
)

FUNCTIONS = ("missing", "days_since")
RESOLVED_NAMES = ("segment", "lifecycle_stage", "value_tier")
# `a op b` holds exactly when `b FLIPPED[op] a` does: lets a pass put a literal on the right.
FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


class Visitor(ABC, Generic[R]):
    """A pass over expressions: one method per node class, each returning a ``R``.

    ``visit(node)`` calls the method for the node's class (through ``node.accept``); a
    method that needs a child's result visits the child itself.
    """

    def visit(self, node: Expression) -> R:
        return node.accept(self)

    @abstractmethod
    def visit_literal(self, node: Literal) -> R: ...

    @abstractmethod
    def visit_list_literal(self, node: ListLiteral) -> R: ...

    @abstractmethod
    def visit_field(self, node: Field) -> R: ...

    @abstractmethod
    def visit_call(self, node: Call) -> R: ...

    @abstractmethod
    def visit_not(self, node: Not) -> R: ...

    @abstractmethod
    def visit_negate(self, node: Negate) -> R: ...

    @abstractmethod
    def visit_logical(self, node: Logical) -> R: ...

    @abstractmethod
    def visit_arithmetic(self, node: Arithmetic) -> R: ...

    @abstractmethod
    def visit_comparison(self, node: Comparison) -> R: ...

    @abstractmethod
    def visit_membership(self, node: Membership) -> R: ...


class Children(Visitor[tuple[Expression, ...]]):
    """A node's direct operands, in source order."""

    def visit_literal(self, node: Literal) -> tuple[Expression, ...]:
        return ()

    def visit_list_literal(self, node: ListLiteral) -> tuple[Expression, ...]:
        return ()  # its items are plain values, not nodes

    def visit_field(self, node: Field) -> tuple[Expression, ...]:
        return ()

    def visit_call(self, node: Call) -> tuple[Expression, ...]:
        return (node.argument,)

    def visit_not(self, node: Not) -> tuple[Expression, ...]:
        return (node.operand,)

    def visit_negate(self, node: Negate) -> tuple[Expression, ...]:
        return (node.operand,)

    def visit_logical(self, node: Logical) -> tuple[Expression, ...]:
        return node.operands

    def visit_arithmetic(self, node: Arithmetic) -> tuple[Expression, ...]:
        return (node.left, node.right)

    def visit_comparison(self, node: Comparison) -> tuple[Expression, ...]:
        return (node.left, node.right)

    def visit_membership(self, node: Membership) -> tuple[Expression, ...]:
        return (node.element, node.container)


_CHILDREN = Children()


def walk(expression: Expression) -> Iterator[Expression]:
    """Every node of an expression, without recursion (trees can be 100 levels deep)."""
    stack: list[Expression] = [expression]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.accept(_CHILDREN))


def fields_read(expression: Expression) -> set[str]:
    """The dotted names of every field an expression reads."""
    return {node.name for node in walk(expression) if isinstance(node, Field)}
