"""Decide a whole file of profiles inside DuckDB, streaming, with bounded memory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from ..compile import CompiledPlan
from ..contacts import ContactState
from ..profiles import detect_format
from . import limits as sql_limits
from .compiler import OUTPUT_COLUMNS, decision_query, required_fields
from .sources import build_source


@dataclass(frozen=True)
class Settings:
    memory_limit: str = "1GB"
    threads: int | None = None
    temp_directory: str | None = None


def connect(settings: Settings = Settings()) -> Any:
    import duckdb

    connection = duckdb.connect(":memory:")
    connection.execute(f"SET memory_limit = '{settings.memory_limit}'")
    connection.execute("SET preserve_insertion_order = true")  # decisions in input order
    if settings.threads:
        connection.execute(f"SET threads = {int(settings.threads)}")
    if settings.temp_directory:
        connection.execute("SET temp_directory = ?", [settings.temp_directory])
    return connection


class DuckDBEngine:
    """The SQL back end: the same compiled plan, run as one DuckDB query per file."""

    name = "duckdb"

    def __init__(self, plan: CompiledPlan, settings: Settings = Settings(),
                 limits: Mapping[str, ContactState] | None = None) -> None:
        """``limits``: what each customer's history rules out (see :mod:`..contacts`),
        for a plan with contact caps or a delight cooldown; None means no history."""
        self.plan = plan
        self.settings = settings
        self.limits = limits
        self.limits_relation = sql_limits.relation(plan) if limits is not None and plan.contact_rules else None

    def sql(self, path: str | Path, as_of: date, fmt: str = "auto", connection: Any = None,
            consent_columns: bool = False) -> str:
        """The decision query for one profiles file, as DuckDB SQL text."""
        own = connection or connect(self.settings)
        source = build_source(own, str(path), required_fields(self.plan), detect_format(path, fmt))
        if self.limits_relation is not None:
            own.register(sql_limits.TABLE, sql_limits.arrow_table(self.plan, self.limits or {}))
        query = decision_query(self.plan, source.fields, source.relation, as_of,
                               invalid_column=source.invalid_column, consent_columns=consent_columns,
                               limits=self.limits_relation)
        return query.sql.sql("duckdb")

    def records(self, path: str | Path, as_of: date, fmt: str = "auto", batch: int = 10_000) -> Iterator[dict[str, Any]]:
        """Decision records in input order, as ``treatment decide`` writes them."""
        connection = connect(self.settings)
        cursor = connection.execute(self.sql(path, as_of, fmt, connection))
        version, day = self.plan.version, as_of.isoformat()
        while rows := cursor.fetchmany(batch):
            for row in rows:
                values = dict(zip(OUTPUT_COLUMNS, row, strict=True))
                if values["error"] is not None:
                    yield {"customer_id": values["customer_id"], "error": values["error"]}
                    continue
                del values["error"], values["channel"]
                values["plan_version"], values["as_of"] = version, day
                yield values

    def write(self, path: str | Path, as_of: date, output: str | Path, fmt: str = "auto", connection: Any = None) -> None:
        """COPY the decisions to Parquet, CSV or JSON lines (by the output's suffix)."""
        own = connection or connect(self.settings)
        query = self.sql(path, as_of, fmt, own)
        suffix = Path(output).suffix.lower()
        options = {".parquet": "FORMAT PARQUET", ".csv": "FORMAT CSV, HEADER",
                   ".jsonl": "FORMAT JSON", ".json": "FORMAT JSON"}.get(suffix, "FORMAT PARQUET")
        own.execute(f"COPY ({query}) TO '{_quote(str(output))}' ({options})")


def _quote(text: str) -> str:
    return text.replace("'", "''")
