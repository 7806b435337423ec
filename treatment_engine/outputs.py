"""Decision files: one row shape in every format and from every engine.

The suffix names the format: ``.jsonl`` / ``.ndjson`` (JSON lines), ``.csv`` or
``.parquet``; anything else is refused before any work is done. Parent folders are
created. The row shape (docs/plan-format.md, Appendix G):

- JSON lines: a decided row is the decision record (``customer_id`` ... ``cost``,
  ``plan_version``, ``as_of``, ``arm``, and in an experiment ``experiment``, ``bucket``
  and off its champion ``would_have``); an invalid row is ``{"customer_id", "error"}`` only.
- CSV and Parquet: the columns :data:`DECISION_COLUMNS`; an invalid row leaves every
  decision column empty and fills ``error``; a decided row leaves ``error`` empty. CSV
  writes ``actions``, ``channels`` and ``would_have`` as JSON (``["email","sms"]``); Parquet
  keeps lists and a struct, and carries the plan version, ``as_of`` and back end as file metadata.
- ``cost`` is rounded to cents everywhere (:func:`treatment_engine.decision.cents`).

The Python back end writes rows as it decides them; the SQL back ends write a Parquet file of
the same columns and :func:`convert` turns it into the format asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import orjson

from .errors import TreatmentError

DECISION_COLUMNS = ("customer_id", "segment", "lifecycle_stage", "value_tier", "treatment", "rule",
                    "actions", "channels", "cost", "plan_version", "as_of", "arm", "experiment", "bucket",
                    "would_have", "error")
# In a decision record these appear only when set (appendix H): outside an experiment
# there is no experiment or bucket, and on the champion's arm nothing it would have given.
ONLY_WHEN_SET = ("experiment", "bucket", "would_have")
_LISTS = ("actions", "channels")
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}
_BATCH = 65_536


class OutputError(TreatmentError):
    """An output file the engine will not write (an unknown suffix, say)."""


def output_format(path: str | Path) -> str:
    """``jsonl``, ``csv`` or ``parquet`` by the file's suffix; OutputError for any other."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        named = f"suffix {suffix!r}" if suffix else "no suffix"
        raise OutputError(f"{path} has {named}: name the file .jsonl (JSON lines), .csv or .parquet")
    return SUFFIXES[suffix]


def with_parent(path: str | Path) -> Path:
    """``path``, after creating the folders it lies in: every file a command writes (reports,
    events, evidence, samples) may be named in a folder that does not exist yet."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def prepare(path: str | Path) -> str:
    """Check the suffix and create the parent folders; the format to write."""
    kind = output_format(path)
    target = Path(path)
    if target.is_dir():
        raise OutputError(f"{path} is a folder: name a file to write the decisions to")
    with_parent(target)
    return kind


def schema(lists_as_text: bool = False) -> Any:
    import pyarrow as pa

    text = pa.string()
    listed = text if lists_as_text else pa.list_(text)
    would_have = text if lists_as_text else pa.struct([("rule", text), ("treatment", text), ("actions", listed),
                                                       ("channels", listed), ("cost", pa.float64())])
    kinds = {"cost": pa.float64(), "bucket": pa.int64(), "would_have": would_have}
    return pa.schema([(name, kinds.get(name, listed if name in _LISTS else text)) for name in DECISION_COLUMNS])


def metadata(plan_version: str, as_of: str, backend: str) -> dict[str, str]:
    """What a Parquet decisions file says about itself (key-value file metadata)."""
    return {"treatment.plan_version": plan_version, "treatment.as_of": as_of, "treatment.backend": backend}


class DecisionWriter:
    """Writes decision records (``to_record()`` dicts) to a file in its suffix's format."""

    def __init__(self, path: str | Path, meta: Mapping[str, str]) -> None:
        self.kind = prepare(path)
        self.path = str(path)
        self.meta = dict(meta)
        self.rows: list[dict[str, Any]] = []
        self.stream: IO[bytes] | None = open(path, "wb") if self.kind == "jsonl" else None  # noqa: SIM115
        self.sink: Any = None

    def __enter__(self) -> DecisionWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def write(self, record: dict[str, Any]) -> None:
        if self.stream is not None:
            self.stream.write(orjson.dumps(record) + b"\n")
            return
        self.rows.append(record)
        if len(self.rows) >= _BATCH:
            self._flush()

    def write_batch(self, batch: Any) -> None:
        """An Arrow batch of :data:`DECISION_COLUMNS` (lists as lists), as a SQL engine wrote it."""
        if self.stream is not None:
            for row in batch.to_pylist():
                self.stream.write(orjson.dumps(_json_row(row)) + b"\n")
            return
        self._write_arrow(batch)

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
            return
        self._flush()
        if self.sink is None:  # no rows: still a file with the header / schema
            import pyarrow as pa
            self._write_arrow(pa.RecordBatch.from_pylist([], schema=schema()))
        self.sink.close()

    def _flush(self) -> None:
        if not self.rows:
            return
        import pyarrow as pa

        rows = [{name: record.get(name) for name in DECISION_COLUMNS} for record in self.rows]
        self.rows = []
        self._write_arrow(pa.RecordBatch.from_pylist(rows, schema=schema()))

    def _write_arrow(self, batch: Any) -> None:
        if self.kind == "parquet":
            if self.sink is None:
                import pyarrow.parquet as pq
                self.sink = pq.ParquetWriter(self.path, schema().with_metadata(self.meta))
            self.sink.write_batch(batch.cast(schema()) if batch.schema != schema() else batch)
            return
        import pyarrow.csv as pcsv

        flat = _lists_as_json(batch)
        if self.sink is None:
            self.sink = pcsv.CSVWriter(self.path, schema(lists_as_text=True))
        self.sink.write_batch(flat)


def _lists_as_json(batch: Any) -> Any:
    import pyarrow as pa

    columns = []
    for name in DECISION_COLUMNS:
        column = batch.column(name)
        if name in _LISTS or name == "would_have":
            column = pa.array([None if items is None else orjson.dumps(items).decode()
                               for items in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=schema(lists_as_text=True))


def _json_row(row: dict[str, Any]) -> dict[str, Any]:
    if row.get("error") is not None:
        return {"customer_id": row["customer_id"], "error": row["error"]}
    return {name: row[name] for name in DECISION_COLUMNS
            if name != "error" and (row[name] is not None or name not in ONLY_WHEN_SET)}


def convert(decisions: str | Path, output: str | Path, meta: Mapping[str, str]) -> None:
    """Copy a Parquet file of :data:`DECISION_COLUMNS` into ``output``'s format, in order."""
    with DecisionWriter(output, meta) as writer:
        for batch in _batches(decisions):
            writer.write_batch(batch)


def _batches(path: str | Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    source = Path(path)
    files = sorted(source.glob("*.parquet")) if source.is_dir() else [source]  # Spark writes part files
    for file in files:
        yield from pq.ParquetFile(file).iter_batches(batch_size=_BATCH, columns=list(DECISION_COLUMNS))
