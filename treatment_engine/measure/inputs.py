"""What measurement reads: decisions (a decisions file or the decision log) and events (a
file of JSON lines or the log's events table), in one shape for every back end.

A decision's time is the log's ``created_at``; a decisions file (from ``simulate`` or
``decide``) carries only ``as_of``, so its decisions count from 00:00 UTC that day. The
champion rule is the rule that would have decided without any experiment:
``would_have.rule`` off the champion's arm, else the deciding rule (as :mod:`..arms`).
"""

from __future__ import annotations

import csv
import math
import re
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from ..errors import TreatmentError
from ..moments.events import parse_timestamp
from ..outputs import output_format
from ..profile_json import BOM
from ..profiles import read_jsonl

# The decisions' columns as every back end reads them (``seq``: input order, which breaks ties of time).
DECISION_FIELDS = ("customer_id", "plan_version", "decided_at", "rule", "arm", "experiment", "cost",
                   "champion_rule", "seq", "segment", "lifecycle_stage", "value_tier")
LOG_BATCH = 65_536  # decisions read from the log at a time
# The columns of a decisions file (CSV, Parquet) measurement reads, as every back end reads them.
FILE_COLUMNS = ("customer_id", "plan_version", "as_of", "rule", "arm", "experiment", "cost", "would_have", "error",
                "segment", "lifecycle_stage", "value_tier")


class MeasureInputError(TreatmentError):
    """Decisions or events that cannot be read (a missing file, an unknown suffix)."""


@dataclass(frozen=True, slots=True)
class DecisionInput:
    customer_id: str
    plan_version: str
    decided_at: float  # seconds since the epoch, UTC
    rule: str
    arm: str
    experiment: str | None
    cost: float
    champion_rule: str
    seq: int
    # The decision's segment x stage x tier (for --by): in decisions files, and in the log
    # since migration 0010 (decisions logged before have none: "-").
    segment: str | None = None
    lifecycle_stage: str | None = None
    value_tier: str | None = None


DAY_SHAPE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"  # a decision's as_of, as decide and simulate write it


def day_start(day: str) -> float:
    return datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC).timestamp()


def _would_have_rule(value: Any) -> str | None:
    if isinstance(value, str):  # the log's and CSV's JSON text; no JSON is no would_have, as in DuckDB
        try:
            value = orjson.loads(value) if value else None
        except orjson.JSONDecodeError:
            return None
    return value.get("rule") if isinstance(value, dict) else None


def _decision(row: dict[str, Any], seq: int, decided_at: float) -> DecisionInput:
    rule = row["rule"]
    return DecisionInput(row["customer_id"], row["plan_version"], decided_at, rule, row.get("arm") or "champion",
                         row.get("experiment") or None, float(row.get("cost") or 0.0),
                         _would_have_rule(row.get("would_have")) or rule, seq,
                         row.get("segment") or None, row.get("lifecycle_stage") or None, row.get("value_tier") or None)


def read_decision_file(path: str) -> Iterator[DecisionInput]:
    """The decided rows of a decisions file (appendix G), in file order; error rows skipped.
    A file short of a column measurement reads, or a row that cannot be read, stops it with
    a MeasureInputError naming the file and the line (the SQL back ends' refusals are
    explained by it too)."""
    kind = _existing(path, "decisions")
    rows: Iterator[tuple[str, Any]]
    if kind == "jsonl":
        rows = _jsonl_rows(path)
    elif kind == "csv":
        rows = _csv_rows(path)
    else:
        rows = _parquet_rows(path)
    for seq, (where, row) in enumerate(rows):
        if not isinstance(row, dict):
            raise MeasureInputError(f"{where}: a decision must be a JSON object")
        if row.get("error") or not row.get("rule"):
            continue
        missing = [key for key in ("customer_id", "plan_version") if row.get(key) is None]
        if missing:
            raise MeasureInputError(f"{where}: a decision has no {' or '.join(missing)}")
        for key in ("customer_id", "plan_version"):  # decide and simulate write text; a number matches no event
            if not isinstance(row[key], str):
                raise MeasureInputError(f"{where}: a decision's {key} {_shown(row[key])} is not text")
        try:
            if not re.fullmatch(DAY_SHAPE, str(row.get("as_of"))):
                raise ValueError
            decided_at = day_start(str(row.get("as_of")))
        except ValueError:
            raise MeasureInputError(f"{where}: as_of {_shown(row.get('as_of'))} is not a day (YYYY-MM-DD)") from None
        try:
            decision = _decision(row, seq, decided_at)
            if not math.isfinite(decision.cost):
                raise ValueError
        except (TypeError, ValueError):  # float() of the cost, or a cost of nan or inf
            raise MeasureInputError(f"{where}: cost {_shown(row.get('cost'))} is not a number") from None
        yield decision


