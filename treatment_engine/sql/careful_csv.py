"""CSV read the careful way: every row by Python's csv module, as the Python back end reads
it (:func:`treatment_engine.profiles.csv_rows`), handed to DuckDB as text cells named as
:func:`.sources.csv_reader` names them, or as the reason the row is no profile.

DuckDB's own reader reads a CSV file only in the dialect the rule's reader has (a comma,
double quotes, no sniffing) and stops, in its strict mode, on any row it would split
otherwise: a row with more cells than the header, a quote left open or followed by text, a
line break inside quotes (which its parallel reader cannot split), mixed line ends. The
file is then read here (see :meth:`.duckdb_backend.DuckDBBackend.readings`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from typing import Any

from ..profiles import Unreadable, csv_rows
from .careful_lines import arrow_batches
from .plain_lines import no_line_matches
from .sources import CSV_PROBLEM, csv_header


def careful_batches(path: str, observe: Callable[[Any], None] | None = None,
                    objects: Collection[tuple[str, ...]] | None = None) -> Iterator[Any]:
    """Arrow batches of the columns ``c0``, ``c1``, ... (text; an empty or absent cell is
    null, as DuckDB's reader gives it) and :data:`.sources.CSV_PROBLEM`, the reason of a row that is
    no profile (its cells null). ``observe`` sees each profile read (a
    :class:`..shape_check.ShapeCheck`'s), which looks into ``objects`` (its object paths;
    None: any). A profile of this file can hold something else than an object at such a
    path only through a column named that path (a nested column makes an object there,
    and a column named a shorter path is refused beside a longer one): where no column is,
    no profile is made to be observed (see :func:`..profiles.csv_rows`)."""
    import pyarrow as pa

    columns, width = csv_header(path)
    width = max(width, 1)
    if observe is not None and objects is not None and not any(field in objects for field in columns):
        observe = None

    def rows() -> Iterator[list[str | None]]:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            for row, profile in csv_rows(stream, path, made=observe is not None):
                if isinstance(profile, Unreadable):
                    yield [None] * width + [profile.reason]
                    continue
                if observe is not None:
                    observe(profile)
                yield [cell or None for cell in row[:width]] + [None] * (width - len(row)) + [None]

    yield from arrow_batches(rows(), pa.schema([*((f"c{i}", pa.string()) for i in range(width)),
                                                (CSV_PROBLEM, pa.string())]))


def plain_csv(path: str, width: int, connection: Any) -> bool:
    """False when a line of ``path`` may hold a row that DuckDB's strict reader reads
    otherwise than Python, without a word: a comma at the line's end where the line holds
    as many commas as the header has columns (it takes trailing commas past the header for
    no cells, Python counts a cell too many), or a space or tab beside a double quote (it
    trims the spaces around a quoted cell, Python keeps them, and a quote after a space is
    text to it). Commas and quotes inside quoted cells are counted too: such a line is read
    the careful way, exactly, only more slowly. Lines as :func:`.plain_lines.file_lines`
    splits them; a file it cannot split is not plain."""
    commas = "strlen(line) - strlen(replace(line, ',', ''))"
    # CASE, not AND: in an aggregate's FILTER, DuckDB works out both sides of an AND on
    # every line, and counting the commas makes a string a line (a million lines: 0.54
    # against 0.15 s of CPU, about what reading the lines costs).
    suspicious = (f"CASE WHEN suffix(line, ',') OR suffix(line, ',' || chr(13)) THEN {commas} >= {int(width)} "
                  "ELSE false END "
                  "OR CASE WHEN contains(line, '\"') THEN regexp_matches(line, '[ \t]\"|\"[ \t]') ELSE false END")
    return no_line_matches(path, suspicious, connection)
