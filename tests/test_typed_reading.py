"""The typed reading of CSV and JSON lines (treatment_engine.sql.json_lines, "the typed
reading"): a field whose values are all of one kind is read as one component, checked on
every value by the query itself. Where it is taken it must decide exactly as the plain
reading (four components per field) and the Python engine; where a value of another kind
comes after the lines the guess is made from, the query must stop and the file be read
again, never decide with the wrong kind.
"""

from __future__ import annotations

import csv
import functools
import json
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from treatment_engine import Engine
from treatment_engine.profiles import read_csv, read_jsonl
from treatment_engine.sql import json_lines, plain_lines
from treatment_engine.sql.compiler import required_fields
from treatment_engine.sql.duckdb_backend import DuckDBBackend, connect
from treatment_engine.sql.sources import csv_columns, csv_sampled_kinds

from .conftest import REPO, SAMPLE_AS_OF
from .test_hostile_profiles import write_corpus
from .test_sql_backends import python_records

LATE = json_lines.KIND_SAMPLE + 100  # a line the kinds are not guessed from


def one_kind_rows(count: int) -> list[dict[str, Any]]:
    """The bundled sample's customers whose nps is a number (the sample mixes in text), as
    many as asked, each with an id of its own."""
    with open(REPO / "examples" / "customers.jsonl", encoding="utf-8") as stream:
        rows = [json.loads(line) for line in stream if line.strip()]
    rows = [r for r in rows if not isinstance(r.get("nps"), str)]
    return [{**rows[i % len(rows)], "customer_id": f"t{i:06d}"} for i in range(count)]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    flat = [{**{k: v for k, v in row.items() if k != "consent"},
             **{f"consent.{k}": v for k, v in row.get("consent", {}).items()}} for row in rows]
    names = sorted({name for row in flat for name in row})
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(names)
        for row in flat:
            writer.writerow([_cell(row.get(name)) for name in names])
    return path


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def rows_of(engine: Engine, path: Path, typed: bool) -> list[tuple[Any, ...]]:
    connection = connect()
    query = DuckDBBackend(engine.plan).sql(path, SAMPLE_AS_OF, connection=connection, typed=typed)
    return connection.execute(query).fetchall()