def refuse_unreadable_decisions(path: str) -> None:
    """Read ``path`` through as the reference does, for its words: the MeasureInputError of
    its first row that cannot be read (file, line, what). A SQL back end that refused the
    file, or found rows it cannot measure, calls it to say where."""
    for _ in read_decision_file(path):
        pass


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _jsonl_rows(path: str) -> Iterator[tuple[str, Any]]:
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, 1):
            if number == 1 and line.startswith(BOM):
                line = line[len(BOM):]
            if line.strip():
                try:
                    yield f"{path}:{number}", orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise MeasureInputError(f"{path}:{number}: not valid JSON ({error})") from None


def _csv_rows(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as stream:
            reader = csv.DictReader(stream)
            _has_columns(path, reader.fieldnames or ())
            for row in reader:
                yield f"{path}:{reader.line_num}", {key: (value if value != "" else None) for key, value in row.items()}
    except UnicodeDecodeError:
        raise MeasureInputError(f"{path} is not UTF-8 text") from None


def _parquet_rows(path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    import pyarrow.parquet as pq

    decisions = pq.ParquetFile(path)
    _has_columns(path, decisions.schema_arrow.names)
    number = 0
    for batch in decisions.iter_batches():
        for row in batch.to_pylist():
            number += 1
            yield f"{path}: row {number}", row


def _has_columns(path: str, names: Sequence[str]) -> None:
    missing = [name for name in FILE_COLUMNS if name not in names]
    if missing:
        raise MeasureInputError(f"{path} is not a decisions file: it has no column {', '.join(missing)} "
                                "(the decisions `treatment decide` and `simulate` write have them)")


def _existing(path: str, what: str) -> str:
    if not Path(path).is_file():
        raise MeasureInputError(f"no {what} file at {path}")
    try:
        return output_format(path)
    except TreatmentError as error:
        raise MeasureInputError(str(error)) from None


def _open_log(db_url: str) -> Any:
    """The decision log at ``db_url``; a MeasureInputError when there is none (or no service extra)."""
    try:
        from ..store import DecisionLog
    except ImportError:
        raise MeasureInputError("reading a decision log needs the service extra: "
                                "pip install 'treatment-engine[service]'") from None
    try:
        return DecisionLog(db_url, create=False)
    except TreatmentError as error:  # LogNotFound: no such database, or no log in it
        raise MeasureInputError(str(error)) from None


def read_log_decisions(db_url: str) -> list[DecisionInput]:
    """Every decision in the log at ``db_url``, oldest first (ids are time-ordered UUIDv7)."""
    log = _open_log(db_url)
    try:
        return log_decisions(log.database.engine)
    finally:
        log.close()


@contextmanager
def streamed_log_decisions(db_url: str) -> Iterator[Any]:
    """:func:`log_decision_reader` over the log at ``db_url``, open while the caller reads it."""
    log = _open_log(db_url)
    try:
        yield log_decision_reader(log.database.engine)
    finally:
        log.close()


def log_decisions(engine: Any) -> list[DecisionInput]:
    """Every decision in the log behind a SQLAlchemy ``engine`` (the service's own), oldest
    first: for the Python reference, which holds them all anyway."""
    return [decision for chunk in _log_chunks(engine, LOG_BATCH) for decision in chunk]


def log_decision_reader(engine: Any, size: int | None = None) -> Any:
    """The log's decisions as an Arrow stream of :data:`DECISION_FIELDS`, oldest first, read
    from the database ``size`` rows at a time (a server-side cursor where the driver has
    one): memory holds one batch, not the log, however long the log grows."""
    import pyarrow as pa

    batches = (decisions_table(chunk).to_batches()[0] for chunk in _log_chunks(engine, size or LOG_BATCH) if chunk)
    return pa.RecordBatchReader.from_batches(decision_schema(), batches)


def _log_chunks(engine: Any, size: int) -> Iterator[list[DecisionInput]]:
    from sqlalchemy import select

    from ..store.tables import DecisionRow

    columns = (DecisionRow.customer_id, DecisionRow.plan_version, DecisionRow.created_at, DecisionRow.rule,
               DecisionRow.arm, DecisionRow.experiment, DecisionRow.cost, DecisionRow.would_have,
               DecisionRow.segment, DecisionRow.lifecycle_stage, DecisionRow.value_tier)
    seq = 0
    with engine.connect().execution_options(stream_results=True, yield_per=size) as connection:
        query = select(*columns).order_by(DecisionRow.id)  # type: ignore[call-overload]
        for rows in connection.execute(query).partitions(size):
            chunk = []
            for cid, version, created, rule, arm, experiment, cost, would_have, *cell in rows:
                moment = created if created.tzinfo is not None else created.replace(tzinfo=UTC)
                chunk.append(_decision({"customer_id": cid, "plan_version": version, "rule": rule, "arm": arm,
                                        "experiment": experiment, "cost": cost, "would_have": would_have,
                                        **dict(zip(("segment", "lifecycle_stage", "value_tier"), cell, strict=True))},
                                       seq, moment.timestamp()))
                seq += 1
            yield chunk


def decision_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(n, pa.float64() if n in ("decided_at", "cost") else pa.int64() if n == "seq" else pa.string())
                      for n in DECISION_FIELDS])


