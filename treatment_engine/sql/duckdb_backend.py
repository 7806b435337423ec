"""Decide a whole file of profiles inside DuckDB, streaming, with bounded memory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from .. import outputs
from ..compile import CompiledPlan, CompiledRule
from ..contacts import ContactState
from ..profiles import ProfileFileError, check_profiles_path, detect_format
from ..shape_check import ShapeCheck
from . import careful_csv, careful_lines, json_lines, plain_lines
from . import limits as sql_limits
from .compiler import decision_sql, required_fields
from .sources import CSV_ROWS_VIEW, build_source, csv_header

_DECIDED_ONLY = ("segment", "lifecycle_stage", "value_tier", "treatment", "rule", "actions", "channels")
T = TypeVar("T")


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
    # DuckDB prints its own bar on standard output past two seconds, even into a pipe
    # (decide writes JSON lines there); simulate reads query_progress() for its own bar.
    connection.execute("SET enable_progress_bar_print = false")
    # The limits table is joined to the profiles; DuckDB would make the smaller side the
    # one it probes with, and then rows come out in the limits' order (found with read_json).
    connection.execute("SET disabled_optimizers = 'build_side_probe_side'")
    if settings.threads:
        connection.execute(f"SET threads = {int(settings.threads)}")
    if settings.temp_directory:
        connection.execute("SET temp_directory = ?", [settings.temp_directory])
    return connection


class DuckDBBackend:
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
        self.shape = ShapeCheck(required_fields(plan))  # what the last run found (see ..shape_check)
        # The rules by the position the last query's __rule holds (experiments append theirs).
        self.rules: tuple[CompiledRule, ...] = (*plan.rules, plan.default)
        # What the careful reading's Python stream raised (a CSV file that is not UTF-8 past
        # its first batch, say): DuckDB reports it wrapped in its own error and traceback.
        self.stream_failure: Exception | None = None

    def sql(self, path: str | Path, as_of: date, fmt: str = "auto", connection: Any = None,
            summary: bool = False, careful: bool = False, typed: bool = False) -> str:
        """The decision query for one profiles file, as DuckDB SQL text (with ``summary``,
        what a summary groups by: see :func:`.decision_query`). ``careful`` reads
        JSON lines line by line, or CSV row by row, in Python (:mod:`.careful_lines`,
        :mod:`.careful_csv`); it registers them as a stream on ``connection``, so such a
        query runs once. ``typed`` reads a
        field of one kind as one component (:func:`.sources.build_source`)."""
        own = connection or connect(self.settings)
        kind = detect_format(path, fmt)
        if kind in ("jsonl", "csv") and careful:
            import pyarrow as pa
            # An Arrow stream carries no batch order DuckDB could restore after a join:
            # one thread keeps the rows in line order (Python makes them one at a time anyway).
            own.execute("SET threads = 1")
            self.shape = ShapeCheck(required_fields(self.plan))  # counted afresh: this reading sees every line
            read, view = ((careful_lines.careful_batches, json_lines.LINES_VIEW) if kind == "jsonl"
                          else (partial(careful_csv.careful_batches, objects=self.shape.objects), CSV_ROWS_VIEW))
            batches = read(str(path), self.shape.observe)
            first = next(batches)
            own.register(view, pa.RecordBatchReader.from_batches(first.schema, self._chain(first, batches)))
        source = build_source(own, str(path), required_fields(self.plan), kind, careful, typed)
        if self.limits_relation is not None:
            own.register(sql_limits.TABLE, sql_limits.arrow_table(self.plan, self.limits or {}))
        text, self.rules = decision_sql(self.plan, source.fields, source.relation, as_of,
                                        invalid_column=source.invalid_column, summary=summary,
                                        limits=self.limits_relation)
        return text

    def _chain(self, first: Any, rest: Iterator[Any]) -> Iterator[Any]:
        yield first
        try:
            yield from rest
        except Exception as failure:
            self.stream_failure = failure
            raise

    def _unwrapped(self, error: Exception) -> Exception:
        """``error``, or what the careful reading's stream raised that DuckDB wrapped in it:
        the words the Python back end gives the file, not a traceback."""
        return self.stream_failure if self.stream_failure is not None else error

    def shaped_sql(self, query: str, as_of: date) -> str:
        """The decisions as every output writes them (:mod:`..outputs`): an invalid row has
        no decision fields, a decided one its plan version and day, cost in cents."""
        def decided(expression: str, name: str) -> str:
            return f"CASE WHEN error IS NULL THEN {expression} END AS {name}"
        would_have = ("struct_pack(rule := would_have_rule, treatment := would_have_treatment, "
                      "actions := would_have_actions, channels := would_have_channels, "
                      "cost := floor(would_have_cost * 100 + 0.5) / 100)")
        columns = ["customer_id", *(decided(c, c) for c in _DECIDED_ONLY),
                   decided("floor(cost * 100 + 0.5) / 100", "cost"),
                   decided(_literal(self.plan.version), "plan_version"),
                   decided(_literal(as_of.isoformat()), "as_of"),
                   decided("arm", "arm"), decided("experiment", "experiment"),
                   decided("CAST(bucket AS BIGINT)", "bucket"),
                   f"CASE WHEN error IS NULL AND would_have_rule IS NOT NULL THEN {would_have} END AS would_have",
                   "error"]
        return f"SELECT {', '.join(columns)} FROM ({query})"

    def readings(self, path: str | Path, fmt: str = "auto", connection: Any = None) -> tuple[str, ...]:
        """The ways to read a file, in the order tried: ``typed`` (a field of one kind as
        one component), ``plain`` (four components per field), ``careful`` (JSON lines
        line by line, CSV row by row, in Python: see :mod:`.careful_lines`,
        :mod:`.careful_csv`). A reading refused by the file hands over to the next."""
        if detect_format(path, fmt) == "parquet":
            return ("plain",)
        check = self._plain_check(path, fmt)
        plain = check is not None and check(connection or connect(self.settings))
        return ("typed", "plain", "careful") if plain else ("careful",)

    def _plain_check(self, path: str | Path, fmt: str) -> Callable[[Any], bool] | None:
        """The scan that tells whether DuckDB's own reader may read a CSV or JSON lines file
        (:func:`.careful_csv.plain_csv`, :func:`.plain_lines.plain_file`), to run on a
        connection (the JSON lines scan of a file of many lines needs none); None where the
        careful reading is the only one (JSON lines read both as a value and as an object)
        or none is needed (Parquet)."""
        kind = detect_format(path, fmt)
        if kind == "csv":
            return lambda connection: careful_csv.plain_csv(str(path), csv_header(str(path))[1], connection)
        if kind == "jsonl" and json_lines.fast_possible(required_fields(self.plan)):
            return lambda connection: plain_lines.plain_file(str(path), connection)
        return None

    def run(self, path: str | Path, as_of: date, fmt: str, action: Callable[[Any, str], T],
            summary: bool = False) -> T:
        """``action(connection, sql)`` on the first reading of :meth:`readings` that the
        file does not refuse (see :mod:`.json_lines`)."""
        import duckdb

        first, readings, query, scanned = self._start(path, as_of, fmt, summary)
        index = 0
        while True:
            connection, first = first if first is not None else connect(self.settings), None
            try:
                query = query or self._reading_sql(path, as_of, fmt, connection, summary, readings[index])
                result = action(connection, query)
            except duckdb.Error as error:
                index, query = next_reading(self._unwrapped(error), readings, index,
                                            f"cannot read {path} as {detect_format(path, fmt)}"), None
                continue
            if readings[index] == "careful" or scanned is None or scanned.unchanged():
                return result
            index, query = readings.index("careful"), None  # read past its scan: again, line by line

    def _start(self, path: str | Path, as_of: date, fmt: str,
               summary: bool) -> tuple[Any, tuple[str, ...], str | None, Scanned | None]:
        """What every run and every record stream starts with: the path refused if it is no
        file this engine can read (a pipe cannot be read twice), the shapes counted and the
        first reading chosen, on one connection (opening one costs 0.03-0.1 s), which is
        returned for that reading. The readings to try, the first one's query when it is
        built already, and the file as the plain check found it (:meth:`_first_reading`)."""
        check_profiles_path(path, "duckdb", fmt)
        self.stream_failure = None  # a failure of an earlier run's careful reading is not this one's
        first = connect(self.settings)
        self._count_shapes(path, detect_format(path, fmt), first)
        return (first, *self._first_reading(path, as_of, fmt, first, summary))

    def _reading_sql(self, path: str | Path, as_of: date, fmt: str, connection: Any, summary: bool,
                     reading: str) -> str:
        return self.sql(path, as_of, fmt, connection, summary, careful=reading == "careful", typed=reading == "typed")

    def _first_reading(self, path: str | Path, as_of: date, fmt: str, connection: Any,
                       summary: bool) -> tuple[tuple[str, ...], str | None, Scanned | None]:
        """:meth:`readings`, the first reading's query when it is built already, and the file
        as the plain check found it (None where there is no check). For CSV and JSON lines
        the first reading is the typed one unless the plain check (:meth:`_plain_check`)
        finds the file is not plain: its scan runs in DuckDB (or Arrow, for a JSON lines file
        of many lines), which lets go of Python's lock, so the typed query is built meanwhile
        on the other core (at 200,000 customers the JSON lines scan took about 0.1 s and building a
        500-rule plan's query 0.14 s, one after the other), and dropped in the rare file
        that is not plain."""
        check = self._plain_check(path, fmt)
        if check is None:
            return self.readings(path, fmt, connection), None, None
        scanned = Scanned.of(path)  # before the scan: what is written during it counts as a change
        scanner = connection.cursor()  # a connection is not for two threads at once; its cursor is another
        scanner.execute("SET enable_progress_bar_print = false")
        try:
            plain, query = _beside(lambda: check(scanner), lambda: self.sql(path, as_of, fmt, connection, summary,
                                                                             typed=True))
        finally:
            scanner.close()
        return (("typed", "plain", "careful"), query, scanned) if plain else (("careful",), None, None)

    def _count_shapes(self, path: str | Path, kind: str, connection: Any = None) -> None:
        self.shape = ShapeCheck(required_fields(self.plan))
        if kind in ("csv", "parquet"):
            import duckdb

            from .shapes import count_wrong_shapes
            try:
                count_wrong_shapes(self.shape, str(path), kind, required_fields(self.plan), connection)
            except duckdb.Error:  # a CSV file DuckDB cannot read alike: the careful reading counts
                self.shape = ShapeCheck(required_fields(self.plan))

    def records(self, path: str | Path, as_of: date, fmt: str = "auto", batch: int = 10_000) -> Iterator[dict[str, Any]]:
        """Decision records in input order, as ``treatment decide`` writes them."""
        import duckdb

        done = 0
        first, readings, query, scanned = self._start(path, as_of, fmt, summary=False)
        index = 0
        while True:
            connection, first = first if first is not None else connect(self.settings), None
            watched = None if readings[index] == "careful" else scanned
            try:
                query = query or self._reading_sql(path, as_of, fmt, connection, False, readings[index])
                for record in self._fetch(connection, query, as_of, batch, skip=done, watched=watched):
                    done += 1
                    yield record
                return
            except duckdb.Error as error:  # the next reading starts again where this one stopped
                index, query = next_reading(self._unwrapped(error), readings, index, f"cannot read {path}",
                                            careful_raises=False), None
            except _ReadPastScan:  # so does the careful one, for a file that changed since its scan
                index, query = readings.index("careful"), None

    def _fetch(self, connection: Any, query: str, as_of: date, batch: int, skip: int,
               watched: Scanned | None = None) -> Iterator[dict[str, Any]]:
        """The query's records from row ``skip`` on. ``watched``: the file as its plain check
        found it; a batch read after the file changed is not given out (:class:`Scanned`)."""
        cursor = connection.execute(self.shaped_sql(query, as_of))
        names = [d[0] for d in cursor.description]
        while rows := cursor.fetchmany(batch):
            if watched is not None and not watched.unchanged():
                raise _ReadPastScan
            for row in rows:
                if skip:
                    skip -= 1
                    continue
                values = dict(zip(names, row, strict=True))
                if values["error"] is not None:
                    yield {"customer_id": values["customer_id"], "error": values["error"]}
                    continue
                del values["error"]
                for name in outputs.ONLY_WHEN_SET:
                    if values[name] is None:
                        del values[name]
                yield values

    def write(self, path: str | Path, as_of: date, output: str | Path, fmt: str = "auto") -> None:
        """The decisions of ``path`` in ``output``'s format (by its suffix, :mod:`..outputs`)."""
        kind = outputs.prepare(output)
        meta = outputs.metadata(self.plan.version, as_of.isoformat(), self.name)
        if kind == "parquet":
            self.run(path, as_of, fmt, lambda c, q: copy_parquet(c, self.shaped_sql(q, as_of), output, meta))
            return
        with tempfile.TemporaryDirectory(prefix="treatment-") as scratch:
            staged = Path(scratch) / "decisions.parquet"
            self.run(path, as_of, fmt, lambda c, q: copy_parquet(c, self.shaped_sql(q, as_of), staged, meta))
            outputs.convert(staged, output, meta)


def next_reading(error: Exception, readings: tuple[str, ...], index: int, what: str,
                 careful_raises: bool = True) -> int:
    """The reading to try after ``readings[index]`` failed with ``error``, or raise: a
    typed reading refused (:data:`.json_lines.TYPED_REFUSED`) hands over to the next; any
    other error of a DuckDB reader in JSON lines or CSV, to the careful one; else the file cannot
    be read (``what`` says so; an error of the careful reading is raised as it is when
    ``careful_raises``)."""
    if isinstance(error, ProfileFileError):  # the careful reading's own words for the file (see _unwrapped)
        raise error
    if readings[index] == "typed" and json_lines.TYPED_REFUSED in str(error) and index + 1 < len(readings):
        return index + 1
    if "careful" in readings[index + 1:]:
        return readings.index("careful")
    if readings[index] == "careful" and careful_raises:
        raise error
    raise ProfileFileError(f"{what}: {_first_line(error)}") from None


@dataclass(frozen=True)
class Scanned:
    """A file's size and time of last change when its plain check began. DuckDB's reader
    reads the file again after the check, so it is trusted only with what the check saw:
    a file still being written (an export appending lines) may gain a line the check never
    saw, which DuckDB would read by its own leniency (a trailing comma, say). A reading
    after which the file is not as it was is done again, line by line, by the rule; a
    stream of records gives out no batch read after the change."""

    path: str | Path
    size: int
    changed_ns: int

    @classmethod
    def of(cls, path: str | Path) -> Scanned:
        status = os.stat(path)
        return cls(path, status.st_size, status.st_mtime_ns)

    def unchanged(self) -> bool:
        return Scanned.of(self.path) == self


class _ReadPastScan(Exception):
    """A batch of records was read after the file changed since its scan (:class:`Scanned`)."""


def _beside(check: Callable[[], bool], build: Callable[[], str]) -> tuple[bool, str | None]:
    """``check()`` in a thread while ``build()`` runs in this one. A build that fails gives
    None: the caller builds again where it handles the error (or never, when ``check``
    sends the file another way)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        checked = pool.submit(check)
        try:
            built: str | None = build()
        except Exception:
            built = None
        return checked.result(), built


def copy_parquet(connection: Any, query: str, target: str | Path, meta: Mapping[str, str]) -> None:
    pairs = ", ".join(f"{_literal(k)}: {_literal(v)}" for k, v in meta.items())
    connection.execute(f"COPY ({query}) TO {_literal(str(target))} (FORMAT PARQUET, KV_METADATA {{{pairs}}})")




def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
