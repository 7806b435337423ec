"""One database for the repositories: the SQLAlchemy engine, SQLite's settings, the schema
brought to the newest migration, and how the driver takes parameters.

Only the service creates and migrates a log (``create=True``, the default). A command
that reads one (``reproduce``, ``decide --db``, ``keys list``) opens it with
``create=False``: a database that does not exist, holds no decision log or is at
another schema revision is refused with :class:`LogNotFound`, and nothing is written
(SQLAlchemy would otherwise create an empty SQLite file for a mistyped path).

SQLite by default, any SQLAlchemy URL. Every repository commits before it returns, so an
acknowledged decision survives a crash.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, event, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlmodel import create_engine

from ..errors import TreatmentError
from ..wal import Checkpointer
from .locks import SQLITE_BUSY_MS, SQLITE_MIGRATION_BUSY_MS, hold_schema_lock
from .tables import DecisionRow


class LogNotFound(TreatmentError):
    """A database given to read a decision log from holds none that this release can read,
    or a URL no log can be opened at (not a URL, an unknown dialect or driver, no server)."""


def _alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "treatment_engine:migrations")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection) -> None:
    """Bring the schema to the newest migration (alembic), in the caller's transaction.

    A database made before migrations existed (tables, no alembic_version) is stamped
    with the first revision, which is what it holds, and upgraded from there.
    """
    from alembic import command

    config = _alembic_config(connection)
    tables = set(inspect(connection).get_table_names())
    if "decisions" in tables and "alembic_version" not in tables:
        command.stamp(config, "0001")
    command.upgrade(config, "head")


def check_existing_log(engine: Engine) -> None:
    """Refuse (:class:`LogNotFound`) a database that is not a decision log at this release's
    schema revision, writing nothing: a SQLite file is looked for before it is opened."""
    from alembic.script import ScriptDirectory

    shown = engine.url.render_as_string(hide_password=True)
    serve = f"`treatment serve --db {shown}` creates and migrates a log"
    if engine.url.get_backend_name() == "sqlite":
        database = engine.url.database
        if not database or database == ":memory:" or not Path(database).is_file():
            raise LogNotFound(f"no decision log at {shown}: {database or 'an in-memory database'} "
                              f"does not exist ({serve})")
    try:
        with engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            revision = (connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
                        if "alembic_version" in tables else None)
    except SQLAlchemyError as error:
        raise LogNotFound(f"cannot open the decision log at {shown}: {getattr(error, 'orig', None) or error}") from None
    if "decisions" not in tables or revision is None:
        raise LogNotFound(f"no decision log at {shown}: the database holds no decision log tables ({serve})")
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if revision != head:
        raise LogNotFound(f"the decision log at {shown} is at schema revision {revision}, and this release "
                          f"reads {head}: `treatment serve --db {shown}` upgrades an older log")


def _shown(url: str) -> str:
    """A URL SQLAlchemy could not read, without what may be its password (user:secret@)."""
    scheme, separator, rest = url.partition("://")
    return f"{scheme}{separator}***@{rest.rpartition('@')[2]}" if "@" in rest else url


class Database:
    def __init__(self, url: str, *, background_checkpoints: bool = False, create: bool = True) -> None:
        """``background_checkpoints``: on SQLite, fold the write-ahead log into the database
        on a thread of its own instead of inside a commit (the service's setting; see wal.py).
        ``create``: make and migrate the schema (the service); without it, the database must
        already hold a log at the newest revision (:func:`check_existing_log`)."""
        self.local = url.startswith("sqlite")  # a file on this machine, no network round trip
        connect_args = {"check_same_thread": False} if self.local else {}
        try:
            self.engine = create_engine(url, connect_args=connect_args)
        except (ArgumentError, ImportError) as error:  # not a URL; a dialect or driver not installed
            raise LogNotFound(f"cannot open the decision log at {_shown(url)}: {error}") from None
        if not create:
            try:
                check_existing_log(self.engine)
            finally:
                self.engine.dispose()  # the next connections get the settings below
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
        if create:
            try:
                with self.engine.begin() as connection:
                    hold_schema_lock(connection)  # replicas starting at once migrate one at a time
                    upgrade(connection)
            except OperationalError as error:  # no server there, refused, a wrong password
                shown = self.engine.url.render_as_string(hide_password=True)
                raise LogNotFound(f"cannot open the decision log at {shown}: {error.orig or error}") from None
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


_WAL = "PRAGMA journal_mode=WAL"
# Switching to WAL waits for a lock another process may hold: a replica migrating the log
# holds it for the whole migration (hold_schema_lock), so the switch waits as long as a
# migration may take, and the connection then waits as long as a request may.
_SQLITE_PRAGMAS = (f"PRAGMA busy_timeout={SQLITE_MIGRATION_BUSY_MS}", _WAL,
                   f"PRAGMA busy_timeout={SQLITE_BUSY_MS}", "PRAGMA synchronous=NORMAL")


def _run_pragmas(connection: Any, pragmas: Sequence[str]) -> None:
    cursor = connection.cursor()
    try:
        for pragma in pragmas:
            if pragma == _WAL:
                _switch_to_wal(cursor)
            else:
                cursor.execute(pragma)
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """The WAL switch, tried again while another connection makes the same switch. On a
    new file the switch takes the database's exclusive lock from a shared one; two
    processes doing so at once is a deadlock SQLite breaks by failing one of them at once
    ("database is locked"), without its busy timeout: replicas started together on a new
    SQLite log failed so (3 processes at once: 14 of 200 races). Once a switch is made the
    file is in WAL mode, and the next try only reads that."""
    import sqlite3

    deadline = time.monotonic() + SQLITE_MIGRATION_BUSY_MS / 1000
    while True:
        try:
            cursor.execute(_WAL)
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def now() -> datetime:
    return datetime.now(UTC)
