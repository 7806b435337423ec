"""Profile files as the canonical view the decision query reads (DuckDB).

Each field path the plan reads becomes the components of :class:`.fragments.Value`, typed
exactly as the Python readers in :mod:`treatment_engine.profiles` type it:

- Parquet: by column type (a typed column has one component; dates become ISO text);
- CSV: per cell, as ``profiles.typed_cell`` does (true/false, numerals, else text;
  id columns stay text; an empty cell is missing);
- JSON lines: per value, by ``json_type``, read exactly as the Python reader reads the
  line (see :mod:`.json_lines`); a line it refuses becomes an error row with its reason,
  and blank lines are skipped, so rows match input lines.

Rows keep input order: every view is a projection over one scan.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from ..profiles import CELL_SPACE, TEXT_COLUMNS, column_paths, csv_errors, python_csv_reader, typed_cell
from . import json_lines
from .compiler import FieldColumns
from .fragments import DOUBLE, VARCHAR, and_, case, not_, or_, select

# A number cell, as profiles.typed_cell reads one (its integer pattern is this one without
# the fraction and exponent, so one test covers both: half the regular expressions per cell).
DECIMAL_PATTERN = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$"
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "REAL")
INVALID_COLUMN = "__invalid"


@dataclass(frozen=True)
class Source:
    """A canonical view: the relation, and the columns of each field path."""

    relation: exp.Expr
    fields: dict[tuple[str, ...], FieldColumns]
    invalid_column: str | None = None


def _fn(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _lit(text: str) -> exp.Expr:
    return exp.Literal.string(text)


def _names(index: int) -> tuple[str, str, str, str]:
    return (f"f{index}_n", f"f{index}_s", f"f{index}_b", f"f{index}_o")


def build_source(connection: Any, path: str, paths: Sequence[tuple[str, ...]], fmt: str,
                 careful: bool = False, typed: bool = False) -> Source:
    """The canonical view of one file. JSON lines are read by DuckDB's own reader unless
    ``careful`` (then line by line in Python, from the Arrow stream registered as
    :data:`.json_lines.LINES_VIEW`; see :mod:`.json_lines`). ``typed`` gives a CSV or JSON
    lines field that holds one kind of value one component (see :mod:`.json_lines`, "the
    typed reading"); the query then stops with :data:`.json_lines.TYPED_REFUSED` on a file
    where that does not hold, to be read again without ``typed``."""
    if fmt == "parquet":
        return _parquet(connection, path, paths)
    if fmt == "csv":
        return _csv(connection, path, paths, typed, careful)
    return _jsonl(path, paths, careful, typed and not careful)


def _assemble(reader: exp.Expr, columns: list[tuple[tuple[str, ...], list[exp.Expr | None]]],
              extra: list[exp.Expr] | None = None, where: exp.Expr | None = None,
              typed: dict[tuple[str, ...], exp.Expr] | None = None) -> Source:
    """The canonical view: each field's components named f{index}_{n,s,b,o}. ``typed`` maps
    the fields read with one component (the typed reading) to their raw value: see
    :func:`_checked`."""
    selected: list[exp.Expr] = list(extra or [])
    fields: dict[tuple[str, ...], FieldColumns] = {}
    guards: list[exp.Expr] = []
    for index, (path, parts) in enumerate(columns):
        names = _names(index)
        kept: list[str | None] = []
        for name, part in zip(names, parts, strict=True):
            if part is None:
                kept.append(None)
                continue
            selected.append(exp.alias_(part, name, copy=False))
            kept.append(name)
        fields[path] = FieldColumns(*kept)
        if typed and path in typed:
            missing = f"f{index}_missing"
            selected.append(exp.alias_(exp.Is(this=typed[path].copy(), expression=exp.Null()), missing, copy=False))
            component = next(name for name in kept if name is not None)
            guards.append(or_(not_(exp.Is(this=exp.column(component), expression=exp.Null())), exp.column(missing)))
    query = (select(*selected) if selected else select(exp.Literal.number(1))).from_(copy=False, expression=reader)
    if where is not None:
        query = query.where(where, copy=False)
    if guards:
        query = _checked(query, guards)
    return Source(exp.alias_(exp.Subquery(this=query), "profiles", table=True, copy=False), fields,
                  INVALID_COLUMN if any(isinstance(e, exp.Alias) and e.alias == INVALID_COLUMN
                                        for e in extra or []) else None)


# -- JSON lines --------------------------------------------------------------------

def _jsonl(path: str, paths: Sequence[tuple[str, ...]], careful: bool, typed: bool) -> Source:
    kinds = json_lines.sampled_kinds(path, paths) if typed else {}
    relation, invalid = json_lines.reader(path, paths, careful, [p for p, k in kinds.items() if k == json_lines.TEXT])
    columns = [(field_path, json_lines.typed_components(field_path, paths, kinds[field_path])
                if field_path in kinds else json_lines.components(field_path, paths)) for field_path in paths]
    extra = [exp.alias_(exp.column(invalid), INVALID_COLUMN, copy=False)] if invalid else None
    return _assemble(relation, columns, extra,
                     typed={path: json_lines.path_value(path, paths)[0] for path in kinds})


def _checked(query: exp.Select, guards: list[exp.Expr]) -> exp.Select:
    """The typed fields' checks as a filter over the typed columns, which holds for every
    row or stops the query: a typed component is not null unless the value is missing (else
    its CASE raised TYPED_REFUSED). In the projection alone the check would not run where
    the plan reads the field as another kind than the guess (a number where the first
    lines held booleans): that component is never asked for, and DuckDB drops the column
    unread, so the number read as null instead of stopping the typed reading. The filter
    reads the typed column itself rather than testing the value again (the CSV numeral
    pattern twice a cell cost CSV about a quarter more CPU)."""
    return select("*").from_(exp.Subquery(this=query), copy=False).where(and_(*guards), copy=False)


# -- CSV ---------------------------------------------------------------------------

def csv_columns(path: str) -> dict[tuple[str, ...], str]:
    return csv_header(path)[0]


CSV_ROWS_VIEW = "__profile_rows"  # the careful reading's rows (see :mod:`.careful_csv`)
CSV_PROBLEM = "__problem"  # its column of the reason a row is no profile


def csv_reader(path: str) -> exp.Expr:
    """``read_csv`` of every cell as text, the columns named c0, c1, ... (see :func:`csv_header`),
    in the one dialect Python's csv module reads (a comma, double quotes doubled inside
    quotes), never sniffed: DuckDB's sniffer took a file's single quotes for its quote
    character. Strict, it stops on a row it would split otherwise than Python (a cell too
    many, which it would drop, a quote left open); the file is then read the careful way
    (:mod:`.careful_csv`). A short row's missing cells are null, as Python leaves them out."""
    width = csv_header(path)[1]
    columns = exp.Struct(expressions=[exp.PropertyEQ(this=_lit(f"c{i}"), expression=_lit("VARCHAR"))
                                      for i in range(max(width, 1))])
    options = {"header": exp.true(), "auto_detect": exp.false(), "delim": _lit(","), "quote": _lit('"'),
               "escape": _lit('"'), "strict_mode": exp.true(), "null_padding": exp.true(), "columns": columns}
    return _fn("read_csv", _lit(path), *(exp.EQ(this=exp.column(name), expression=value)
                                         for name, value in options.items()))


