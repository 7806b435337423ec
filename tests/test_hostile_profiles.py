"""Hostile profile lines (tests/hostile/profiles/lines.yaml) on every engine, and generated ones.

Every engine reads every line by one rule (docs/plan-format.md, Appendix F): the same
lines invalid with the same reasons, one output row per non-blank line, the rest decided
identically; no engine stops on a bad line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from treatment_engine import Engine
from treatment_engine.cli import cli
from treatment_engine.profiles import ProfileFileError
from treatment_engine.simulation import decided, simulate_duckdb, simulate_python
from treatment_engine.sql.duckdb_backend import DuckDBBackend

from .conftest import REPO, SAMPLE_AS_OF

CORPUS = Path(__file__).parent / "hostile" / "profiles" / "lines.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))


def line_bytes(case: dict[str, Any]) -> bytes:
    if "hex" in case:
        return bytes.fromhex(case["hex"])
    text = case["text"]
    if "fill" in case:
        text = text.replace("{fill}", case["fill"] * case["times"] + case.get("close", "") * case["times"])
    return text.encode("utf-8", "surrogatepass")


def write_corpus(path: Path, cases: list[dict[str, Any]] = CASES) -> list[dict[str, Any]]:
    """The corpus as one file; the cases that make an output row, with their line numbers."""
    rows = []
    with open(path, "wb") as out:
        for number, case in enumerate(cases, 1):
            out.write(line_bytes(case) + b"\n")
            if case["verdict"] != "skipped":
                rows.append({**case, "line": number})
    return rows


def check_verdicts(records: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    assert len(records) == len(rows)
    for record, case in zip(records, rows, strict=True):
        if case["verdict"] == "invalid":
            reason = case.get("whole_reason") or f"line {case['line']} {case['reason']}"
            assert record.get("error") == reason, case["name"]
            assert set(record) == {"customer_id", "error"}, case["name"]
            continue
        assert "error" not in record, (case["name"], record.get("error"))
        for key, value in (case.get("expect") or {}).items():
            assert record[key] == value, (case["name"], key)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    path = tmp_path_factory.mktemp("hostile") / "lines.jsonl"
    return path, write_corpus(path)


def _decide(path: Path, backend: str, tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / f"{backend}.jsonl"
    result = CliRunner().invoke(cli, ["decide", "--profiles", str(path), "--as-of", SAMPLE_AS_OF.isoformat(),
                                      "--backend", backend, "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("backend", ["python", "duckdb"])
def test_the_corpus_decides_as_written_on_every_engine(corpus: tuple[Path, list[dict[str, Any]]],
                                                       backend: str, tmp_path: Path) -> None:
    path, rows = corpus
    check_verdicts(_decide(path, backend, tmp_path), rows)


def test_engines_write_the_same_rows_for_the_corpus(corpus: tuple[Path, list[dict[str, Any]]], tmp_path: Path) -> None:
    path, _ = corpus
    assert _decide(path, "duckdb", tmp_path) == _decide(path, "python", tmp_path)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_line_alone_reads_alike(default_engine: Engine, case: dict[str, Any], tmp_path: Path) -> None:
    """Each line in a file of its own: DuckDB's own reader must not take a line that the rule
    reads otherwise (a file of one NaN, one deep line, one trailing comma...)."""
    path = tmp_path / "one.jsonl"
    rows = write_corpus(path, [CASES[0], case])
    from treatment_engine.profiles import read_jsonl
    with open(path, "rb") as stream:
        want = [r.to_record() for r in decided(default_engine.plan, list(read_jsonl(stream)), SAMPLE_AS_OF)]
    check_verdicts(want, rows)
    assert list(DuckDBBackend(default_engine.plan).records(path, SAMPLE_AS_OF)) == want


def test_simulate_counts_and_writes_every_line_on_both_engines(default_engine: Engine,
                                                               corpus: tuple[Path, list[dict[str, Any]]],
                                                               tmp_path: Path) -> None:
    path, rows = corpus
    outputs = {}
    for name, simulate in (("python", simulate_python), ("duckdb", simulate_duckdb)):
        summary = simulate(default_engine.plan, str(path), SAMPLE_AS_OF, output=str(tmp_path / f"{name}.jsonl"))
        assert (summary.total, summary.invalid) == (len(rows), sum(r["verdict"] == "invalid" for r in rows))
        outputs[name] = (tmp_path / f"{name}.jsonl").read_text(encoding="utf-8")
    assert outputs["python"] == outputs["duckdb"]
    check_verdicts([json.loads(x) for x in outputs["python"].splitlines()], rows)


# -- generated hostile lines -----------------------------------------------------------

_TIERS = st.sampled_from(["1", "150", "2000", "9000", "-5", "1e400", "9" * 30, "0.5", "true", '"900"', "null"])
_MANGLE = st.sampled_from(["", "NaN", "Infinity", "-Infinity", "nan", "trailing", "dup", "dup-nested", "surrogate",
                           "deep", "bytes", "control", "bom", "blank", "spaces", "list", "vtab"])


@st.composite
def hostile_lines(draw: st.DrawFn) -> bytes:
    """A profile line that is valid, then maybe bent in one of the ways the corpus lists."""
    cid = draw(st.sampled_from(["c1", "c2", "é", "a b", ""]))
    value = draw(_TIERS)
    email = draw(st.sampled_from(["true", "false", '"true"', "1"]))
    line = f'{{"customer_id": {json.dumps(cid)}, "annual_value": {value}, "consent": {{"email": {email}}}}}'
    mangle = draw(_MANGLE)
    other = draw(_TIERS)
    line = {
        "NaN": line.replace(f'"annual_value": {value}', '"annual_value": NaN'),
        "Infinity": line.replace(f'"annual_value": {value}', '"annual_value": Infinity'),
        "-Infinity": line.replace(f'"annual_value": {value}', '"annual_value": [-Infinity]'),
        "nan": line.replace(f'"annual_value": {value}', '"annual_value": nan'),
        "trailing": line[:-1] + ",}",
        "dup": line[:-1] + f', "annual_value": {other}}}',
        "dup-nested": line.replace('"consent": {', '"consent": {"email": ' + other + ", "),
        "surrogate": line.replace('"customer_id": "', '"customer_id": "\\udc01'),
        "deep": line[:-1] + ', "x": ' + "[" * 520 + "]" * 520 + "}",
        "control": line.replace(", ", ",\x01", 1),
        "bom": "\ufeff" + line,
        "blank": " \t",
        "spaces": "  " + line.replace(", ", " ,\t") + " \r",
        "list": f"[{line}]",
        "vtab": line + "\v",
    }.get(mangle, line)
    raw = line.encode("utf-8")
    return raw.replace(b'"c1"', b'"c\xff1"') if mangle == "bytes" else raw


# The fields the generated lines bend, read as the default plan reads them (tiers on
# annual_value, email consent, a delight under the ratio test), in a plan small enough that
# DuckDB plans its query in milliseconds: the default plan's query took most of the time of
# each example, and the lines, not the plan, are what this test varies.
READING_PLAN = {"rules/plan.yaml": """
segments: [{id: everyone}]
value_tiers: {field: annual_value, tiers: [{id: gold, min: 1000}, {id: silver, min: 100}, {id: bronze, min: 0}]}
channels: {email: {consent: consent.email}, app: {}}
actions: {gift: {kind: delight, cost: 20}, tips: {kind: contain}}
policy: {value_field: annual_value, delight_max_cost_ratio: 0.05}
rules:
  - {id: gold-gift, priority: 2, when: {value_tier: gold}, then: {treatment: delight, actions: [gift], channels: [email]}}
  - {id: valued, priority: 1, when: {if: "annual_value >= 150"}, then: {treatment: contain, actions: [tips], channels: [email, app]}}