def want(engine: Engine, path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as stream:
            return python_records(engine, list(read_csv(stream)), SAMPLE_AS_OF)
    with open(path, "rb") as stream:
        return python_records(engine, list(read_jsonl(stream)), SAMPLE_AS_OF)


def got(engine: Engine, path: Path, as_of: date = SAMPLE_AS_OF) -> list[dict[str, Any]]:
    keys = ("customer_id", "segment", "lifecycle_stage", "value_tier", "treatment", "rule", "actions",
            "channels", "arm", "experiment", "bucket", "would_have")
    return [{"customer_id": r["customer_id"], "error": True} if "error" in r else {k: r.get(k) for k in keys}
            for r in DuckDBBackend(engine.plan).records(path, as_of)]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_file_of_one_kind_per_field_is_read_typed_and_decided_alike(
        default_engine: Engine, tmp_path: Path, suffix: str) -> None:
    rows = one_kind_rows(300)
    path = (write_jsonl if suffix == ".jsonl" else write_csv)(tmp_path / f"c{suffix}", rows)
    paths = required_fields(default_engine.plan)
    kinds = (json_lines.sampled_kinds(str(path), paths) if suffix == ".jsonl"
             else csv_sampled_kinds(str(path), csv_columns(str(path)), paths))
    assert {("annual_value",), ("nps",), ("age",)} <= set(kinds)  # taken: one component for these
    assert kinds[("annual_value",)] == "n"
    assert kinds[("consent", "email")] == "b"
    typed = rows_of(default_engine, path, typed=True)
    assert typed == rows_of(default_engine, path, typed=False)
    assert got(default_engine, path) == want(default_engine, path)


JSON_LATE_VALUES = [
    ("nps", "7"),  # text where the first lines held numbers
    ("annual_value", True),
    ("annual_value", {"amount": 5}),
    ("annual_value", [1]),
    ("region", 5),  # a number where they held text
    ("do_not_contact", 1),  # a number where they held true/false
    ("do_not_contact", "true"),
]


@pytest.mark.parametrize(("field", "value"), JSON_LATE_VALUES, ids=lambda v: repr(v))
def test_a_value_of_another_kind_after_the_guess_stops_the_typed_json_reading(
        default_engine: Engine, tmp_path: Path, field: str, value: Any) -> None:
    rows = one_kind_rows(LATE + 50)
    rows[LATE] = {**rows[LATE], field: value}
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    with pytest.raises(duckdb.Error, match=json_lines.TYPED_REFUSED):
        rows_of(default_engine, path, typed=True)
    assert got(default_engine, path) == want(default_engine, path)


def test_a_mixed_field_within_the_guess_keeps_four_components(default_engine: Engine, tmp_path: Path) -> None:
    rows = one_kind_rows(200)
    rows[5] = {**rows[5], "nps": "10"}
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    kinds = json_lines.sampled_kinds(str(path), required_fields(default_engine.plan))
    assert ("nps",) not in kinds and kinds[("age",)] == "n"
    assert rows_of(default_engine, path, typed=True) == rows_of(default_engine, path, typed=False)
    assert got(default_engine, path) == want(default_engine, path)


CSV_LATE_CELLS = [
    ("age", "007"),  # DuckDB would read a number; the spec reads text
    ("age", "+5"),
    ("age", "1."),
    ("age", "inf"),
    ("age", "true"),
    ("age", "null"),
    ("region", "12"),  # a numeral where the cells were text
    ("region", "TRUE"),
    ("consent.email", "yes"),
    ("consent.email", "1"),
]


def csv_with_late_cell(tmp_path: Path, column: str, cell: str) -> Path:
    path = write_csv(tmp_path / "c.csv", one_kind_rows(LATE + 50))
    lines = path.read_text(encoding="utf-8").splitlines()
    at = lines[0].split(",").index(column)
    cells = lines[LATE + 1].split(",")
    cells[at] = cell
    lines[LATE + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("column", "cell"), CSV_LATE_CELLS, ids=lambda v: repr(v))
def test_a_cell_of_another_kind_after_the_guess_stops_the_typed_csv_reading(
        default_engine: Engine, tmp_path: Path, column: str, cell: str) -> None:
    path = csv_with_late_cell(tmp_path, column, cell)
    with pytest.raises(duckdb.Error, match=json_lines.TYPED_REFUSED):
        rows_of(default_engine, path, typed=True)
    assert got(default_engine, path) == want(default_engine, path)


CSV_SAME_KIND_CELLS = [
    ("consent.email", " TRUE"),  # a boolean, spelled otherwise: read past the comparison
    ("consent.email", "False\t"),
    ("region", "fal\u017fe"),  # text: Python's lower() does not make the long s an s
    ("region", "nul"),
    ("region", "-"),
]


@pytest.mark.parametrize(("column", "cell"), CSV_SAME_KIND_CELLS, ids=lambda v: repr(v))
def test_a_cell_of_the_same_kind_spelled_otherwise_keeps_the_typed_csv_reading(
        default_engine: Engine, tmp_path: Path, column: str, cell: str) -> None:
    path = csv_with_late_cell(tmp_path, column, cell)
    assert rows_of(default_engine, path, typed=True) == rows_of(default_engine, path, typed=False)
    assert got(default_engine, path) == want(default_engine, path)


def test_records_stream_on_where_a_refused_typed_reading_stopped(default_engine: Engine, tmp_path: Path) -> None:
    """Records already handed out by the typed reading are not handed out twice."""
    rows = one_kind_rows(30_000)
    rows[-20] = {**rows[-20], "annual_value": "1000"}
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    records = got(default_engine, path)
    assert [r["customer_id"] for r in records] == [r["customer_id"] for r in rows]
    assert records == want(default_engine, path)


def test_the_typed_reading_never_decides_a_hostile_line_otherwise(default_engine: Engine, tmp_path: Path) -> None:
    """Over the hostile lines corpus the typed reading either stops or gives the rows the
    careful reading gives (the engine itself reads such a file carefully from the start)."""
    path = tmp_path / "hostile.jsonl"
    write_corpus(path)
    backend = DuckDBBackend(default_engine.plan)
    careful = connect()
    want_rows = careful.execute(backend.sql(path, SAMPLE_AS_OF, connection=careful, careful=True)).fetchall()
    try:
        typed = rows_of(default_engine, path, typed=True)
    except duckdb.Error:
        return
    assert typed == want_rows


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_guess_of_a_kind_the_plan_does_not_read_is_still_checked(
        default_engine: Engine, tmp_path: Path, suffix: str) -> None:
    """The plan reads annual_value as a number (its value tiers); here the first lines hold
    true/false, so the guess is boolean and the query never asks for that component. The
    check must still run on every value: the number after the guess stopped nothing and
    was read as no value (found by the generated-plans differential test: a customer
    without a value tier in DuckDB, bronze in Python)."""
    rows = [{**row, "annual_value": index % 2 == 0} for index, row in enumerate(one_kind_rows(LATE + 50))]
    rows[LATE] = {**rows[LATE], "annual_value": 25_000}
    path = (write_jsonl if suffix == ".jsonl" else write_csv)(tmp_path / f"c{suffix}", rows)
    with pytest.raises(duckdb.Error, match=json_lines.TYPED_REFUSED):
        rows_of(default_engine, path, typed=True)
    decided = got(default_engine, path)
    assert decided == want(default_engine, path)
    assert decided[LATE]["value_tier"] is not None


# -- text read as VARCHAR (json_lines.TEXT) ----------------------------------------------

def test_text_fields_whose_sampled_strings_spell_no_other_kind_are_read_as_varchar(
        default_engine: Engine, tmp_path: Path) -> None:
    rows = one_kind_rows(300)
    rows[3] = {**rows[3], "region": "12"}  # a string a number's text could be: region stays JSON
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    kinds = json_lines.sampled_kinds(str(path), required_fields(default_engine.plan))
    assert kinds[("plan_type",)] == json_lines.TEXT and kinds[("customer_id",)] == json_lines.TEXT
    assert kinds[("region",)] == "s" and kinds[("first_purchase_date",)] == "s"  # dates: a number's characters
    query = DuckDBBackend(default_engine.plan).sql(path, SAMPLE_AS_OF, connection=connect(), typed=True)
    assert "'plan_type': 'VARCHAR'" in query and "'region': 'JSON'" in query
    assert rows_of(default_engine, path, typed=True) == rows_of(default_engine, path, typed=False)
    assert got(default_engine, path) == want(default_engine, path)


TEXT_LATE_VALUES = [5, -1.5, 10**30, True, False, {"a": 1}, [1], "12", "-3", "1e5", "true", "[x", "{"]


@pytest.mark.parametrize("value", TEXT_LATE_VALUES, ids=lambda v: repr(v))
def test_a_late_value_a_varchar_text_field_cannot_tell_apart_stops_the_typed_reading(
        default_engine: Engine, tmp_path: Path, value: Any) -> None:
    """Read as VARCHAR, a number, true/false, an object or a list arrive as their JSON text,
    which a string could spell too (the strings here): each stops the typed reading, and the
    plain one decides as Python does."""
    rows = one_kind_rows(LATE + 50)
    rows[LATE] = {**rows[LATE], "plan_type": value}
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    assert json_lines.sampled_kinds(str(path), required_fields(default_engine.plan))[("plan_type",)] == json_lines.TEXT
    with pytest.raises(duckdb.Error, match=json_lines.TYPED_REFUSED):
        rows_of(default_engine, path, typed=True)
    assert got(default_engine, path) == want(default_engine, path)


@pytest.mark.parametrize("value", ["north", "12th street", "1a", "e5", "", "truex", " true", "2026-11-01T10:00Z",
                                   "ﬁ", "1 000"])
def test_a_late_string_no_other_kind_spells_keeps_the_varchar_reading(
        default_engine: Engine, tmp_path: Path, value: str) -> None:
    rows = one_kind_rows(LATE + 50)
    rows[LATE] = {**rows[LATE], "region": value}
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    assert json_lines.sampled_kinds(str(path), required_fields(default_engine.plan))[("region",)] == json_lines.TEXT
    assert rows_of(default_engine, path, typed=True) == rows_of(default_engine, path, typed=False)


@functools.cache
def _shared_duckdb() -> Any:
    """One DuckDB for every generated example: opening one costs more than the query."""
    return duckdb.connect()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=8), st.from_regex(r"-?[0-9][-+.eE0-9]{0,6}Z?", fullmatch=True),
                          st.sampled_from(["true", "false", "{", "[1]", "-", "1e400", "100000.0"])), max_size=40))