def decisions_table(decisions: list[DecisionInput]) -> Any:
    """Decisions as an Arrow table of :data:`DECISION_FIELDS`, for the SQL back ends."""
    import pyarrow as pa

    return pa.table({name: [getattr(d, name) for d in decisions] for name in DECISION_FIELDS}, schema=decision_schema())


def read_event_file(path: str) -> Iterator[Any]:
    """Raw events of a JSON lines file; a line that is not JSON comes as its reason."""
    if not Path(path).is_file():
        raise MeasureInputError(f"no events file at {path}")
    with open(path, "rb") as stream:
        yield from read_jsonl(stream)


def log_events_file(db_url: str, types: frozenset[str]) -> str:
    """The log's stored events of ``types`` copied to a temporary JSON lines file (the
    bodies as received), which every back end then reads as it reads an events file."""
    log = _open_log(db_url)
    try:
        return stored_events_file(log.database.engine, types)
    finally:
        log.close()


def stored_events_file(engine: Any, types: frozenset[str]) -> str:
    """:func:`log_events_file` over a SQLAlchemy ``engine`` (the service's own); the
    caller removes the file."""
    from sqlalchemy import select

    from ..store.tables import EventRow

    handle = tempfile.NamedTemporaryFile("wb", suffix=".jsonl", delete=False)  # noqa: SIM115
    table = EventRow.__table__.c  # type: ignore[attr-defined]
    query = select(table.body).where(table.type.in_(sorted(types))).order_by(
        table.occurred_at, table.partition_no, table.seq)
    with engine.connect() as connection, handle:
        for (body,) in connection.execute(query):
            handle.write(body.encode() + b"\n")
    return handle.name


def parse_instant(text: str) -> float | None:
    """``--as-of``: a date (its 00:00 UTC) or an ISO 8601 date-time, as events take them."""
    return parse_timestamp(text)
