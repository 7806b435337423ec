"""Text to expression tree, with lark (LALR) and the grammar below.

Why lark: the grammar is the language's specification in fifteen lines, LALR parses
in linear time with no backtracking an author can trigger, and tokens keep their
columns for error messages. Nothing here ever executes author text.
"""

from __future__ import annotations

import math
from functools import lru_cache

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

from ..errors import ExpressionError, did_you_mean
from .ast import (
    FUNCTIONS,
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

# Loosest first: or; and; not; comparisons (non-chaining), in, not in; + -; * /; unary -.
GRAMMAR = r"""
?start: or_expr
?or_expr: and_expr (_OR and_expr)*
?and_expr: not_expr (_AND not_expr)*
?not_expr: NOT not_expr -> not_
         | comparison
?comparison: sum
           | sum COMPARE sum -> compare
           | sum _IN sum -> member
           | sum NOT _IN sum -> not_member
?sum: product
    | sum (PLUS | MINUS) product -> arithmetic
?product: unary
        | product (STAR | SLASH) unary -> arithmetic
?unary: atom
      | MINUS unary -> negate
?atom: literal
     | LBRACKET [list_item ("," list_item)*] "]" -> list_literal
     | NAME "(" [or_expr ("," or_expr)*] ")" -> call
     | NAME -> field
     | "(" or_expr ")"
literal: NUMBER | STRING | TRUE | FALSE | NULL
list_item: literal
         | MINUS NUMBER -> negative_number

_OR: "or"
_AND: "and"
NOT: "not"
_IN: "in"
TRUE: "true"
FALSE: "false"
NULL: "null"
COMPARE: "==" | "!=" | "<=" | ">=" | "<" | ">"
PLUS: "+"
MINUS: "-"
STAR: "*"
SLASH: "/"
LBRACKET: "["
NAME: /[^\W\d]\w*(\.[^\W\d]\w*)*/
NUMBER: /[0-9]+(\.[0-9]+)?/
STRING: /"[^"]*"|'[^']*'/
%ignore /[ \t\r\n]+/
"""

MAX_LENGTH = 10_000
MAX_DEPTH = 100

_TOKEN_WORDS = {
    "_OR": "'or'", "_AND": "'and'", "NOT": "'not'", "_IN": "'in'", "TRUE": "'true'",
    "FALSE": "'false'", "NULL": "'null'", "COMPARE": "a comparison", "PLUS": "'+'",
    "MINUS": "'-'", "STAR": "'*'", "SLASH": "'/'", "LBRACKET": "'['", "RSQB": "']'",
    "LPAR": "'('", "RPAR": "')'", "COMMA": "','", "NAME": "a field name",
    "NUMBER": "a number", "STRING": "a string",
}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="basic", maybe_placeholders=True)


def _column(item: object) -> int:
    if isinstance(item, Token):
        return item.column or 1
    return getattr(item, "column", 1)


@v_args(inline=True)
class _ToAst(Transformer[Token, Expression]):
    """Lark tree to our frozen nodes. Lark builds its tree without recursion; this
    walk is bounded by the depth check done before it."""

    def negative_number(self, sign: Token, number: Token) -> Literal:
        return Literal(-_number(number), sign.column or 1)

    def list_item(self, item: Literal) -> Literal:
        return item

    def literal(self, first: Token) -> Literal:
        kind = first.type
        if kind == "NUMBER":
            return Literal(_number(first), first.column or 1)
        if kind == "STRING":
            return Literal(str(first)[1:-1], first.column or 1)
        constants = {"TRUE": True, "FALSE": False, "NULL": None}
        return Literal(constants[kind], first.column or 1)

    def list_literal(self, bracket: Token, *items: Literal | None) -> ListLiteral:
        values: list[int | float | str | bool] = []
        for item in items:
            if item is None:  # `[]`: lark's placeholder for the absent first element
                continue
            if item.value is None:
                raise ExpressionError("a list literal cannot hold null", item.column)
            values.append(item.value)
        return ListLiteral(tuple(values), bracket.column or 1)

    def field(self, name: Token) -> Field:
        return Field(tuple(str(name).split(".")), name.column or 1)

    def call(self, name: Token, *arguments: Expression | None) -> Call:
        function = str(name)
        if function not in FUNCTIONS:
            raise ExpressionError(
                f"unknown function '{function}'", name.column or 1,
                did_you_mean(function, FUNCTIONS) or f"the functions are {', '.join(FUNCTIONS)}",
            )
        given = [a for a in arguments if a is not None]
        if len(given) != 1:
            raise ExpressionError(
                f"{function}() takes exactly one argument, got {len(given)}", name.column or 1
            )
        return Call(function, given[0], name.column or 1)

    def not_(self, keyword: Token, operand: Expression) -> Not:
        return Not(operand, keyword.column or 1)

    def negate(self, sign: Token, operand: Expression) -> Expression:
        return Negate(operand, sign.column or 1)

    def arithmetic(self, left: Expression, operator: Token, right: Expression) -> Arithmetic:
        return Arithmetic(str(operator), left, right, _column(left))

    def compare(self, left: Expression, operator: Token, right: Expression) -> Comparison:
        return Comparison(str(operator), left, right, _column(left))

    def member(self, element: Expression, container: Expression) -> Membership:
        return Membership(element, container, False, _column(element))

    def not_member(self, element: Expression, _not: Token, container: Expression) -> Membership:
        return Membership(element, container, True, _column(element))

    def or_expr(self, *operands: Expression) -> Logical:
        return Logical("or", _flatten("or", operands), _column(operands[0]))

    def and_expr(self, *operands: Expression) -> Logical:
        return Logical("and", _flatten("and", operands), _column(operands[0]))


