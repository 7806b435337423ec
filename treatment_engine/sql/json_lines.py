"""JSON lines into DuckDB, read line for line as the Python reader reads them.

Two ways in, one canonical view out:

- **fast**: DuckDB's own ``read_json`` with a column per top-level name the plan reads
  (``JSON``, or a ``STRUCT`` of ``JSON`` for an object the plan reads into). It is taken
  only when :func:`.plain_lines.plain_file` finds nothing in the file that DuckDB's parser would read
  differently from :mod:`treatment_engine.profile_json` (``NaN``/``Infinity``, trailing
  commas, nesting past the limit, a byte-order mark), and it stops with an error on
  everything else the rule refuses or reads otherwise (a line that is not JSON, not UTF-8
  or not an object, a name repeated in an object the plan reads, a value of the wrong kind
  where the plan reads into an object). The caller then reads the file the careful way.
- **careful**: :func:`.careful_lines.careful_batches` reads every line in Python by the rule
  itself and hands DuckDB canonical JSON (or the line's reason), numbered, as an Arrow stream.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlglot import exp

from .fragments import Unsupported, case, not_, or_

LINES_VIEW = "__profile_lines"


@dataclass
class _Name:
    """One name the plan reads, and the names it reads inside it."""

    leaf: bool = False
    children: dict[str, _Name] = field(default_factory=dict)
    text: bool = False  # a leaf read as VARCHAR (the typed reading's TEXT)

    def sql_type(self) -> str:
        if self.leaf or not self.children:
            return "VARCHAR" if self.text else "JSON"
        inner = ", ".join(f"{_quote(n)} {child.sql_type()}" for n, child in sorted(self.children.items()))
        return f"STRUCT({inner})"

    def mixed(self) -> bool:
        """Read both as a value and as an object: only the careful way reads it exactly."""
        return (self.leaf and bool(self.children)) or any(c.mixed() for c in self.children.values())


def _tree(paths: Sequence[tuple[str, ...]], texts: Collection[tuple[str, ...]] = ()) -> dict[str, _Name]:
    top: dict[str, _Name] = {}
    for path in paths:
        node = top.setdefault(path[0], _Name())
        for part in path[1:]:
            node = node.children.setdefault(part, _Name())
        node.leaf = True
        node.text = path in texts
    return top


def fast_possible(paths: Sequence[tuple[str, ...]]) -> bool:
    return not any(name.mixed() for name in _tree(paths).values())


def reader(path: str, paths: Sequence[tuple[str, ...]], careful: bool,
           texts: Collection[tuple[str, ...]] = ()) -> tuple[exp.Expr, str | None]:
    """The relation to read (with a column per top-level name), and its invalid column.
    ``texts``: leaf paths read as VARCHAR (the typed reading's TEXT; not when ``careful``)."""
    tree = _tree(paths, () if careful else texts)
    types = {name: node.sql_type() for name, node in sorted(tree.items())}
    if not careful:
        columns = exp.Struct(expressions=[exp.PropertyEQ(this=exp.Literal.string(n), expression=exp.Literal.string(t))
                                          for n, t in types.items()])
        relation = exp.Anonymous(this="read_json", expressions=[
            exp.Literal.string(path),
            exp.EQ(this=exp.column("format"), expression=exp.Literal.string("newline_delimited")),
            exp.EQ(this=exp.column("records"), expression=exp.true()),
            exp.EQ(this=exp.column("columns"), expression=columns)])
        return relation, None
    struct = "{" + ", ".join(f"{json.dumps(n)}: {json.dumps(_json_structure(tree[n]))}" for n in types) + "}"
    parsed = exp.Anonymous(this="from_json", expressions=[exp.column("doc"), exp.Literal.string(struct)])
    selected: list[exp.Expr] = [exp.alias_(exp.column("problem"), "__invalid", copy=False)]
    for name in types:
        selected.append(exp.alias_(exp.Dot(this=exp.Paren(this=parsed.copy()),
                                           expression=exp.to_identifier(name, quoted=True)), name, quoted=True))
    query = exp.select(*selected).from_(exp.to_table(LINES_VIEW))
    return exp.Subquery(this=query), "__invalid"


def _json_structure(node: _Name) -> Any:
    if node.leaf or not node.children:
        return "JSON"
    return {name: _json_structure(child) for name, child in node.children.items()}


def components(path: tuple[str, ...], paths: Sequence[tuple[str, ...]]) -> list[exp.Expr | None]:
    """The four components of one field path over the reader's columns."""
    value, node = path_value(path, paths)
    if not node.leaf:  # an object the plan reads into: a STRUCT, set when the JSON had an object
        return [None, None, None, case([(not_(exp.Is(this=value, expression=exp.Null())), exp.true())])]
    tests, values = _kind_tests(value)
    return [case([(test, part)]) for test, part in zip(tests, values, strict=True)]


def path_value(path: tuple[str, ...], paths: Sequence[tuple[str, ...]]) -> tuple[exp.Expr, _Name]:
    """The expression of a field path over the reader's columns, and its node."""
    tree = _tree(paths)
    node = tree[path[0]]
    value: exp.Expr = exp.column(path[0], quoted=True)
    for index, part in enumerate(path[1:], 1):
        if node.leaf:  # inside a value read as JSON (careful reading only)
            rest = "$" + "".join(f'."{p}"' for p in path[index:])
            value = exp.Anonymous(this="json_extract", expressions=[value, exp.Literal.string(rest)])
            node = _Name(leaf=True)
            break
        node = node.children[part]
        value = exp.Dot(this=value, expression=exp.to_identifier(part, quoted=True))
    return value, node


def _kind_tests(value: exp.Expr) -> tuple[list[exp.Expr], list[exp.Expr]]:
    """For each component (n, s, b, o): the test that a JSON value is of its kind, and the
    component's value when it is."""
    # DuckDB hands each JSON value over minified, so its first byte says its kind: a number
    # starts with a digit or '-', text with '"', an object or list with '{' or '['; true
    # and false are spelled so. Read with byte tests (comparisons, starts_with), far cheaper
    # than json_type, which parses the value again, and than SUBSTRING, which counts
    # characters; and text unquoted by json_extract_string, which is cheaper than
    # SUBSTRING(text, 2, length - 2) (LENGTH counts characters too). 200,000 customers,
    # one thread, CPU: 0.069 to 0.042 s for three number fields, 0.104 to 0.067 s for
    # three text fields, 0.042 to 0.015 s for two boolean fields.
    text = exp.Cast(this=value, to=exp.DataType.build("VARCHAR"))
    tests = [_number_first(text), _starts(text, '"'), or_(_spelled(text, "true"), _spelled(text, "false")),
             or_(_starts(text, "{"), _starts(text, "["))]
    values = [exp.Cast(this=text.copy(), to=exp.DataType.build("DOUBLE")),
              exp.Anonymous(this="json_extract_string", expressions=[value, exp.Literal.string("$")]),
              _spelled(text, "true"), exp.true()]
    return tests, values


def _starts(text: exp.Expr, char: str) -> exp.Expr:
    return exp.Anonymous(this="starts_with", expressions=[text.copy(), exp.Literal.string(char)])


def _spelled(text: exp.Expr, word: str) -> exp.Expr:
    return exp.EQ(this=text.copy(), expression=exp.Literal.string(word))


def _number_first(text: exp.Expr) -> exp.Expr:
    """A digit or a minus first, as a number's text starts. A digit: the text sorts from '0'
    up to ':', the byte after '9' (strings compare byte-wise). Not an IN of eleven
    characters: past a few items DuckDB makes IN a hash join (MARK) against the list, one
    per field per row."""
    digit = exp.and_(exp.GTE(this=text.copy(), expression=exp.Literal.string("0")),
                     exp.LT(this=text.copy(), expression=exp.Literal.string(":")), copy=False)
    return or_(exp.Paren(this=digit), _starts(text, "-"))


# -- the typed reading ---------------------------------------------------------------
#
# Most files hold one kind of value per field (a number, or text, or true/false, or null).
# Such a field needs one component, not four: the rule tests become plain typed
# comparisons, as over a typed Parquet column, and each value is typed by one test. Which
# kind a field holds is guessed from the first lines (KIND_SAMPLE), and the guess is
# checked on every value by the query itself: a value of another kind stops it with
# TYPED_REFUSED, and the caller reads the file again with four components per field.

KIND_SAMPLE = 1_000  # lines read to guess each field's kind
TYPED_REFUSED = "treatment: a value of another kind than its column's"
KINDS = ("n", "s", "b")  # the components a typed field may keep
# A text field read as VARCHAR rather than JSON: DuckDB's reader unquotes a string itself,
# which json_extract_string on a JSON column does again at about twice the cost (five text
# fields of 200,000 customers, one thread: 0.195 s of CPU against 0.249 s). Read as
# VARCHAR, a value of another kind arrives as its JSON text (12, 1e400, 100000.0, true, an
# object or list from its bracket), which a string could spell too: a field is read so
# only where no sampled string looks like that (:func:`other_kind_text`), and every row
# is checked in the query (:func:`other_kind_text_sql`).
TEXT = "t"


def sampled_kinds(path: str, paths: Sequence[tuple[str, ...]]) -> dict[tuple[str, ...], str]:
    """The component (``n``, ``s`` or ``b``) of each leaf path whose values in the first
    KIND_SAMPLE lines are all of that one kind (or null), TEXT for ``s`` where no string
    could be another kind's text; a path seen with two kinds, or only null or missing, or
    holding objects, is left out."""
    tree = _tree(paths)
    leaves = [p for p in paths if not _node(tree, p).children]
    seen: dict[tuple[str, ...], set[str]] = {p: set() for p in leaves}
    with open(path, "rb") as stream:
        for count, raw in enumerate(stream):
            if count >= KIND_SAMPLE:
                break
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            for leaf in leaves:
                seen[leaf].add(_kind_of(_at(doc, leaf)))
    kinds = {p: found - {"null"} for p, found in seen.items() if not found & {"o", "?"}}
    return {p: (TEXT if found == {TEXT} else "s" if found <= {"s", TEXT} else next(iter(found)))
            for p, found in kinds.items() if found and (len(found) == 1 or found <= {"s", TEXT})}


def _node(tree: dict[str, _Name], path: tuple[str, ...]) -> _Name:
    node = tree[path[0]]
    for part in path[1:]:
        node = node.children[part]
    return node


def _at(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if type(doc) is not dict:
            return None if doc is None else _NOT_AN_OBJECT
        doc = doc.get(part)
    return doc


_NOT_AN_OBJECT = object()  # a value where the path reads into an object


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "b"
    if type(value) is int or type(value) is float:
        return "n"
    if type(value) is str:
        return "s" if other_kind_text(value) else TEXT
    return "o" if type(value) in (dict, list) else "?"


_NUMBER_CHARACTERS = frozenset("0123456789.eE+-")


def other_kind_text(text: str) -> bool:
    """Whether DuckDB's VARCHAR text of a JSON value that is not a string could be ``text``:
    true or false, an object's or list's bracket first, or a number's characters only with
    a digit or minus first (a number may be written anew: 1E5 as 100000.0)."""
    return (text in ("true", "false") or text[:1] in ("{", "[")
            or (text[:1] in "0123456789-" and text != "" and set(text) <= _NUMBER_CHARACTERS))


def other_kind_text_sql(value: exp.Expr) -> exp.Expr:
    """:func:`other_kind_text` over a VARCHAR value, in SQL (the pattern only where a digit
    or a minus comes first)."""
    numeral = exp.and_(exp.Paren(this=_number_first(value)),
                       exp.RegexpFullMatch(this=value.copy(), expression=exp.Literal.string("[-+.eE0-9]+")),
                       copy=False)
    return or_(_spelled(value, "true"), _spelled(value, "false"), _starts(value, "{"), _starts(value, "["),
               exp.Paren(this=numeral))


def typed_refusal() -> exp.Expr:
    """What stops a typed reading's query (:data:`TYPED_REFUSED`)."""
    return exp.Anonymous(this="error", expressions=[exp.Literal.string(TYPED_REFUSED)])


def checked_text_sql(value: exp.Expr, refused: exp.Expr) -> exp.Expr:
    """``value`` (VARCHAR) as it is, or ``refused`` where it is :func:`other_kind_text`.
    A few byte-wise comparisons first pass the text no other kind's could be (its first
    byte from ':' to 'z', not '[', and not true or false), so the whole test runs only on
    what starts with a digit, a minus, a bracket or a byte outside that span: five text
    fields of 1,000,000 customers, 1.89-1.93 CPU s for the query before, 1.64-1.71 after."""
    return case([(_plain_text(value), value.copy()), (other_kind_text_sql(value), refused)], value.copy())


def _plain_text(value: exp.Expr) -> exp.Expr:
    """Text that sorts from ':' (past the digits and the minus) to before '{', is not led by
    '[' (from '[' to before the backslash), and is not true or false: no other kind's text."""
    def compared(kind: type[exp.Binary], text: str) -> exp.Expr:
        return kind(this=value.copy(), expression=exp.Literal.string(text))

    not_list = or_(compared(exp.LT, "["), compared(exp.GTE, "\\"))
    return exp.and_(compared(exp.GTE, ":"), compared(exp.LT, "{"), exp.Paren(this=not_list),
                    compared(exp.NEQ, "true"), compared(exp.NEQ, "false"), copy=False)


def typed_components(path: tuple[str, ...], paths: Sequence[tuple[str, ...]], kind: str) -> list[exp.Expr | None]:
    """A leaf field's one component of ``kind`` (see :func:`sampled_kinds`); any other kind
    of value in the file stops the query with TYPED_REFUSED."""
    value, _ = path_value(path, paths)
    refused = typed_refusal()
    missing = (exp.Is(this=value.copy(), expression=exp.Null()), exp.Null())
    if kind == TEXT:  # read as VARCHAR (see TEXT)
        return [None, checked_text_sql(value, refused), None, None]
    index = KINDS.index(kind)
    if kind == "n":
        typed = case([missing], _number_or(value, refused))
    else:
        tests, values = _kind_tests(value)
        typed = case([missing, (tests[index], values[index])], refused)
    return [typed if i == index else None for i in range(4)]


def _number_or(value: exp.Expr, refused: exp.Expr) -> exp.Expr:
    """A JSON value (not null) as a number, or ``refused``: its text cast to DOUBLE, which
    only a number's text can be. A string's text has its quotes, true and false, an object
    or a list their words and brackets; NaN and Infinity, which the cast would read, never
    reach a typed reading (the plain-file scan sends such a file the careful way). One
    TRY_CAST in place of the first-byte test and the cast: 1,000,000 profiles of six
    number fields, the query 1.40-1.47 CPU s against 1.44-1.52 (five rounds each)."""
    text = exp.Cast(this=value.copy(), to=exp.DataType.build("VARCHAR"))
    return exp.Coalesce(this=exp.TryCast(this=text, to=exp.DataType.build("DOUBLE")), expressions=[refused])


def _quote(name: str) -> str:
    if "\x00" in name:
        raise Unsupported(f"a field name with a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'
