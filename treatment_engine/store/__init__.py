"""The decision log (sqlmodel, alembic): SQLite by default, any SQLAlchemy URL.

One :class:`DecisionLog` opens the database and holds a repository per kind of record;
each part of the service is handed only the one it needs:

- :mod:`.tables`: the tables; :mod:`.connection`: the engine, SQLite's settings, migrations
- :mod:`.decisions`: plan versions, decisions recorded and read back, contact limits
- :mod:`.events`: customer events (the late rule, per-partition order), what their
  moments fired, the outbox
- :mod:`.partitions`: moments' partition leases and their owners' progress and writes
- :mod:`.keys`: the service's API keys, kept as digests
- :mod:`.rows`: decisions as rows (ids, the profile fields kept, JSON)
"""

from __future__ import annotations

from .connection import Database, LogNotFound, upgrade
from .decisions import DecisionRepository, InputsPolicy
from .events import EventRepository
from .keys import KeyRepository, key_digest
from .partitions import PartitionRepository
from .rows import MAX_INPUT_CHARS, Inputs, RowMaker, new_ids, row_record, unflatten
from .tables import (
    CUSTOMER_ID_MAX,
    INSERT_COLUMNS,
    ApiKey,
    DecisionRow,
    EventRow,
    OutboxRow,
    PlanRelease,
    PlanVersion,
    unkeyable,
)


class DecisionLog:
    """The service's database, opened and migrated once, and its repositories:
    ``decisions``, ``events`` (with their outbox), ``partitions`` and ``keys``."""

    def __init__(self, url: str, inputs: InputsPolicy = "fields", *,
                 background_checkpoints: bool = False, max_input_chars: int = MAX_INPUT_CHARS,
                 create: bool = True) -> None:
        """``url``: any SQLAlchemy URL; ``inputs``: which profile fields a decision keeps;
        ``max_input_chars``: the most JSON a decision's kept fields may take (larger ones
        keep only their size, rows.py); ``background_checkpoints``: on SQLite, checkpoint
        on a thread of its own (the service's setting; see wal.py); ``create``: make and
        migrate the log (the service, ``keys create``), else refuse a database without one
        (:class:`LogNotFound`)."""
        self.database = Database(url, background_checkpoints=background_checkpoints, create=create)
        self.decisions = DecisionRepository(self.database, inputs, max_input_chars)
        self.events = EventRepository(self.decisions)
        self.partitions = PartitionRepository(self.decisions)
        self.keys = KeyRepository(self.database)

    def close(self) -> None:
        """Close the pooled connections (the service does so when it shuts down)."""
        self.database.close()


__all__ = [
    "CUSTOMER_ID_MAX", "INSERT_COLUMNS", "ApiKey", "Database", "DecisionLog", "DecisionRepository",
    "DecisionRow", "EventRepository", "EventRow", "Inputs", "InputsPolicy", "KeyRepository", "LogNotFound", "OutboxRow",
    "PartitionRepository", "PlanRelease", "PlanVersion", "RowMaker", "key_digest", "new_ids", "row_record", "unflatten",
    "unkeyable", "upgrade",
]