def csv_header(path: str) -> tuple[dict[tuple[str, ...], str], int]:
    """Each field path of a CSV file's header and the column name the back ends give it
    (``c0``, ``c1``, ...): the header is read once, here, by the same rule as the Python
    reader (a byte-order mark ignored, a column without a name left out, conflicting names
    refused), so no engine's own header handling can differ."""
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = python_csv_reader(stream)
        with csv_errors(reader, path):
            header: list[str] = next(reader, [])
    return {p: f"c{i}" for i, p in enumerate(column_paths(header, path)) if p is not None}, len(header)


def _csv(connection: Any, path: str, paths: Sequence[tuple[str, ...]], typed: bool = False,
         careful: bool = False) -> Source:
    """``careful``: the rows Python read, registered as :data:`CSV_ROWS_VIEW` (blank rows
    left out already, and the reason of a row that is no profile in :data:`CSV_PROBLEM`)."""
    columns_by_path = csv_columns(path)
    kinds = csv_sampled_kinds(path, columns_by_path, paths) if typed and not careful else {}
    columns = [(field_path, csv_typed_parts(columns_by_path[field_path], kinds[field_path]) if field_path in kinds
                else csv_parts(field_path, columns_by_path)) for field_path in paths]
    if careful:
        return _assemble(exp.to_table(CSV_ROWS_VIEW), columns,
                         [exp.alias_(exp.column(CSV_PROBLEM), INVALID_COLUMN, copy=False)])
    cells = [_filled(exp.column(n, quoted=True)) for n in columns_by_path.values()]
    return _assemble(csv_reader(path), columns, where=or_(*cells) if cells else None,
                     typed={path: exp.column(columns_by_path[path], quoted=True) for path in kinds})


def _filled(cell: exp.Expr) -> exp.Expr:
    """TRUE when a cell holds more than CELL_SPACE (a row of such cells is no profile).
    Only a cell that starts with such a space is trimmed to see: a cell whose first byte is
    another is filled, and TRIM makes a new string per cell (every cell of every row, 15
    columns of 200,000 rows: about 8% of the CSV query's CPU)."""
    spaced = or_(exp.EQ(this=cell, expression=_lit("")),
                 *(_fn("starts_with", cell.copy(), _lit(space)) for space in CELL_SPACE))
    return case([(exp.Is(this=cell.copy(), expression=exp.Null()), exp.false()),
                 (spaced, exp.NEQ(this=_trimmed(cell.copy()), expression=_lit("")))], exp.true())


