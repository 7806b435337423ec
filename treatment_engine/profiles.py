"""Reading profiles from JSON lines, CSV and Parquet, and writing records as JSON lines.

A line that cannot be read becomes an :class:`Unreadable` marker rather than an
exception, so one bad line never stops a batch (spec section 5). What a JSON line may
hold is :mod:`treatment_engine.profile_json`'s rule; what a CSV or Parquet column name
means is :func:`column_paths`'s (docs/plan-format.md, Appendix F).
"""

from __future__ import annotations

import csv
import datetime
import decimal
import re
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .errors import TreatmentError
from .profile_json import BOM, NotAProfileLine, is_blank, line_reason, parse_line

# Columns that name things: kept as text even when they look like numbers.
TEXT_COLUMNS = frozenset({"customer_id", "segment", "lifecycle_stage", "value_tier"})
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
CELL_SPACE = " \t"  # what is trimmed around a CSV cell's true/false/null and blank rows
_MAX_INT_DIGITS = 4000  # Python refuses wider integer text; such a number reads as a float


class ProfileFileError(TreatmentError):
    """A profiles file that cannot be read at all (not a line of it: the whole file)."""


@dataclass(frozen=True)
class Unreadable:
    """A line that is not a profile at all (bad JSON, say); decided as an error."""

    line_number: int
    reason: str


def parse_json_line(text: str | bytes) -> Any:
    """One JSON value by the profile rule (:mod:`.profile_json`); ValueError if it breaks it."""
    return parse_line(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)


def read_jsonl(stream: IO[bytes]) -> Iterator[Any]:
    """Profiles from JSON lines; blank lines are skipped (spec 8), a leading BOM ignored."""
    for number, raw in _records(stream):
        try:
            yield parse_line(raw)
        except NotAProfileLine as error:
            yield Unreadable(number, line_reason(number, error))


