"""Reading profiles from JSON lines and CSV, and writing decisions as JSON lines.

A line that cannot be read becomes an :class:`Unreadable` marker rather than an
exception, so one bad line never stops a batch (spec section 5).
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

# Columns that name things: kept as text even when they look like numbers.
TEXT_COLUMNS = frozenset({"customer_id", "segment", "lifecycle_stage", "value_tier"})
_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")


@dataclass(frozen=True)
class Unreadable:
    """A line that is not a profile at all (bad JSON, say); decided as an error."""

    line_number: int
    reason: str


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json_line(text: str | bytes) -> Any:
    """One JSON value. orjson first (fast); the standard library for what orjson refuses
    but JSON allows (integers wider than 64 bits). NaN and Infinity are not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text, parse_constant=_reject_constant)


def read_jsonl(stream: IO[bytes]) -> Iterator[Any]:
    """Profiles from JSON lines; blank lines are skipped (spec 8)."""
    for number, raw in enumerate(stream, 1):
        if not raw.strip():
            continue
        try:
            yield parse_json_line(raw)
        except (ValueError, RecursionError) as error:
            yield Unreadable(number, f"line {number} is not valid JSON: {_first_line(error)}")


def read_csv(stream: IO[str]) -> Iterator[Any]:
    """Profiles from CSV with a header row.

    ``consent.sms`` columns build nested objects; an empty cell is a missing field;
    ``true``/``false`` become booleans and numerals numbers, except in id columns.
    """
    reader = csv.reader(stream)
    header = next(reader, None)
    if header is None:
        return
    paths = [tuple(name.strip().split(".")) for name in header]
    for number, row in enumerate(reader, 2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) > len(paths):
            yield Unreadable(number, f"line {number} has {len(row)} cells but the header has {len(paths)}")
            continue
        profile: dict[str, Any] = {}
        for path, cell in zip(paths, row, strict=False):  # a short row leaves fields missing
            if cell == "":
                continue
            value: Any = cell if path[-1] in TEXT_COLUMNS and len(path) == 1 else typed_cell(cell)
            _put(profile, path, value)
        yield profile


def read_parquet(path: str, batch_size: int = 65_536) -> Iterator[Any]:
    """Profiles from a Parquet file, batch by batch (bounded memory).

    Values become what JSON would have given: dates and timestamps ISO text (as the
    SQL engines cast them), decimals floats, nulls absent-equivalent None.
    """
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(path).iter_batches(batch_size=batch_size):
        for row in batch.to_pylist():
            yield {key: _plain(value) for key, value in row.items()}


def _plain(value: Any) -> Any:
    import datetime
    import decimal

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


def open_profiles(stack: ExitStack, path: str, declared: str = "auto") -> Iterator[Any]:
    """Profiles from a file of any supported format, or ``-`` for standard input
    (JSON lines or CSV); the file is closed when ``stack`` closes."""
    kind = detect_format(path, declared)
    if kind == "parquet":
        return read_parquet(path)
    if kind == "csv":
        text = sys.stdin if path == "-" else stack.enter_context(open(path, encoding="utf-8", newline=""))  # noqa: SIM115
        return read_csv(text)
    binary = sys.stdin.buffer if path == "-" else stack.enter_context(open(path, "rb"))  # noqa: SIM115
    return read_jsonl(binary)


def typed_cell(cell: str) -> Any:
    lowered = cell.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered == "null":
        return None
    if _INTEGER.fullmatch(cell):
        return int(cell)
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