def _trimmed(cell: exp.Expr) -> exp.Expr:
    """A cell without the spaces and tabs around it (what profiles.CELL_SPACE trims)."""
    return exp.Trim(this=cell, expression=_lit(CELL_SPACE))


def csv_parts(path: tuple[str, ...], columns: dict[tuple[str, ...], str]) -> list[exp.Expr | None]:
    """A CSV field's components, typed per cell as ``profiles.typed_cell`` does; shared by
    every engine that reads CSV as text columns (``columns``: field path -> column name)."""
    name = columns.get(path)
    if name is None:  # only nested columns (consent.sms): an object when any cell is set
        children = [n for p, n in columns.items() if p[:len(path)] == path]
        present = [not_(exp.Is(this=exp.column(n, quoted=True), expression=exp.Null())) for n in children]
        return [None, None, None, case([(or_(*present), exp.true())]) if present else None]
    cell = exp.column(name, quoted=True)
    if len(path) == 1 and path[0] in TEXT_COLUMNS:
        return [None, cell, None, None]
    word = exp.Lower(this=_trimmed(cell))
    numeral = exp.RegexpLike(this=cell, expression=_lit(DECIMAL_PATTERN))
    special = exp.In(this=word, expressions=[_lit("true"), _lit("false"), _lit("null")])
    return [
        case([(numeral, exp.Cast(this=cell, to=DOUBLE))]),
        case([(and_(not_(special), not_(numeral)), cell)]),
        case([(exp.EQ(this=word, expression=_lit("true")), exp.true()),
              (exp.EQ(this=word, expression=_lit("false")), exp.false())]),
        None,
    ]


def csv_filled_cell(cell: exp.Expr) -> tuple[exp.Expr, exp.Expr]:
    """Where a CSV cell holds a value, as :func:`...profiles.typed_cell` reads it (not
    empty, not ``null``; a cell of spaces is text), and that value's kind in the words of
    :mod:`...shape_check`: what a SQL engine counts of a column where the plan reads an
    object (:func:`.shapes.count_wrong_shapes`, Spark's ``_csv_shapes``)."""
    word = exp.Lower(this=_trimmed(cell))
    filled = and_(exp.NEQ(this=cell, expression=_lit("")), exp.NEQ(this=word, expression=_lit("null")))
    kind = case([(exp.In(this=word, expressions=[_lit("true"), _lit("false")]), _lit("a boolean")),
                 (exp.RegexpLike(this=cell, expression=_lit(DECIMAL_PATTERN)), _lit("a number"))], _lit("text"))
    return filled, kind


