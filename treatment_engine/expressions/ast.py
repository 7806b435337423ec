"""The expression tree the parser builds and every back end (closures, SQL, lint) reads.

Nodes are frozen so one parsed expression can be shared by threads and stages.
``column`` is the 1-based position of the node's first character in the source text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

LiteralValue = int | float | str | bool | None


@dataclass(frozen=True, slots=True)
class Literal:
    value: LiteralValue
    column: int = 1


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``[1, 2]`` or ``["a", "b"]``: literals only, never null (spec section 6)."""

    items: tuple[int | float | str | bool, ...]
    column: int = 1


@dataclass(frozen=True, slots=True)
class Field:
    """A profile field; ``path`` has one element per dot-separated part."""

    path: tuple[str, ...]
    column: int = 1

    @property
    def name(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class Call:
    function: str  # "missing" | "days_since"
    argument: Expression
    column: int = 1


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expression
    column: int = 1


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Expression
    column: int = 1


@dataclass(frozen=True, slots=True)
class Logical:
    """``and`` / ``or`` over two or more operands, flattened."""

    operator: str  # "and" | "or"
    operands: tuple[Expression, ...]
    column: int = 1


@dataclass(frozen=True, slots=True)
class Arithmetic:
    operator: str  # "+" | "-" | "*" | "/"
    left: Expression
    right: Expression
    column: int = 1


@dataclass(frozen=True, slots=True)
class Comparison:
    operator: str  # "==" | "!=" | "<" | "<=" | ">" | ">="
    left: Expression
    right: Expression
    column: int = 1


@dataclass(frozen=True, slots=True)
class Membership:
    """``x in [..]``; ``negated`` for ``not in``."""

    element: Expression
    container: Expression
    negated: bool = False
    column: int = 1


Expression = (
    Literal | ListLiteral | Field | Call | Not | Negate | Logical | Arithmetic | Comparison | Membership
)

FUNCTIONS = ("missing", "days_since")
RESOLVED_NAMES = ("segment", "lifecycle_stage", "value_tier")


def walk(expression: Expression) -> Iterator[Expression]:
    """Every node of an expression, without recursion (trees can be 100 levels deep)."""
    stack: list[Expression] = [expression]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, Call):
            stack.append(node.argument)
        elif isinstance(node, (Not, Negate)):
            stack.append(node.operand)
        elif isinstance(node, Logical):
            stack.extend(node.operands)
        elif isinstance(node, (Arithmetic, Comparison)):
            stack.extend((node.left, node.right))
        elif isinstance(node, Membership):
            stack.extend((node.element, node.container))


def fields_read(expression: Expression) -> set[str]:
    """The dotted names of every field an expression reads."""
    return {node.name for node in walk(expression) if isinstance(node, Field)}
