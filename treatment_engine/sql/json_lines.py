"""JSON lines into DuckDB, read line for line as the Python reader reads them.

Two ways in, one canonical view out:

- **fast**: DuckDB's own ``read_json`` with a column per top-level name the plan reads
  (``JSON``, or a ``STRUCT`` of ``JSON`` for an object the plan reads into). It is taken
  only when :func:`plain_file` finds nothing in the file that DuckDB's parser would read
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
import mmap
import os
import re
import stat
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlglot import exp

from ..profile_json import MAX_DEPTH
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


def plain_file(path: str, connection: Any = None, mapped: bool | None = None) -> bool:
    """True when DuckDB's JSON reader may read ``path`` (see the module's docstring).

    The file is scanned for what DuckDB's JSON reader accepts and the rule does not:
    ``NaN``/``Infinity`` in any case where a value starts, a comma before a closing
    bracket, ``\v`` or ``\f`` (blank to it at a line's ends; it refuses every other
    control character but JSON's own whitespace wherever it stands, and so sends the file
    the careful way itself), a line of ``null`` (a row of nulls to it), a line nested
    deeper than the limit (only a line with that many brackets can be), a byte-order mark
    where a line starts. What the reader refuses itself (a line that is not UTF-8, or
    longer than its limit) is left to it: the caller then reads the file the careful way.
    A path that is not a regular file is not plain (and never opened here).

    Two scans find the same things: by DuckDB over the file's lines (``connection``, if
    lent, runs it), or over the mapped file's bytes with Arrow (:data:`PLAIN_PATTERNS`).
    The second costs about 0.25 s to import Arrow and numpy, and about 0.3 µs a line less
    than the first: it is taken for a file of more than about :data:`MAPPED_FROM_LINES`
    lines (``mapped`` chooses, for tests)."""
    try:
        status = os.stat(path)
    except OSError:
        return False
    if not stat.S_ISREG(status.st_mode):  # a pipe or a device: never opened here
        return False
    if not status.st_size:
        return True
    if mapped is None:
        mapped = _lines_about(path, status.st_size) > MAPPED_FROM_LINES
    return _plain_mapped(path) if mapped else _plain_by_lines(path, connection)


MAPPED_FROM_LINES = 2_000_000


def _lines_about(path: str, size: int) -> float:
    """The file's lines, about: its size over the mean length of the lines in its first 64 KiB."""
    with open(path, "rb") as stream:
        head = stream.read(1 << 16)
    return size * (head.count(b"\n") or 1) / max(len(head), 1)


def _plain_mapped(path: str) -> bool:
    try:
        with open(path, "rb") as stream:
            view = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return False
    with view:
        return _plain_bytes(view)


def _plain_by_lines(path: str, connection: Any = None) -> bool:
    """The scan by lines: DuckDB splits the file into lines (in parallel) and tests each
    with :data:`SUSPICIOUS_LINE`. A file it cannot split as the JSON reader would (not
    UTF-8, a line over the size limit, a lone carriage return) is not plain."""
    import duckdb

    try:
        if connection is None:  # a connection costs 0.03-0.1 s: the caller may lend its own
            connection = duckdb.connect()
            connection.execute("SET enable_progress_bar_print = false")
        found = connection.execute(f"SELECT count(*) FILTER (WHERE {SUSPICIOUS_LINE}) FROM {file_lines(path)}"
                                   ).fetchone()
    except duckdb.Error:
        return False
    return found is not None and found[0] == 0


# The scan reads the file's bytes once, mapped, not line by line: DuckDB's regular
# expressions cost about 125 ns a call whatever the line holds, so on short lines their
# number counted most (10 million journey events, 86 bytes a line: 5.7 CPU s for the
# scan by lines, 1.5 of it to split them). Here each test runs over whole pieces of the
# file: a single byte by memchr (mmap.find), the patterns by RE2 through Arrow (which
# lets go of Python's lock, so the pieces are scanned on two threads), the lines' lengths
# by numpy. No pattern crosses a newline, so a match lies within one line, as the
# reader's lines are. The patterns, each led by one literal character, which RE2 finds
# by memchr (an alternation of them, or a class of control characters, runs its automaton
# on every byte: 2.3 against 0.3-0.6 ms of CPU per MB):
PLAIN_PATTERNS = (
    r",[ \t\r]*([\]}]|[-+]?(?i:nan|inf))",  # a comma before a closing bracket, or NaN or
    r":[ \t\r]*[-+]?(?i:nan|inf)",  # Infinity where a value starts
    r"\[[ \t\r]*[-+]?(?i:nan|inf)",
    r"\n[ \t\r]*null[ \t\r]*\n",  # a line of null (the file's first and last lines apart)
)
# The scan by lines' test of one line, as SQL over ``line``: the first three patterns (a
# line holds no newline), and the other tests by line. Each regular expression call costs
# about 85-125 ns a line whatever it holds, hence the few calls; a line of null is sought
# only in a line without a double quote (every object with a name has one).
SUSPICIOUS_LINE = " OR ".join([
    "contains(line, chr(11)) OR contains(line, chr(12))",
    *(f"regexp_matches(line, '{pattern}')" for pattern in PLAIN_PATTERNS[:3]),
    f"CASE WHEN strlen(line) > {2 * MAX_DEPTH} THEN strlen(line) - strlen(replace(replace(line, '[', ''), "
    f"'{{', '')) > {MAX_DEPTH} ELSE false END",
    r"CASE WHEN contains(line, chr(34)) THEN false ELSE regexp_full_match(line, '[ \t\r]*null[ \t\r]*') END",
    "starts_with(line, '\ufeff')",
])
_NULL_LINE = re.compile(rb"[ \t\r]*null[ \t\r]*")
_PIECE = 8 << 20  # bytes a piece, about: each piece ends at a newline


