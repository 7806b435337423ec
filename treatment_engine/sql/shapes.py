"""Columns that cannot hold the objects a plan reads into (see :mod:`..shape_check`).

In CSV and Parquet the shape is the file's: a ``consent`` column of text (or of numbers)
where the plan reads ``consent.email`` makes every row read that field as missing. The
back ends ask here once per file and add the rows that hold a value in such a column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlglot import exp

from ..shape_check import ShapeCheck, object_paths
from .sources import _struct_field_type, csv_columns, csv_filled_cell, csv_reader


def count_wrong_shapes(check: ShapeCheck, path: str, kind: str, paths: Sequence[tuple[str, ...]],
                       connection: Any = None) -> None:
    """Add to ``check`` the rows of a CSV or Parquet file whose object paths hold a value
    (on ``connection``, else a DuckDB connection of its own)."""
    import duckdb

    if connection is None:
        connection = duckdb.connect()
        connection.execute("SET enable_progress_bar = false")
    for prefix in object_paths(paths):
        if kind == "csv":
            column = csv_columns(path).get(prefix)
            if column is None:
                continue
            filled, value_kind = (part.sql("duckdb") for part in csv_filled_cell(exp.column(column, quoted=True)))
            reader = csv_reader(path).sql("duckdb")
            count = _count(connection, f"SELECT count(*) FILTER (WHERE {filled}) FROM {reader}")
            if count:  # the first such cell's kind, as Python's reading meets it first
                first = connection.execute(f"SELECT {value_kind} FROM {reader} WHERE {filled} LIMIT 1").fetchall()
                check.add(prefix, count, first[0][0])
        elif kind == "parquet":
            found = _parquet_leaf(connection, path, prefix)
            if found is not None:
                expression, sql_type = found
                count = _count(connection, f"SELECT count({expression}) FROM read_parquet(?)", path)
                check.add(prefix, count, "text" if sql_type.startswith("VARCHAR") else "a number or another value")


def _parquet_leaf(connection: Any, path: str, prefix: tuple[str, ...]) -> tuple[str, str] | None:
    """The column expression at ``prefix`` and its type, when that type is not a STRUCT."""
    types = {row[0]: row[1] for row in connection.execute("DESCRIBE SELECT * FROM read_parquet(?)", [path]).fetchall()}
    for name, sql_type in types.items():
        column_path = tuple(name.split("."))
        if prefix[:len(column_path)] != column_path:
            continue
        expression, kind = _quoted(name), sql_type
        for part in prefix[len(column_path):]:
            inner = _struct_field_type(kind, part)
            if inner is None:
                return None
            expression, kind = f"{expression}.{_quoted(part)}", inner
        return None if kind.upper().startswith("STRUCT(") else (expression, kind.upper())
    return None


def _count(connection: Any, query: str, *parameters: str) -> int:
    # fetchall, not fetchone: the connection may be lent (the caller's, for its decision
    # query next), and a result not fetched to its end keeps it busy for register().
    rows = connection.execute(query, list(parameters)).fetchall()
    return int(rows[0][0]) if rows else 0


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