def _records(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """A JSON lines stream's records, with their line numbers: a leading BOM stripped,
    blank lines skipped (spec 8)."""
    for number, raw in enumerate(stream, 1):
        if number == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        if not is_blank(raw):
            yield number, raw


def record_lines(path: str, indices: Iterable[int]) -> dict[int, int]:
    """The line of ``path`` each record index stands on, records counted from 0 as
    :func:`read_jsonl` yields them (a blank line is no record): how a refusal that names
    the Nth event is told as the file's line the author can open. Read up to the last
    index asked for; an index past the file's records is left out, as is every index of a
    path that cannot be read again (standard input)."""
    wanted = set(indices)
    found: dict[int, int] = {}
    if not wanted or path == "-":
        return found
    last = max(wanted)
    try:
        with open(path, "rb") as stream:
            for record, (number, _) in enumerate(_records(stream)):
                if record in wanted:
                    found[record] = number
                if record >= last:
                    break
    except OSError:
        return {}
    return found


def column_paths(names: list[str], source: str = "the file") -> list[tuple[str, ...] | None]:
    """The field path of each column (``consent.email`` -> ``("consent", "email")``), or
    None for a column without a name (the index column pandas writes), for CSV and Parquet
    alike. A name given twice, or both as a field and as an object (``consent`` and
    ``consent.email``), would make one cell silently win: such a file is refused."""
    paths: list[tuple[str, ...] | None] = []
    # Looked up, not compared with every column before (a header of 20,000 columns took
    # minutes): the columns by path, and the first column under each shorter path.
    seen: dict[tuple[str, ...], str] = {}
    under: dict[tuple[str, ...], str] = {}
    for name in names:
        stripped = name.strip()
        if not stripped:
            paths.append(None)
            continue
        path = tuple(stripped.split("."))
        shorter = (seen[path[:end]] for end in range(1, len(path)) if path[:end] in seen)
        other_name = seen.get(path, under.get(path, next(shorter, None)))
        if other_name is not None:
            raise ProfileFileError(f"{source} has columns {other_name!r} and {name!r}, which name the "
                                   f"same field: rename one of them")
        seen[path] = name
        for end in range(1, len(path)):
            under.setdefault(path[:end], name)
        paths.append(path)
    return paths


def read_csv(stream: IO[str], source: str = "the CSV file") -> Iterator[Any]:
    """Profiles from CSV with a header row (a byte-order mark is ignored).

    ``consent.sms`` columns build nested objects; an empty cell is a missing field;
    ``true``/``false`` become booleans and numerals numbers, except in id columns; a
    column without a name (an index column) is left out.
    """
    for _, profile in csv_rows(stream, source):
        yield profile


UNMADE: dict[str, Any] = {}  # what csv_rows(made=False) gives for a profile it did not make


def csv_rows(stream: IO[str], source: str = "the CSV file", made: bool = True) -> Iterator[tuple[list[str], Any]]:
    """Each row of :func:`read_csv` that is not blank: its cells, and the profile they make
    (or :class:`Unreadable`). The DuckDB and Spark engines read a file their own readers
    cannot read alike from here (:mod:`.sql.careful_csv`); they need only the cells and
    which rows are no profile, so with ``made`` False a profile is not made (:data:`UNMADE`
    in its place): making them, each cell typed, was three quarters of that reading."""
    reader = python_csv_reader(stream)
    with csv_errors(reader, source):
        header = next(reader, None)
        if header is None:
            return
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        paths = column_paths(header, source)
        for row in reader:
            profile = _csv_profile(paths, row, reader.line_num, made)
            if profile is not None:
                yield row, profile


_FIELD_LIMIT = 1 << 30  # far past DuckDB's own (2 MB a line, its max_line_size): see .sql.sources.csv_reader


def python_csv_reader(stream: IO[str]) -> Any:
    """Python's csv reader of profiles. Its default limit on a cell (131,072 characters) is
    no rule of the format: with it the Python engine stopped a file at a long cell that
    DuckDB reads. The limit is the process's, so it is raised here, where a reader starts."""
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    return csv.reader(stream)


@contextmanager
def csv_errors(reader: Any, source: str) -> Iterator[None]:
    """A CSV file that cannot be read, in the same words for the header (read by every
    engine: ``.sql.sources.csv_header``) as for the rows."""
    try:
        yield
    except UnicodeDecodeError:
        raise ProfileFileError(f"{source} is not UTF-8 text (near line {reader.line_num + 1})") from None
    except csv.Error as error:
        raise ProfileFileError(f"{source} line {reader.line_num}: {error}") from None


def _csv_profile(paths: list[tuple[str, ...] | None], row: list[str], number: int, made: bool = True) -> Any:
    cells = [(path, cell) for path, cell in zip(paths, row, strict=False) if path is not None]
    if not any(cell.strip(CELL_SPACE) for _, cell in cells):
        return None  # a blank row is skipped, as a blank JSON line is
    if len(row) > len(paths):
        return Unreadable(number, f"line {number} has {len(row)} cells but the header has {len(paths)}")
    if not made:
        return UNMADE
    profile: dict[str, Any] = {}
    for path, cell in cells:  # a short row leaves fields missing
        if cell == "":
            continue
        _put(profile, path, cell if len(path) == 1 and path[0] in TEXT_COLUMNS else typed_cell(cell))
    return profile


def read_parquet(path: str, batch_size: int = 65_536) -> Iterator[Any]:
    """Profiles from a Parquet file, batch by batch (bounded memory).

    Values become what JSON would have given: dates and timestamps ISO text (as the
    SQL back ends cast them), decimals floats, nulls absent-equivalent None. Columns named
    ``consent.email`` nest as CSV columns do (a null cell leaves the field out).
    """
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path)
    except Exception as error:  # pyarrow's own errors name no file; say which one
        raise ProfileFileError(f"{path} is not a Parquet file ({_first_line(error)})") from None
    paths = column_paths(file.schema_arrow.names, path)
    nested = [(name, p) for name, p in zip(file.schema_arrow.names, paths, strict=True)
              if p is not None and len(p) > 1]
    for batch in file.iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            profile = {key: _plain(value) for key, value in row.items() if "." not in key and key.strip()}
            for name, field_path in nested:
                if row[name] is not None:
                    _put(profile, field_path, _plain(row[name]))
            yield profile


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    # Most cells are plain scalars: one type lookup, not five isinstance calls (this ran
    # for every cell of every row and was most of a Parquet read's time).
    if type(value) in _SCALARS:
        return value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def detect_format(path: str | Path, declared: str = "auto") -> str:
    """``jsonl``, ``csv`` or ``parquet``: as declared, else by the file's suffix."""
    if declared != "auto":
        return declared
    suffix = Path(path).suffix.lower()
    return {".parquet": "parquet", ".csv": "csv"}.get(suffix, "jsonl")