def _plain_bytes(view: Any) -> bool:
    size = len(view)
    first = view.find(b"\n")
    if view[:3] == b"\xef\xbb\xbf" or _NULL_LINE.fullmatch(view[:first if first >= 0 else size]):
        return False
    if view[size - 1] != 0x0A and _NULL_LINE.fullmatch(view[view.rfind(b"\n") + 1:]):
        return False
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        return all(pool.map(lambda piece: _plain_piece(view, *piece), _pieces(view)))


def _pieces(view: Any) -> list[tuple[int, int]]:
    """(start, end) of each piece: from the newline before its first line (the file's
    start for the first piece) through the newline after its last line, so that every line
    but the file's first and last has its newline on both sides within one piece."""
    size, start, pieces = len(view), 0, []
    while start < size:
        cut = view.rfind(b"\n", start + 1, start + _PIECE) if start + _PIECE < size else -1
        end = size if cut < 0 else cut + 1
        pieces.append((start, end))
        start = end - 1 if cut >= 0 else size
    return pieces


def _plain_piece(view: Any, start: int, end: int) -> bool:
    """Whether the piece from ``start`` to ``end`` holds nothing the reader reads otherwise.
    Its pages are let go of afterwards: the scan keeps no more of the file in memory than
    the pieces being read (the mapped file's pages would count as the process's own)."""
    try:
        return _plain_bytes_of(view, start, end)
    finally:
        if hasattr(mmap, "MADV_DONTNEED"):
            page = start - start % mmap.PAGESIZE
            view.madvise(mmap.MADV_DONTNEED, page, end - page)


def _plain_bytes_of(view: Any, start: int, end: int) -> bool:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if view.find(b"\x0b", start, end) >= 0 or view.find(b"\x0c", start, end) >= 0:
        return False
    # a byte-order mark where a line starts (the file's first line apart); memchr first
    if view.find(b"\xef", start, end) >= 0 and view.find(b"\n\xef\xbb\xbf", start, end) >= 0:
        return False
    offsets = pa.py_buffer(np.array([start, end], dtype=np.int64))
    piece = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(view)])
    if any(pc.match_substring_regex(piece, pattern)[0].as_py() for pattern in PLAIN_PATTERNS):
        return False
    # only a line longer than 2 * MAX_DEPTH bytes can hold MAX_DEPTH brackets
    ends = np.flatnonzero(np.frombuffer(view, dtype=np.uint8, count=end - start, offset=start) == 0x0A) + start
    edges = np.concatenate((np.array([start - 1] if start == 0 else [], dtype=np.int64), ends,
                            np.array([] if view[end - 1] == 0x0A else [end], dtype=np.int64)))
    for k in np.flatnonzero(np.diff(edges) > 2 * MAX_DEPTH + 1):
        line = view[int(edges[k]) + 1:int(edges[k + 1])]
        if line.count(b"[") + line.count(b"{") > MAX_DEPTH:
            return False
    return True


def file_lines(path: str) -> str:
    """The file's lines as one text column, ``line``, split as DuckDB's CSV reader splits
    them (at ``\n``, and at ``\r`` alone)."""
    return (f"read_csv({_text(path)}, columns = {{'line': 'VARCHAR'}}, header = false, delim = '\x01', "
            f"quote = '', escape = '', auto_detect = false, max_line_size = {_MAX_LINE})")


_MAX_LINE = 16 << 20  # read_json's own limit on one value (maximum_object_size)


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


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


def typed_components(path: tuple[str, ...], paths: Sequence[tuple[str, ...]], kind: str) -> list[exp.Expr | None]:
    """A leaf field's one component of ``kind`` (see :func:`sampled_kinds`); any other kind
    of value in the file stops the query with TYPED_REFUSED."""
    value, _ = path_value(path, paths)
    refused = exp.Anonymous(this="error", expressions=[exp.Literal.string(TYPED_REFUSED)])
    missing = (exp.Is(this=value.copy(), expression=exp.Null()), exp.Null())
    if kind == TEXT:  # read as VARCHAR (see TEXT)
        return [None, case([missing, (other_kind_text_sql(value), refused)], value.copy()), None, None]
    tests, values = _kind_tests(value)
    index = KINDS.index(kind)
    typed = case([missing, (tests[index], values[index])], refused)
    return [typed if i == index else None for i in range(4)]


def _quote(name: str) -> str:
    if "\x00" in name:
        raise Unsupported(f"a field name with a NUL character: {name!r}")
    return '"' + name.replace('"', '""') + '"'