default: {treatment: none}
"""}


@pytest.fixture(scope="module")
def reading_engine() -> Engine:
    return Engine.from_texts(READING_PLAN)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(hostile_lines(), min_size=1, max_size=40))
def test_generated_hostile_lines_read_alike_on_python_and_duckdb(reading_engine: Engine, tmp_path: Path,
                                                                 lines: list[bytes]) -> None:
    path = tmp_path / "generated.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    from treatment_engine.profiles import read_jsonl
    with open(path, "rb") as stream:
        items = list(read_jsonl(stream))
    want = [r.to_record() for r in decided(reading_engine.plan, items, SAMPLE_AS_OF)]
    assert list(DuckDBBackend(reading_engine.plan).records(path, SAMPLE_AS_OF)) == want


# -- a profiles path that is not a regular file ---------------------------------------

def test_decide_on_duckdb_refuses_a_pipe_it_would_read_as_empty(tmp_path: Path) -> None:
    """``--profiles <(zcat customers.jsonl.gz)`` hands over a pipe (/dev/fd/N). The Python
    engine reads it once and decides every line; DuckDB's reads it several times (the
    plain-file scan, the kinds sample, the query), so the query found the pipe drained and
    decided no one, with exit status 0 (a named pipe hung instead). It must refuse, as it
    refuses standard input."""
    lines = (Path(__file__).parents[1] / "examples" / "customers.jsonl").read_bytes().splitlines(keepends=True)[:3]
    decided_by = {}
    for backend in ("python", "duckdb"):
        read, write = os.pipe()
        os.write(write, b"".join(lines))
        os.close(write)
        try:
            result = CliRunner().invoke(cli, ["decide", "--profiles", f"/dev/fd/{read}", "--as-of",
                                              SAMPLE_AS_OF.isoformat(), "--backend", backend, "-q"])
        finally:
            os.close(read)
        decided_by[backend] = result
    assert decided_by["python"].exit_code == 0 and len(decided_by["python"].stdout.splitlines()) == 3
    refused = decided_by["duckdb"]
    assert refused.exit_code != 0 and refused.stdout == ""
    assert "not a regular file" in refused.output and "--backend python" in refused.output


ENGINES_OF = {"decide": ("python", "duckdb"), "simulate": ("python", "duckdb", "spark")}


@pytest.mark.parametrize("command", ENGINES_OF)
def test_a_path_that_is_no_profiles_file_gets_the_same_words_on_every_engine(command: str, tmp_path: Path) -> None:
    """A folder, /dev/null and a missing path: ``decide`` on the Python engine read /dev/null
    as no customers (exit status 0) where DuckDB refused it; a folder and a missing path got
    the operating system's words there and simulate's own here. One check, one wording, and
    an --output already there is left as it was."""
    kept = tmp_path / "kept.jsonl"
    kept.write_text("earlier decisions\n")
    for path, words in ((REPO / "examples", "is not a regular file (a folder): give a profiles file"),
                        (Path("/dev/null"), "is not a regular file (a device): give a profiles file"),
                        (tmp_path / "missing.jsonl", None)):
        said = set()
        for backend in ENGINES_OF[command]:
            result = CliRunner().invoke(cli, [command, "--profiles", str(path), "--backend", backend, "-q",
                                              "-o", str(kept), "--as-of", SAMPLE_AS_OF.isoformat()])
            assert result.exit_code == 1 and result.stdout == "", (backend, result.output)
            said.add(result.stderr.strip())
        assert said == {f"error: {path} {words}" if words else f"error: no such profiles file: {path}"}, said
    assert kept.read_text() == "earlier decisions\n"


def _through_a_pipe(data: bytes, args: list[str]) -> Any:
    """``treatment ARGS`` with --profiles a pipe holding ``data`` (as ``<(zcat f.gz)`` gives;
    written whole before the command runs, so it must fit a pipe's buffer, 64 KiB)."""
    read, write = os.pipe()
    os.write(write, data)
    os.close(write)
    try:
        return CliRunner().invoke(cli, [*args, "--profiles", f"/dev/fd/{read}", "--as-of", SAMPLE_AS_OF.isoformat()])
    finally:
        os.close(read)


@pytest.mark.parametrize("command", ENGINES_OF)
def test_a_pipe_is_read_by_the_python_engine_and_refused_by_the_others_in_the_same_words(command: str,
                                                                                         tmp_path: Path) -> None:
    """``simulate --backend python`` refused a pipe that ``decide`` reads (it counted the
    file's lines for its progress bar first, which would have drained it): the Python engine
    reads a pipe on both, once; DuckDB and Spark read a file more than once and refuse it."""
    data = b"".join((REPO / "examples" / "customers.csv").read_bytes().splitlines(keepends=True)[:41])  # < 64 KiB
    out = tmp_path / "out.jsonl"
    read = _through_a_pipe(data, [command, "--backend", "python", "--input-format", "csv", "-o", str(out)])
    assert read.exit_code == 0, read.output
    assert len(out.read_bytes().splitlines()) == 40
    for backend in ENGINES_OF[command][1:]:
        refused = _through_a_pipe(data, [command, "--backend", backend, "--input-format", "csv"])
        assert refused.exit_code == 1 and refused.stdout == ""
        assert ("is not a regular file (a pipe): the " + {"duckdb": "DuckDB", "spark": "Spark"}[backend] +
                " engine reads a file more than once; give a file, or use --backend python") in refused.stderr
    parquet = _through_a_pipe(b"PAR1", [command, "--backend", "python", "--input-format", "parquet"])
    assert "(a pipe): a Parquet file is read by seeking; give a file" in parquet.stderr


# -- CSV dialects DuckDB's reader reads otherwise --------------------------------------

# Files that Python's csv module (the rule's reader, profiles.read_csv) reads one way and
# DuckDB's read_csv read another: it sniffed the dialect (single quotes for the quote
# character), kept a row with a cell too many (dropping the cell) where the rule refuses
# the row, and stopped the whole file on a line break inside quotes or mixed line ends.
# It now reads in the one dialect, strictly, and hands a file it would split otherwise to
# Python's csv module (sql/careful_csv.py).
CSV_DIALECT_FILES = {
    "extra cells": "customer_id,annual_value\nc1,200\nc2,2000,x\n",
    "single quotes": "customer_id,annual_value\n'c1,x',2000\nc2,'5'\n",
    "a quoted line break": 'customer_id,annual_value\n"c\n1",2000\n',
    "mixed line ends": "customer_id,annual_value\r\nc1,2000\nc2,5\r\n",
    "text after a closing quote": 'customer_id,annual_value\nc1,"2"000\n',
    "an unterminated quote": 'customer_id,annual_value\nc1,2000\nc2,"5,\nc3,7\n',
}


@pytest.mark.parametrize("text", CSV_DIALECT_FILES.values(), ids=CSV_DIALECT_FILES.keys())
def test_a_csv_file_reads_alike_whatever_its_dialect(reading_engine: Engine, tmp_path: Path, text: str) -> None:
    path = tmp_path / "profiles.csv"
    path.write_bytes(text.encode("utf-8"))
    from treatment_engine.profiles import read_csv
    with open(path, encoding="utf-8-sig", newline="") as stream:
        want = [r.to_record() for r in decided(reading_engine.plan, list(read_csv(stream)), SAMPLE_AS_OF)]
    assert list(DuckDBBackend(reading_engine.plan).records(path, SAMPLE_AS_OF)) == want


# Rows DuckDB's strict reader reads otherwise, and silently: it takes a trailing comma
# (even two) past the header's width for no cell, where Python counts a cell too many; and
# it trims the spaces around a quoted cell, where Python reads a quote after a space as
# text and keeps the space after a closing quote. A scan of the lines before the reading
# (careful_csv.plain_csv) sends such a file the careful way.
CSV_SILENT_FILES = {
    "a trailing comma past the header": "customer_id,annual_value\nc1,2000,\n",
    "a space before a quoted cell": 'customer_id,annual_value\nc1, "2000"\n',
    "a space after a quoted cell": 'customer_id,annual_value\nc1,"2000" \n',
}


@pytest.mark.parametrize("text", CSV_SILENT_FILES.values(), ids=CSV_SILENT_FILES.keys())
def test_a_csv_row_duckdb_reads_otherwise_without_a_word_reads_alike(reading_engine: Engine, tmp_path: Path,
                                                                     text: str) -> None:
    test_a_csv_file_reads_alike_whatever_its_dialect(reading_engine, tmp_path, text)


def test_a_csv_file_read_row_by_row_is_simulated_and_warned_about_as_on_python(reading_engine: Engine,
                                                                                 tmp_path: Path) -> None:
    """A file DuckDB's reader refuses (a quoted line break, a row with a cell too many) is
    read by Python's csv module: the same rows, the same invalid row, and the same warning
    about a ``consent`` column of text where the plan reads consent.email (counted in
    DuckDB by a query over the file, which its strict reader refuses too)."""
    rows = "".join(f"c{i},yes,{i * 300}\n" for i in range(8))
    path = tmp_path / "profiles.csv"
    path.write_text(f'customer_id,consent,annual_value\n{rows}"c\n9",no,2000\nc10,no,5,extra\n', encoding="utf-8")
    results = {}
    for name, simulate in (("python", simulate_python), ("duckdb", simulate_duckdb)):
        out = tmp_path / f"{name}.jsonl"
        written = simulate(reading_engine.plan, str(path), SAMPLE_AS_OF, output=str(out))
        counted = simulate(reading_engine.plan, str(path), SAMPLE_AS_OF)
        results[name] = (written.total, written.invalid, written.notes, counted.by_rule, counted.notes,
                         out.read_text(encoding="utf-8"))
    assert results["duckdb"] == results["python"]
    assert results["python"][:2] == (10, 1) and "consent is text" in results["python"][2][0]


OTHER_SEPARATORS = {  # a spreadsheet's "CSV" in a locale that writes decimal commas, and a tab-separated file
    "semicolons": ("customer_id;annual_value;segment\nc1;2000;loyal\nc2;150,5;loyal\n", "';'"),
    "tabs": ("customer_id\tannual_value\nc1\t2000\n", "a tab"),
}


@pytest.mark.parametrize("name", OTHER_SEPARATORS)
def test_a_csv_file_of_another_separator_is_named_as_such_by_every_engine(reading_engine: Engine, tmp_path: Path,
                                                                          name: str) -> None:
    """Every row was "no customer_id", which did not say why; each engine (and decide)
    now says the header is one column that looks separated by another character. A comma
    file whose cells hold semicolons is no such file."""
    from click.testing import CliRunner

    from treatment_engine.cli import cli

    text, shown = OTHER_SEPARATORS[name]
    path = tmp_path / "profiles.csv"
    path.write_text(text, encoding="utf-8")
    notes = {engine: simulate(reading_engine.plan, str(path), SAMPLE_AS_OF).notes
             for engine, simulate in (("python", simulate_python), ("duckdb", simulate_duckdb))}
    assert notes["duckdb"] == notes["python"]
    assert any(f"look separated by {shown}" in note and "is one column" in note for note in notes["python"]), notes
    decided = CliRunner().invoke(cli, ["decide", "--plan", str(REPO), "--profiles", str(path), "-o", str(tmp_path / "d.jsonl")])
    assert f"warning: the header of {path} is one column" in decided.stderr, decided.stderr
    path.write_text("customer_id,note\nc1,a;b\n", encoding="utf-8")
    assert not any("separated" in note for note in simulate_python(reading_engine.plan, str(path), SAMPLE_AS_OF).notes)


# A consent column of other things than objects, where the plan reads consent.email: cells
# of null (no value) and of spaces (text) among them, and a first value that is a number.
ODD_CONSENT_CSV = ("customer_id,consent,annual_value,household\n" + "".join(
    f"c{i},{cell},{i * 300},{'big' if i % 2 else ''}\n"
    for i, cell in enumerate(["13", "null", " NULL ", "yes", " ", "true", "", "\t", "no", "null", "2.5", "x"])))


def test_the_warning_about_a_csv_column_of_no_objects_counts_as_python_reads_the_cells(reading_engine: Engine,
                                                                                       tmp_path: Path) -> None:
    """The DuckDB engine counted every cell that is not blank ("text"), where Python's
    reading counts every value that is not null, spaces included, and names the kind of the
    first: 8 rows, "a number", not 9 rows of text."""
    path = tmp_path / "profiles.csv"
    path.write_text(ODD_CONSENT_CSV, encoding="utf-8")
    plan = Engine.from_texts(TWO_OBJECTS_PLAN).plan
    notes = {name: simulate(plan, str(path), SAMPLE_AS_OF).notes
             for name, simulate in (("python", simulate_python), ("duckdb", simulate_duckdb))}
    assert notes["duckdb"] == notes["python"]
    assert notes["python"][0].startswith("consent is a number, not an object, in 8 rows"), notes
    assert notes["python"][1].startswith("household is text, not an object, in 6 rows"), notes


# READING_PLAN with a second object the plan reads into (household.size)
TWO_OBJECTS_PLAN = {"rules/plan.yaml": READING_PLAN["rules/plan.yaml"].replace(
    "  - {id: valued,", '  - {id: family, priority: 3, when: {if: "household.size >= 3"}, '
    "then: {treatment: contain, actions: [tips], channels: [app]}}\n  - {id: valued,")}


def test_a_csv_cell_past_the_csv_modules_default_limit_is_read_on_every_engine(reading_engine: Engine,
                                                                                tmp_path: Path) -> None:
    """Python's csv module refuses a cell over 131,072 characters (its default field limit):
    the Python engine stopped the file there, where DuckDB decided the row."""
    path = tmp_path / "profiles.csv"
    path.write_text(f"customer_id,note,annual_value\nc1,{'x' * 200_000},2000\nc2,short,5\n", encoding="utf-8")
    from treatment_engine.profiles import read_csv
    with open(path, encoding="utf-8-sig", newline="") as stream:
        want = [r.to_record() for r in decided(reading_engine.plan, list(read_csv(stream)), SAMPLE_AS_OF)]
    assert [(r["customer_id"], r.get("error")) for r in want] == [("c1", None), ("c2", None)]
    assert list(DuckDBBackend(reading_engine.plan).records(path, SAMPLE_AS_OF)) == want


@pytest.mark.parametrize("text", [b"customer_id,region\nc1,caf\xe9\n", b"customer_id,caf\xe9\nc1,x\n"],
                         ids=["in a row", "in the header"])
def test_a_csv_file_that_is_not_utf8_is_refused_in_the_same_words(reading_engine: Engine, tmp_path: Path,
                                                                   text: bytes) -> None:
    path = tmp_path / "profiles.csv"
    path.write_bytes(text)
    said = []
    for simulate in (simulate_python, simulate_duckdb):
        with pytest.raises(ProfileFileError) as refused:
            simulate(reading_engine.plan, str(path), SAMPLE_AS_OF)
        said.append(str(refused.value))
    assert said[1] == said[0] == f"{path} is not UTF-8 text (near line 1)"


_CSV_CELLS = st.sampled_from(["", " ", "c1", "2000", "150", "-5", "1e400", "007", "true", " FALSE ", "null", "x y",
                              "'a", "b'", 'no"te', '"quoted"', ' "2000"', '"150" ', '"a,b"', '"a\nb"', '"a""b"', '"open', '"x"y',
                              "a\\", "\t", "é", "\x00"])
_CSV_ENDS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def hostile_csv(draw: st.DrawFn) -> str:
    """A CSV file of the columns the reading plan reads, with rows of any width, cells bent
    as the dialect tests bend them, and each line ended its own way."""
    lines = ["customer_id,annual_value,consent.email,note"]
    for _ in range(draw(st.integers(0, 12))):
        lines.append(",".join(draw(st.lists(_CSV_CELLS, min_size=1, max_size=6))))
    return "".join(line + draw(_CSV_ENDS) for line in lines)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(hostile_csv())
def test_generated_hostile_csv_reads_alike_on_python_and_duckdb(reading_engine: Engine, tmp_path: Path,
                                                                 text: str) -> None:
    path = tmp_path / "generated.csv"
    path.write_bytes(text.encode("utf-8"))
    from treatment_engine.profiles import read_csv
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            want: Any = [r.to_record() for r in decided(reading_engine.plan, list(read_csv(stream, str(path))),
                                                        SAMPLE_AS_OF)]
    except ProfileFileError as error:
        want = str(error)
    try:
        got: Any = list(DuckDBBackend(reading_engine.plan).records(path, SAMPLE_AS_OF))
    except ProfileFileError as error:
        got = str(error)
    assert got == want


GROWING = {  # a first line, and a line appended once the scan is done: plain to DuckDB, not to the rule
    "jsonl": ('{"customer_id": "c1", "annual_value": 2000}\n', '{"customer_id": "c2", "annual_value": 2000,}\n'),
    "csv": ("customer_id,annual_value\nc1,2000\n", "c2,2000,\n"),
}


def appended_after_the_scan(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """The file's plain check (JSON lines or CSV) appends GROWING's second line once it has
    scanned the first: a run over a file still being written (an export appending lines)."""
    from treatment_engine.sql import careful_csv, plain_lines

    module, name = (plain_lines, "plain_file") if path.suffix == ".jsonl" else (careful_csv, "plain_csv")
    scan = getattr(module, name)

    def scanned_then_appended(*args: Any, **kwargs: Any) -> bool:
        plain = scan(*args, **kwargs)
        with open(path, "a", encoding="utf-8") as stream:
            stream.write(GROWING[path.suffix.lstrip(".")][1])
        return plain

    monkeypatch.setattr(module, name, scanned_then_appended)


@pytest.mark.parametrize("kind", sorted(GROWING))
def test_a_line_appended_while_the_file_is_read_is_read_by_the_rule(reading_engine: Engine, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    kind: str) -> None:
    """The plain check found the lines so far plain, then the query read a line added since,
    with a trailing comma, and DuckDB's reader decided it where the rule refuses it. The
    Python engine reads each line once, by the rule, whenever it was written; so do the
    DuckDB engine's records now: a batch read after the file changed is read again."""
    path = tmp_path / f"growing.{kind}"
    path.write_text(GROWING[kind][0], encoding="utf-8")
    appended_after_the_scan(monkeypatch, path)
    got = list(DuckDBBackend(reading_engine.plan).records(path, SAMPLE_AS_OF))
    want = [r.to_record() for r in decided(reading_engine.plan, python_items(path), SAMPLE_AS_OF)]
    assert [("error" in r) for r in want] == [False, True]
    assert got == want


@pytest.mark.parametrize("kind", sorted(GROWING))
@pytest.mark.parametrize("output", [None, "decisions.jsonl"], ids=["summary", "written"])
def test_a_simulation_over_a_file_being_written_reads_every_line_by_the_rule(
        reading_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str,
        output: str | None) -> None:
    """A simulation whose query read past the plain check's scan is done again, line by line:
    its summary and its written decisions hold the appended line as the rule reads it."""
    path = tmp_path / f"growing.{kind}"
    path.write_text(GROWING[kind][0], encoding="utf-8")
    appended_after_the_scan(monkeypatch, path)
    written = str(tmp_path / output) if output else None
    summary = simulate_duckdb(reading_engine.plan, str(path), SAMPLE_AS_OF, output=written)
    want = simulate_python(reading_engine.plan, str(path), SAMPLE_AS_OF)
    assert (summary.total, summary.invalid) == (want.total, want.invalid) == (2, 1)
    if written:
        rows = [json.loads(line) for line in Path(written).read_text(encoding="utf-8").splitlines()]
        assert [("error" in r) for r in rows] == [False, True]


def python_items(path: Path) -> list[Any]:
    """The file's items as the Python engine reads them (its format by the suffix)."""
    from contextlib import ExitStack

    from treatment_engine.profiles import open_profiles

    with ExitStack() as stack:
        return list(open_profiles(stack, str(path)))