_OTHER_SEPARATORS = (";", "\t", "|")  # what spreadsheets in many locales write between cells


def file_notes(path: str | Path, declared: str = "auto") -> list[str]:
    """What every engine (and ``decide``) says about the file itself, the same words from
    each: a CSV file whose header is one column that holds another separator
    (``customer_id;annual_value``, as a spreadsheet set to a semicolon locale saves it),
    where every row is "no customer_id", which does not say why. Nothing for any other
    file (a pipe is not opened: it is read once, by the engine)."""
    if detect_format(path, declared) != "csv" or not Path(path).is_file():
        return []
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            header: list[str] = next(python_csv_reader(stream), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []  # the engine says what is wrong with the file itself
    found = [separator for separator in _OTHER_SEPARATORS if len(header) == 1 and separator in header[0]]
    if not found:
        return []
    shown = "a tab" if found[0] == "\t" else f"'{found[0]}'"
    return [f"the header of {path} is one column, {header[0][:60]!r}: its cells look separated by {shown}, "
            "and profiles are read from comma-separated files (save it with commas, or as Parquet)"]


# The engines that read a profiles file more than once (checks, samples, then the query).
_READS_AGAIN = {"duckdb": "DuckDB", "spark": "Spark"}


def check_profiles_path(path: str | Path, backend: str = "python", declared: str = "auto") -> None:
    """Refuse, in the same words for every command and engine, a profiles path that is no
    file to read: one that is not there, a folder, or a device (``/dev/null`` read as no
    customers at all, exit status 0: a mistaken path, not an empty base). A pipe
    (``<(zcat f.gz)``, a named pipe) is read by the Python engine, which reads a file once
    from start to end; the DuckDB and Spark engines read a file more than once (a pipe is
    drained by the first reading, and the query decided no one) and Parquet is read by
    seeking, so those refuse it and say what to do instead."""
    try:
        mode = Path(path).stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise ProfileFileError(f"no such profiles file: {path}") from None
    if stat.S_ISREG(mode):
        return
    if not stat.S_ISFIFO(mode):
        what = "a folder" if stat.S_ISDIR(mode) else "a device"
        raise ProfileFileError(f"{path} is not a regular file ({what}): give a profiles file")
    if backend in _READS_AGAIN:
        raise ProfileFileError(f"{path} is not a regular file (a pipe): the {_READS_AGAIN[backend]} engine reads a "
                               f"file more than once; give a file, or use --backend python, which reads it once")
    if detect_format(path, declared) == "parquet":
        raise ProfileFileError(f"{path} is not a regular file (a pipe): a Parquet file is read by seeking; "
                               f"give a file")


def open_profiles(stack: ExitStack, path: str, declared: str = "auto") -> Iterator[Any]:
    """Profiles from a file of any supported format, or ``-`` for standard input
    (JSON lines or CSV); the file is closed when ``stack`` closes. A path is checked by
    :func:`check_profiles_path` first (a pipe is read, once)."""
    if path != "-":
        check_profiles_path(path, "python", declared)
    kind = detect_format(path, declared)
    if kind == "parquet":
        return read_parquet(path)
    if kind == "csv":
        text = sys.stdin if path == "-" else stack.enter_context(open(path, encoding="utf-8-sig", newline=""))  # noqa: SIM115
        return read_csv(text, path)
    binary = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))  # noqa: SIM115
    return read_jsonl(binary)


def typed_cell(cell: str) -> Any:
    lowered = cell.strip(CELL_SPACE).lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if _INTEGER.fullmatch(cell):
        return int(cell) if len(cell) <= _MAX_INT_DIGITS else float(cell)
    if _DECIMAL.fullmatch(cell):
        return float(cell)
    return cell


def _put(profile: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = profile
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[path[-1]] = value


def dumps(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


def write_jsonl(records: Iterable[dict[str, Any]], stream: IO[bytes]) -> None:
    for record in records:
        stream.write(dumps(record))


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