def csv_sampled_kinds(path: str, columns: dict[tuple[str, ...], str],
                      paths: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """The component (``n``, ``s`` or ``b``) of each typed-per-cell field whose non-empty
    cells in the first :data:`.json_lines.KIND_SAMPLE` rows all read as that one kind by
    ``profiles.typed_cell`` (see :mod:`.json_lines`, "the typed reading")."""
    import csv

    index = {p: int(columns[p][1:]) for p in paths
             if p in columns and not (len(p) == 1 and p[0] in TEXT_COLUMNS)}
    seen: dict[tuple[str, ...], set[str]] = {p: set() for p in index}
    with open(path, encoding="utf-8-sig", newline="") as stream:
        try:
            for count, row in enumerate(python_csv_reader(stream)):
                if count > json_lines.KIND_SAMPLE:
                    break
                for field_path, at in index.items():
                    if count and at < len(row) and row[at] != "":
                        seen[field_path].add(_cell_kind(typed_cell(row[at])))
        except (UnicodeDecodeError, csv.Error):
            return {}  # the plain reading says what is wrong with the file
    return {p: next(iter(kinds)) for p, kinds in seen.items() if len(kinds) == 1 and kinds <= {"n", "s", "b"}}


def _cell_kind(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "b"
    return "s" if isinstance(value, str) else "n"


# true, false or null in any case, spaces and tabs around: what profiles.typed_cell reads
# as a boolean or null. ASCII classes, not (?i): RE2 folds case by Unicode, where the long
# s (U+017F) matches s, and Python's lower() would not make "falſe" false.
SPECIAL_PATTERN = r"^[ \t]*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|[Nn][Uu][Ll][Ll])[ \t]*$"


def csv_typed_parts(name: str, kind: str) -> list[exp.Expr | None]:
    """A CSV field's one component of ``kind`` (see :func:`csv_sampled_kinds`); a cell of
    another kind stops the query with :data:`.json_lines.TYPED_REFUSED`. Each test is the
    cheapest exact one: ``lower(trim(cell))`` costs DuckDB ten times a comparison (four
    boolean columns of 200,000 rows: 0.47 s of CPU against 0.01 s), so a boolean cell
    spelled ``true`` or ``false`` is read by comparison first, and text is told from
    true/false/null by a regular expression."""
    cell = exp.column(name, quoted=True)
    numeral = exp.RegexpLike(this=cell, expression=_lit(DECIMAL_PATTERN))
    refused = _fn("error", _lit(json_lines.TYPED_REFUSED))
    missing = (exp.Is(this=cell.copy(), expression=exp.Null()), exp.Null())
    if kind == "n":
        typed = case([missing, (numeral, exp.Cast(this=cell, to=DOUBLE))], refused)
    elif kind == "s":
        special = exp.RegexpLike(this=cell.copy(), expression=_lit(SPECIAL_PATTERN))
        typed = case([missing, (and_(not_(special), not_(numeral)), cell.copy())], refused)
    else:
        word = exp.Lower(this=_trimmed(cell.copy()))
        spelled = case([(exp.EQ(this=word, expression=_lit("true")), exp.true()),
                        (exp.EQ(this=word.copy(), expression=_lit("false")), exp.false())], refused)
        typed = exp.Case(this=cell.copy(), ifs=[exp.If(this=_lit("true"), true=exp.true()),
                                                exp.If(this=_lit("false"), true=exp.false())],
                         default=case([missing], spelled))
    return [typed if part == kind else None for part in ("n", "s", "b", "o")]


# -- Parquet -----------------------------------------------------------------------

def _parquet(connection: Any, path: str, paths: Sequence[tuple[str, ...]]) -> Source:
    reader = _fn("read_parquet", _lit(path))
    described = connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()
    types = {row[0]: row[1] for row in described}
    columns = [(field_path, parquet_parts(field_path, types, _struct_field_type, _typed))
               for field_path in paths]
    return _assemble(reader, columns)


def parquet_parts(path: tuple[str, ...], types: dict[str, str], field_type: Callable[[str, str], str | None],
                  typed: Callable[[exp.Expr, str | None], list[exp.Expr | None]]) -> list[exp.Expr | None]:
    """A Parquet field's components, for DuckDB and Spark alike: a column named
    ``consent.email`` is the field ``consent.email``, as in CSV (``profiles.column_paths``),
    and struct columns are read into by name."""
    by_path = {p: name for name, p in zip(types, column_paths(list(types), "the Parquet file"), strict=True)
               if p is not None}
    for column_path, name in by_path.items():
        if path[:len(column_path)] != column_path:
            continue
        node: exp.Expr = exp.column(name, quoted=True)
        kind: str | None = types[name]
        for part in path[len(column_path):]:
            inner = field_type(kind, part) if kind is not None else None
            if inner is None:
                return [None, None, None, None]
            node = exp.Dot(this=node, expression=exp.to_identifier(part, quoted=True))
            kind = inner
        return typed(node, kind)
    children = [n for p, n in by_path.items() if p[:len(path)] == path]
    present = [not_(exp.Is(this=exp.column(n, quoted=True), expression=exp.Null())) for n in children]
    return [None, None, None, case([(or_(*present), exp.true())]) if present else None]


def _typed(node: exp.Expr, kind: str | None) -> list[exp.Expr | None]:
    if kind is None:
        return [None, None, None, None]
    base = kind.split("(")[0].upper()
    if base in _NUMERIC or base == "DECIMAL":
        return [exp.Cast(this=node, to=DOUBLE), None, None, None]
    if base == "VARCHAR":
        return [None, node, None, None]
    if base == "BOOLEAN":
        return [None, None, node, None]
    if base in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"):
        return [None, exp.Cast(this=node, to=VARCHAR), None, None]
    return [None, None, None, case([(not_(exp.Is(this=node, expression=exp.Null())), exp.true())])]


def _struct_field_type(kind: str, name: str) -> str | None:
    """The type of one field of a DuckDB STRUCT type string, or None."""
    if not kind.upper().startswith("STRUCT("):
        return None
    for part in split_top_level(kind[len("STRUCT("):-1]):
        field_name, _, field_type = part.strip().partition(" ")
        if field_name.strip('"') == name:
            return field_type.strip()
    return None


def split_top_level(body: str) -> list[str]:
    """The comma-separated members of a struct type's body, nested types kept whole
    (``a INT, b STRUCT(c INT, d INT)`` in DuckDB, ``a:int,b:struct<c:int>`` in Spark)."""
    depth, start, parts = 0, 0, []
    for i, char in enumerate(body):
        if char in "(<":
            depth += 1
        elif char in ")>":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return parts