def test_other_kind_text_in_sql_is_the_python_test(texts: list[str]) -> None:
    connection = _shared_duckdb()
    value = exp.column("t", quoted=True)
    test = json_lines.other_kind_text_sql(value).sql("duckdb")
    texts = [t.replace("\x00", "") for t in texts]
    got_sql = [row[0] for row in connection.execute(
        f"SELECT {test} FROM (SELECT unnest(?::VARCHAR[]) AS t, generate_subscripts(?::VARCHAR[], 1) AS i) "
        f"ORDER BY i", [texts, texts]).fetchall()]
    assert got_sql == [json_lines.other_kind_text(t) for t in texts]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=8), st.from_regex(r"-?[0-9][-+.eE0-9]{0,6}Z?", fullmatch=True),
                          st.from_regex(r"[:-~\x80-\U0010ffff][ -~]{0,4}", fullmatch=True),
                          st.sampled_from(["true", "false", "truex", "{", "[1]", "[", "\\", "z", ":", "-", "1e400"])),
                max_size=40))
def test_checked_text_refuses_exactly_the_other_kind_text(texts: list[str]) -> None:
    """The gated check (json_lines.checked_text_sql: a few comparisons pass the text no
    other kind's could be, the whole test runs on the rest) keeps a value exactly where
    other_kind_text says no, and refuses it exactly where it says yes: texts around each
    edge of the comparisons (':', '[', the backslash, '{', bytes past ASCII) included."""
    connection = _shared_duckdb()
    value = exp.column("t", quoted=True)
    refused = exp.Literal.string("REFUSED")
    test = json_lines.checked_text_sql(value, refused).sql("duckdb")
    texts = [t.replace("\x00", "") for t in texts]
    got_sql = [row[0] for row in connection.execute(
        f"SELECT {test} FROM (SELECT unnest(?::VARCHAR[]) AS t, generate_subscripts(?::VARCHAR[], 1) AS i) "
        f"ORDER BY i", [texts, texts]).fetchall()]
    assert got_sql == ["REFUSED" if json_lines.other_kind_text(t) else t for t in texts]


