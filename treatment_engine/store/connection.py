"""One database for the repositories: the SQLAlchemy engine, SQLite's settings, the schema
brought to the newest migration, and how the driver takes parameters.

SQLite by default, any SQLAlchemy URL. Every repository commits before it returns, so an
acknowledged decision survives a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, event, inspect
from sqlmodel import create_engine

from ..locks import hold_schema_lock
from ..wal import Checkpointer
from .tables import DecisionRow


def upgrade(connection: Connection) -> None:
    """Bring the schema to the newest migration (alembic), in the caller's transaction.

    A database made before migrations existed (tables, no alembic_version) is stamped
    with the first revision, which is what it holds, and upgraded from there.
    """
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "treatment_engine:migrations")
    config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if "decisions" in tables and "alembic_version" not in tables:
        command.stamp(config, "0001")
    command.upgrade(config, "head")


class Database:
    def __init__(self, url: str, *, background_checkpoints: bool = False) -> None:
        """``background_checkpoints``: on SQLite, fold the write-ahead log into the database
        on a thread of its own instead of inside a commit (the service's setting; see wal.py)."""
        self.local = url.startswith("sqlite")  # a file on this machine, no network round trip
        connect_args = {"check_same_thread": False} if self.local else {}
        self.engine = create_engine(url, connect_args=connect_args)
        self._checkpointer: Checkpointer | None = None
        if self.local:
            database = self.engine.url.database
            if background_checkpoints and database and database != ":memory:":
                self._checkpointer = Checkpointer(database)
            # WAL: readers do not block the writer. synchronous=NORMAL: a commit is durable
            # once it returns if the *process* dies (the crash test kills it with SIGKILL);
            # only an OS crash or power loss can lose the last commits, which FULL would
            # prevent at one fsync per commit. Set per connection, as SQLite requires; with
            # the checkpointer, connections leave checkpoints to it.
            pragmas = _SQLITE_PRAGMAS + (("PRAGMA wal_autocheckpoint=0",) if self._checkpointer else ())
            event.listen(self.engine, "connect", lambda connection, _record: _run_pragmas(connection, pragmas))
        with self.engine.begin() as connection:
            hold_schema_lock(connection)  # replicas starting at once migrate one at a time
            upgrade(connection)
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(self.engine.dialect.paramstyle)
        if mark is None:  # pragma: no cover - every driver we document uses one of those
            raise ValueError(f"unsupported database driver parameter style {self.engine.dialect.paramstyle}")
        self.mark = mark  # the driver's parameter placeholder, for SQL run on its own cursor

    def placeholders(self, count: int) -> str:
        return ", ".join([self.mark] * count)

    def close(self) -> None:
        """Close the pooled connections (the service does so when it shuts down)."""
        self.engine.dispose()
        if self._checkpointer is not None:
            self._checkpointer.close()

    def committed(self) -> None:
        """Say a commit happened (the background checkpointer folds the log in after it)."""
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def bind(self, column: str, value: Any) -> Any:
        """``value`` as the driver takes it for the decisions table's ``column`` (SQLAlchemy's
        own conversion; the other tables' days and times have the same types)."""
        processor = DecisionRow.__table__.c[column].type.bind_processor(self.engine.dialect)  # type: ignore[attr-defined]
        if processor is not None:
            return processor(value)
        if self.local and isinstance(value, date):
            # What sqlite3's default adapters store, converted once here instead of per row.
            return value.isoformat(" ") if isinstance(value, datetime) else value.isoformat()
        return value


# The busy timeout first: switching to WAL waits for a lock another process may hold.
_SQLITE_PRAGMAS = ("PRAGMA busy_timeout=5000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")


def _run_pragmas(connection: Any, pragmas: Sequence[str]) -> None:
    cursor = connection.cursor()
    for pragma in pragmas:
        cursor.execute(pragma)
    cursor.close()


def now() -> datetime:
    return datetime.now(UTC)
