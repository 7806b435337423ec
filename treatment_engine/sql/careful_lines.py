"""JSON lines read the careful way: every line in Python by the reader's own rule
(:mod:`treatment_engine.profile_json`), handed to a SQL engine as canonical JSON that its
JSON functions read back exactly, or as the reason the line is no profile. The DuckDB back
end streams them as Arrow batches (:func:`careful_batches`), Spark maps
:func:`canonical_line` over the lines (:mod:`.spark_lines`). See :mod:`.json_lines` for
when a file is read this way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson

from ..errors import ProfileError
from ..expressions.values import to_float
from ..profile_json import BLANK, BOM, NotAProfileLine, line_reason, parse_line
from ..semantics import check_profile


def careful_batches(path: str, observe: Callable[[Any], None] | None = None) -> Iterator[Any]:
    """Arrow batches (``n``, ``doc``, ``problem``): each non-blank line's number, its
    canonical JSON text, or why it is not a profile (the Python back end's words).
    ``observe`` sees each profile read (a :class:`..shape_check.ShapeCheck`'s)."""
    import pyarrow as pa

    def rows() -> Iterator[tuple[int, str | None, str | None]]:
        with open(path, "rb") as stream:
            for number, raw in enumerate(stream, 1):
                if number == 1 and raw.startswith(BOM):
                    raw = raw[len(BOM):]
                if raw.strip(BLANK):
                    yield number, *canonical_line(number, raw, observe)

    yield from arrow_batches(rows(), pa.schema([("n", pa.int64()), ("doc", pa.string()), ("problem", pa.string())]))


BATCH = 65_536  # rows an Arrow batch of the careful readings holds


def arrow_batches(rows: Iterable[Sequence[Any]], schema: Any) -> Iterator[Any]:
    """``rows`` (one value per field of ``schema``) as Arrow record batches of BATCH rows,
    and a last one, empty where nothing is left: the reader DuckDB is handed takes its
    schema from the first batch, so there is always one."""
    import pyarrow as pa

    def batch(columns: list[list[Any]]) -> Any:
        return pa.RecordBatch.from_arrays([pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)],
                                          schema=schema)

    columns: list[list[Any]] = [[] for _ in schema]
    for row in rows:
        for column, value in zip(columns, row, strict=True):
            column.append(value)
        if len(columns[0]) >= BATCH:
            yield batch(columns)
            columns = [[] for _ in schema]
    yield batch(columns)


def canonical_line(number: int, raw: bytes,
                   observe: Callable[[Any], None] | None = None) -> tuple[str | None, str | None]:
    """One non-blank line as (canonical JSON, None) or (None, why it is no profile)."""
    try:
        value = parse_line(raw)
    except NotAProfileLine as error:
        return None, line_reason(number, error)
    if observe is not None:
        observe(value)
    try:
        check_profile(value)
    except ProfileError as error:
        if type(value) is not dict:
            return None, error.message
    value = _finite(value)
    try:
        return orjson.dumps(value).decode(), None
    except TypeError:  # integers wider than 64 bits, which DuckDB reads as doubles too
        return json.dumps(value, ensure_ascii=False), None


_HUGE = 10**400  # what an infinite number is written as: DuckDB reads it back as infinity


def _finite(value: Any) -> Any:
    """``value`` (freshly parsed, so changed in place) with every number the way the SQL
    back ends read it back exactly: an integer wider than 64 bits as the double it compares
    as (Spark's parser refuses numbers of over 1,000 digits), and an infinite one (1e400, a
    5,000-digit integer) as 10**400, which both read as that infinity (orjson would write
    null, json Infinity). Iterative: values nest up to 512 levels."""
    if not isinstance(value, (dict, list)):
        return _plain_number(value)
    pending = [value]
    while pending:
        node = pending.pop()
        keys = node.keys() if type(node) is dict else range(len(node))
        for key in keys:
            item = node[key]
            if type(item) is dict or type(item) is list:
                pending.append(item)
            elif type(item) is int or type(item) is float:
                node[key] = _plain_number(item)
    return value


def _plain_number(value: Any) -> Any:
    if type(value) is int and not -(2**63) <= value < 2**64:
        value = to_float(value)
    if type(value) is float and value in (math.inf, -math.inf):
        return _HUGE if value > 0 else -_HUGE
    return value