def test_the_plain_file_scan_runs_beside_building_the_query(default_engine: Engine, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB lets go of Python's lock while it scans the file, so the typed query is built
    meanwhile: the scan here waits for the build to start, and times out if they run one
    after the other (the file is then taken for not plain, and read the careful way)."""
    import threading

    from treatment_engine.sql import duckdb_backend

    building = threading.Event()
    scan = plain_lines.plain_file
    build = DuckDBBackend.sql
    monkeypatch.setattr(plain_lines, "plain_file", lambda *args: building.wait(10) and scan(*args))

    def sql(self: DuckDBBackend, *args: Any, **kwargs: Any) -> str:
        building.set()
        return build(self, *args, **kwargs)

    monkeypatch.setattr(DuckDBBackend, "sql", sql)
    path = write_jsonl(tmp_path / "c.jsonl", one_kind_rows(50))
    backend = DuckDBBackend(default_engine.plan)
    readings, query, _ = backend._first_reading(path, SAMPLE_AS_OF, "auto", duckdb_backend.connect(), summary=False)
    assert readings == ("typed", "plain", "careful") and query is not None and "READ_JSON" in query.upper()
    assert got(default_engine, path) == want(default_engine, path)


# -- the plain-file scan ------------------------------------------------------------------

_FRAGMENTS = ['{"a":', '"b"', ":", ",", "[", "]", "{", "}", " ", "\t", "-", "+", "1", "nan", "NaN", "iNf",
              "Infinity", "n", "a", "i", "f", '"', "null", "true", "x", "\r"]


def _needs_the_careful_reading(line: str) -> bool:
    """What DuckDB's JSON reader takes and the profile rule refuses, by yyjson's own reading:
    NaN and Infinity (any ASCII case, a sign before) where a value starts, and a comma
    before a closing bracket; then the scan's other tests (control characters, depth, a
    line of null with any blanks around it, a byte-order mark), as written."""
    import re

    return bool("\v" in line or "\f" in line or re.search(r",[ \t\r]*[\]}]", line)
                or re.search(r"[:,\[][ \t\r]*[-+]?([nN][aA][nN]|[iI][nN][fF])", line)
                or (len(line) > 2 * 512 and line.count("[") + line.count("{") > 512)
                or re.fullmatch(r"[ \t\r]*null[ \t\r]*", line)
                or line.startswith("\ufeff"))


@functools.cache
def _lent_connection() -> Any:
    """One connection for the scan by lines over every example (one each cost 0.03-0.1 s)."""
    return connect()


@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "by-lines"])
@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map("".join), min_size=1, max_size=6),
       st.booleans(), st.integers(0, 3))
def test_the_plain_file_scan_finds_exactly_the_lines_duckdb_would_read_otherwise(mapped: bool, lines: list[str],
                                                                                 ended: bool, pieces: int) -> None:
    """Each line by itself, and the lines together (the last one ended by a newline or
    not; the file cut into pieces of a few bytes, so lines fall at the pieces' edges),
    by both scans. The scan by lines reads lines with DuckDB's CSV reader, which also
    splits at a lone carriage return and refuses a file that mixes line ends: where a
    carriage return is, it may only ever find more than is there."""
    import tempfile

    def agrees(text: str, needs_careful: bool) -> bool:
        plain = plain_lines.plain_file(str(path), None if mapped else _lent_connection(), mapped=mapped)
        if not mapped and "\r" in text:
            return not (plain and needs_careful)
        return plain == (not needs_careful)

    with tempfile.TemporaryDirectory() as scratch, pytest.MonkeyPatch.context() as patch:
        if pieces:
            patch.setattr(plain_lines, "_PIECE", pieces * 7)
        path = Path(scratch) / "lines.jsonl"
        for line in lines:
            path.write_text(line + "\n", encoding="utf-8")
            assert agrees(line + "\n", _needs_the_careful_reading(line))
        text = "\n".join(lines) + ("\n" if ended else "")
        path.write_text(text, encoding="utf-8")
        assert agrees(text, any(_needs_the_careful_reading(line) for line in lines))


@pytest.mark.parametrize("text", ['{"a": 1}\nnull' + " " * 20 + '\n{"a": 2}\n', 'null\n{"a": 1}\n', '{"a": 1}\n null',
                                  '{"a": 1}\n\ufeff{"a": 2}\n', '{"a": [1,\t]}\n', '{"a": 1}\r\n{"a": -Infinity}\r\n', '{"a": 1}\n{"a": [ -Infinity]}\n',
                                  '{"a": 1}\n{"a": ' + "[" * 513 + "]" * 513 + "}\n"])
@pytest.mark.parametrize("mapped", [True, False], ids=["mapped", "by-lines"])
def test_a_file_duckdb_would_read_otherwise_is_not_plain(tmp_path: Path, text: str, mapped: bool) -> None:
    """The scan's every test at the file's first line, its last (ended or not) and between:
    among them a line of null with blanks after it past 16 characters, which DuckDB reads
    as a row of nulls (the scan by lines had looked for null only in short lines)."""
    path = tmp_path / "suspicious.jsonl"
    path.write_text(text, encoding="utf-8")
    assert not plain_lines.plain_file(str(path), mapped=mapped)
    path.write_text(text.replace("null", '{"a": 3}').replace("\ufeff", "").replace("Infinity", "1")
                    .replace(",\t]", "]").replace("[" * 513 + "]" * 513, "[" * 511 + "]" * 511), encoding="utf-8")
    assert plain_lines.plain_file(str(path), mapped=mapped)


def test_the_scan_by_lines_tries_nan_after_a_bracket_only_on_lines_with_a_bracket() -> None:
    """A regular expression costs DuckDB about 0.1 µs a line whatever the line holds; the
    one for NaN or Infinity after a bracket ('[' first) runs only where a byte test finds
    a bracket (most profiles hold no list). Exact either way: the test above and the
    generated lines check what the scan finds."""
    condition = sqlglot.parse_one(f"SELECT {plain_lines.SUSPICIOUS_LINE}", read="duckdb")
    [after_bracket] = [node for node in condition.find_all(exp.RegexpLike)
                       if node.expression.this == plain_lines.PLAIN_PATTERNS[2]]
    assert isinstance(after_bracket.parent, exp.If) and after_bracket.arg_key == "true"
    assert after_bracket.parent.this.sql("duckdb") == "CONTAINS(line, '[')"


@pytest.mark.parametrize("lines, mapped", [(50, False), (5_000, True)])
def test_a_file_of_many_lines_is_scanned_mapped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: int,
                                                 mapped: bool) -> None:
    """The mapped scan (Arrow, whose import costs about 0.25 s) for a file of more lines
    than MAPPED_FROM_LINES (here 1,000), the scan by lines (DuckDB) below."""
    monkeypatch.setattr(plain_lines, "MAPPED_FROM_LINES", 1_000)
    taken: list[str] = []
    for name in ("_plain_mapped", "_plain_by_lines"):
        scan = getattr(plain_lines, name)
        monkeypatch.setattr(plain_lines, name, lambda *args, scan=scan, name=name: taken.append(name) or scan(*args))
    path = tmp_path / "c.jsonl"
    path.write_text("".join(f'{{"customer_id": "c{i}"}}\n' for i in range(lines)), encoding="utf-8")
    assert plain_lines.plain_file(str(path))
    assert taken == (["_plain_mapped"] if mapped else ["_plain_by_lines"])


def test_the_scan_by_lines_splits_lines_across_its_buffers_as_the_file_holds_them(tmp_path: Path) -> None:
    """The scan's reader takes buffers of the longest line's size (16 MB): a file of more
    than two buffers, lines of up to almost the limit falling across their edges, splits
    into its own lines (counted and measured against Python's split), a line of the limit
    plus one makes the file not plain, and a trailing comma just past a buffer's edge is
    found there."""
    limit = 16 << 20
    long_line = '{"customer_id": "c", "note": "' + "x" * (limit - 40) + '"}'
    lines = [json.dumps({"customer_id": f"c{i}", "pad": "y" * (i * 7919 % 600_000)}, separators=(",", ":"))
             for i in range(120)]
    lines[20:20] = [long_line]
    path = tmp_path / "wide.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert path.stat().st_size > 2 * limit
    connection = _lent_connection()
    count, length = connection.execute(f"SELECT count(*), sum(strlen(line)) FROM "
                                       f"{plain_lines.file_lines(str(path))}").fetchone()
    assert (count, length) == (len(lines), sum(len(line) for line in lines))
    assert plain_lines.plain_file(str(path), connection, mapped=False)
    edge = next(i for i in range(len(lines)) if sum(len(line) + 1 for line in lines[:i + 1]) > limit)
    lines[edge + 1] = lines[edge + 1].replace('"}', '",}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert not plain_lines.plain_file(str(path), connection, mapped=False)
    path.write_text('{"customer_id": "c"}\n' + "x" * (limit + 1) + "\n", encoding="utf-8")
    assert not plain_lines.plain_file(str(path), connection, mapped=False)


def test_a_file_that_is_not_a_regular_file_is_not_plain(tmp_path: Path) -> None:
    """A pipe or a device is not mapped (nor opened: a pipe's reader would wait for a
    writer, or drain it): the careful reading reads it as a stream."""
    import os

    os.mkfifo(tmp_path / "pipe.jsonl")
    assert not plain_lines.plain_file(str(tmp_path / "pipe.jsonl"))
    assert not plain_lines.plain_file(os.devnull)
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert plain_lines.plain_file(str(tmp_path / "empty.jsonl"))


# -- generated files, the kinds guessed from a few lines --------------------------------

TEXT_PLAN = {"rules/plan.yaml": """
segments: [{id: everyone}]
value_tiers: {field: annual_value, tiers: [{id: gold, min: 1000}, {id: bronze, min: 0}]}
channels: {email: {consent: consent.email}, app: {}}
actions: {gift: {kind: delight, cost: 20}, tips: {kind: contain}}
policy: {value_field: annual_value, delight_max_cost_ratio: 0.05}
rules:
  - {id: north, priority: 5, when: {if: "region == 'north'"}, then: {treatment: contain, actions: [tips], channels: [app]}}
  - {id: paris, priority: 4, when: {if: "address.city == 'Paris'"}, then: {treatment: contain, actions: [tips], channels: [app]}}
  - {id: numeral, priority: 3, when: {if: "region == '12'"}, then: {treatment: contain, actions: [tips], channels: [app]}}
  - {id: gold-gift, priority: 2, when: {value_tier: gold}, then: {treatment: delight, actions: [gift], channels: [email]}}
default: {treatment: none}
"""}
_VALUES = st.sampled_from(['"north"', '"Paris"', '"12"', '"-3"', '"1e5"', '"true"', '"[x"', '"{"', '""', '"\\u0000"',
                           '"a\\nb"', '"\\""', '"\\ud83d\\ude00"', '"\\u0050aris"', '"nort\\u0068"', '"12 "', '"-"',
                           "12", "-1.5", "1e400", "-0", "true", "false", "null", "[1]", "{}", '{"city": "Paris"}',
                           "2000", '"2000"'])


@st.composite
def typed_lines(draw: st.DrawFn) -> bytes:
    lines = []
    for number in range(draw(st.integers(1, 8))):
        parts = [f'"customer_id": "c{number}"']
        for name in ("region", "annual_value", "email", "city"):
            value = draw(st.one_of(_VALUES, st.none()))  # None: the field is left out
            if value is None:
                continue
            parts.append({"email": f'"consent": {{"email": {value}}}',
                          "city": f'"address": {{"city": {value}}}'}.get(name, f'"{name}": {value}'))
        lines.append("{" + ", ".join(parts) + "}")
    return "\n".join(lines).encode() + b"\n"


@settings(max_examples=60, deadline=None)
@given(typed_lines(), st.integers(1, 4))
def test_generated_files_decide_alike_whatever_the_first_lines_guess(text: bytes, sample: int) -> None:
    """The kinds guessed from the first ``sample`` lines (KIND_SAMPLE made small, so the
    values after the guess are the generated ones): the typed reading, refused or not,
    and the readings after it decide as Python does."""
    import tempfile

    engine = _text_engine()
    with tempfile.TemporaryDirectory() as scratch, pytest.MonkeyPatch.context() as patch:
        patch.setattr(json_lines, "KIND_SAMPLE", sample)
        path = Path(scratch) / "generated.jsonl"
        path.write_bytes(text)
        with open(path, "rb") as stream:
            want_records = [r.to_record() for r in engine.decide_many(list(read_jsonl(stream)), SAMPLE_AS_OF)]
        assert list(DuckDBBackend(engine.plan).records(path, SAMPLE_AS_OF)) == want_records


_TEXT_ENGINE: list[Engine] = []


def _text_engine() -> Engine:
    if not _TEXT_ENGINE:
        _TEXT_ENGINE.append(Engine.from_texts(TEXT_PLAN))
    return _TEXT_ENGINE[0]