def _flatten(operator: str, operands: tuple[Expression, ...]) -> tuple[Expression, ...]:
    flat: list[Expression] = []
    for operand in operands:
        if isinstance(operand, Logical) and operand.operator == operator:
            flat.extend(operand.operands)
        else:
            flat.append(operand)
    return tuple(flat)


def _number(token: Token) -> int | float:
    text = str(token)
    # Numbers are 64-bit floats (spec 6); float() reads any length, int() stops at 4,300 digits.
    if not math.isfinite(float(text)):
        shown = text if len(text) <= 24 else f"{text[:12]}...{text[-4:]} ({len(text)} characters)"
        raise ExpressionError(f"the number {shown} is too large: numbers are 64-bit, at most about 1.8e308",
                              token.column or 1)
    return float(text) if "." in text else int(text)


def _depth(tree: Tree[Token]) -> int:
    deepest = 0
    stack: list[tuple[Tree[Token], int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, Tree))
    return deepest


def _describe_unexpected(error: LarkError, text: str) -> ExpressionError:
    if isinstance(error, UnexpectedCharacters):
        position = error.pos_in_stream or 0
        char = text[position] if position < len(text) else "?"
        hint = None
        if char in "\"'":
            hint = "strings end with the quote they start with and have no escapes"
        elif char == "=":
            hint = "equality is written '=='"
        elif char in "&|!":
            hint = "logic is written 'and', 'or', 'not'"
        return ExpressionError(f"unexpected character {char!r}", error.column, hint)
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            return ExpressionError("the expression ends too early", len(text) + 1,
                                   _expected(error.expected))
        return ExpressionError(f"unexpected {str(token)!r}", token.column or 1,
                               _expected(error.expected))
    if isinstance(error, UnexpectedEOF):
        return ExpressionError("the expression ends too early", len(text) + 1,
                               _expected(error.expected))
    return ExpressionError(f"cannot parse: {error}", 1)


def _expected(expected: object) -> str | None:
    names = sorted({_TOKEN_WORDS.get(str(name), str(name).lower()) for name in expected or ()})  # type: ignore[attr-defined]
    if not names:
        return None
    if len(names) > 6:
        if "a field name" in names:
            return "expected a value: a field, a number, a string, a list, '(' or a function call"
        return "expected an operator or the end of the expression" if "'and'" in names else None
    return "expected " + ", ".join(names)


def parse(text: str) -> Expression:
    """Parse one expression. Raises :class:`ExpressionError` (and nothing else) on bad text."""
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be text, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    parser = _parser()
    try:
        tree = parser.parse(text)
    except LarkError as error:
        raise _describe_unexpected(error, text) from None
    if _depth(tree) > MAX_DEPTH:
        raise ExpressionError(f"the expression is nested more than {MAX_DEPTH} levels deep")
    try:
        result = _ToAst().transform(tree)
    except LarkError as error:  # lark wraps our errors raised inside the transformer
        original = getattr(error, "orig_exc", None)
        if isinstance(original, ExpressionError):
            raise original from None
        raise ExpressionError("cannot parse: " + " ".join(str(original or error).split())) from None
    if isinstance(result, Tree):  # pragma: no cover - the grammar always reduces to a node
        raise ExpressionError("cannot parse the expression")
    return result
