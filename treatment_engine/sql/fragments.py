"""The spec's values in SQL: every value is four typed components, at most one non-null.

SQL columns have one type, but a profile field may hold a number in one row and a
string in the next (spec section 6 compares by each value's own type). So a value is
carried as ``(n DOUBLE, s VARCHAR, b BOOLEAN, o BOOLEAN)``: its number, its string, its
boolean, or TRUE in ``o`` for an object or array; all NULL for null. A component the
source can never fill is ``None`` here and disappears from the SQL, so a plan over a
typed Parquet file compiles to plain typed comparisons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as SqlglotDialect

DOUBLE = exp.DataType.build("DOUBLE")
BOOLEAN = exp.DataType.build("BOOLEAN")
VARCHAR = exp.DataType.build("VARCHAR")

Dialect = Literal["duckdb", "spark"]  # the back ends' SQL dialects, as sqlglot names them
LIST_BASE: dict[Dialect, int] = {"duckdb": 1, "spark": 0}  # each one's first array index


def and_(*parts: exp.Expr) -> exp.Expr:
    """The tree ``exp.and_(*parts)`` makes (an AND or OR operand wrapped in parentheses),
    built directly: sqlglot's builder deep-copies by default, and even without copies
    passes each part through its parser's entry point (``condition``), 18 against 5 µs a
    call; a 500-rule plan's query makes some 850 of them."""
    return _connect(exp.And, parts)


def or_(*parts: exp.Expr) -> exp.Expr:
    return _connect(exp.Or, parts)


def _connect(kind: type[exp.Connector], parts: tuple[exp.Expr, ...]) -> exp.Expr:
    first, *rest = parts
    if not rest:
        return first
    tree = _grouped(first)
    for part in rest:
        tree = kind(this=tree, expression=_grouped(part))
    return tree


def _grouped(part: exp.Expr) -> exp.Expr:
    return exp.Paren(this=part) if isinstance(part, exp.Connector) else part


def not_(part: exp.Expr) -> exp.Expr:
    return exp.not_(part, copy=False)


def coalesce(first: exp.Expr, *rest: exp.Expr) -> exp.Expr:
    """COALESCE as a node, where exp.func would deep-copy its arguments (a resolved
    segment's CASE, say) and look the name up in the dialect's function table."""
    return exp.Coalesce(this=first, expressions=list(rest))


def column(name: str) -> exp.Expr:
    """A column by its name. A 500-rule plan's query names some 2,500, nearly all of them
    its own plain names (``f3_n``, ``segment``): such a name is a word node (``exp.Var``),
    written as it is, where a column node and its identifier were two nodes to make and
    the longest path to write (0.118 to 0.096 s to build and write that query). Any other
    name is quoted, as exp.column would quote it."""
    if exp.SAFE_IDENTIFIER_RE.match(name) and name.lower() not in _RESERVED_WORDS:
        return exp.Var(this=name)
    return exp.Column(this=exp.Identifier(this=name, quoted=True))


# The words a back end's SQL would need quoted as a column name: DuckDB's, as sqlglot
# lists them (it lists none for Spark, whose dialect is not loaded for this).
_RESERVED_WORDS = frozenset(SqlglotDialect.get_or_raise("duckdb").generator_class.RESERVED_KEYWORDS)


def integer(value: int) -> exp.Expr:
    """A non-negative integer literal (a rule's position, say): exp.Literal.number's node
    without its check for a negative value, which parses the text back (five times the
    cost of the node)."""
    return exp.Literal(this=str(value), is_string=False)


def select(*columns: exp.Expr | str) -> exp.Select:
    return exp.select(*columns, copy=False)


class Unsupported(Exception):
    """A construct this compiler cannot express exactly in SQL; callers fall back to Python."""


@dataclass(frozen=True)
class Value:
    n: exp.Expr | None = None
    s: exp.Expr | None = None
    b: exp.Expr | None = None
    o: exp.Expr | None = None

    def parts(self) -> list[exp.Expr]:
        return [p for p in (self.n, self.s, self.b, self.o) if p is not None]

    def is_null(self) -> exp.Expr:
        """TRUE when the value is null (every component NULL); never NULL itself."""
        parts = self.parts()
        if not parts:
            return exp.true()
        return and_(*(exp.Is(this=_paren(p), expression=exp.Null()) for p in parts))

    def is_not_null(self) -> exp.Expr:
        parts = self.parts()
        if not parts:
            return exp.false()
        return or_(*(not_(exp.Is(this=_paren(p), expression=exp.Null())) for p in parts))


NULL = Value()


def null_boolean() -> exp.Expr:
    """A boolean NULL. Typed, because Spark refuses an untyped NULL where a condition is
    expected (``CASE WHEN NULL``), while DuckDB accepts it; a fresh node per use."""
    return exp.Cast(this=exp.Null(), to=BOOLEAN)


def number(value: float) -> exp.Expr:
    """A DOUBLE literal. Written with an exponent (``6.0e0``) it is a double in DuckDB and
    Spark alike, where ``6.0`` would be a DECIMAL; and it costs no CAST node per literal."""
    if value != value or value in (float("inf"), float("-inf")):
        return exp.Cast(this=exp.Literal.string(repr(value)), to=DOUBLE)
    text = repr(float(value))
    if value < 0:
        return exp.Neg(this=number(-value))
    return exp.Literal(this=text if "e" in text else f"{text}e0", is_string=False)  # see integer()


def string(value: str) -> exp.Expr:
    return exp.Literal.string(value)


def boolean(value: bool) -> exp.Expr:
    return exp.true() if value else exp.false()


def case(branches: list[tuple[exp.Expr, exp.Expr]],
         default: exp.Expr | None = None) -> exp.Expr:
    if not branches:
        return default if default is not None else exp.Null()
    return exp.Case(ifs=[exp.If(this=c, true=v) for c, v in branches],
                    default=default if default is not None else None)


def at_base(position: exp.Expr, list_base: int) -> exp.Expr:
    """A 0-based position as the back end indexes arrays (DuckDB from 1, Spark from 0)."""
    return exp.Add(this=position, expression=exp.Literal.number(list_base)) if list_base else position


def element(values: list[exp.Expr], position: exp.Expr, list_base: int) -> exp.Expr:
    """The item of a constant list at a 0-based ``position``, on a back end whose arrays
    start at ``list_base``. The Bracket records that base (its ``offset``): left at
    sqlglot's default, DuckDB's index would differ from it and sqlglot would infer the
    list's type while rendering, to see whether to shift the index; for the 500-item lists
    of a large plan that cost more than the rest of rendering (2.2 of 4.2 s)."""
    return exp.Bracket(this=exp.Array(expressions=values), expressions=[at_base(position, list_base)],
                       offset=list_base)


def present(*parts: exp.Expr) -> list[exp.Expr]:
    """One ``x IS NOT NULL`` test per component."""
    return [not_(exp.Is(this=_paren(p), expression=exp.Null())) for p in parts]


def holds(condition: exp.Expr) -> exp.Expr:
    """A condition as a two-valued test: TRUE only when it is true (spec 6)."""
    return coalesce(_paren(condition), exp.false())


def _paren(expression: exp.Expr) -> exp.Expr:
    if isinstance(expression, (exp.Column, exp.Var, exp.Literal, exp.Boolean, exp.Null, exp.Paren, exp.Cast)):
        return expression
    return exp.Paren(this=expression)


paren = _paren
