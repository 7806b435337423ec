"""The decision log and plan history (sqlmodel): SQLite by default, any SQLAlchemy URL.

Every decision the service acknowledges is committed before the response goes out
(one transaction per request; a batch is one transaction), so an acknowledged decision
survives a crash. Profiles are not stored whole: with ``inputs="fields"`` only the
fields the plan reads are kept (enough to replay the decision), with ``inputs="none"``
nothing is. Every plan the service loads is stored by version, files included.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from sqlalchemy import Connection, Index, event, inspect
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

from .compile import CompiledPlan
from .contacts import ANY_CHANNEL, ContactRules, ContactState, state_from_counts
from .decision import Decision
from .expressions.values import lookup
from .locks import hold_schema_lock
from .sql.compiler import required_fields
from .wal import Checkpointer

InputsPolicy = Literal["fields", "none"]
# The log keys decisions and events by customer id; longer ids are refused by the service
# with that reason rather than failing in the database (PostgreSQL enforces the length).
CUSTOMER_ID_MAX = 200
DEFAULT_URL = "sqlite:///treatment.db"


class PlanVersion(SQLModel, table=True):
    __tablename__ = "plan_versions"

    version: str = Field(primary_key=True, max_length=32)
    files: str  # JSON {relative path: text}
    loaded_at: datetime


class PlanRelease(SQLModel, table=True):
    """A plan version put live by a replica; every replica serves the newest (plan_sync.py)."""

    __tablename__ = "plan_releases"

    id: int | None = Field(default=None, primary_key=True)
    version: str = Field(max_length=32)
    released_at: datetime
    released_by: str = Field(max_length=200)  # host:pid of the replica that loaded it


class DecisionRow(SQLModel, table=True):
    __tablename__ = "decisions"
    # Covering: contact limits count a window from the index alone (migration 0006).
    __table_args__ = (Index("ix_decisions_contacts", "customer_id", "as_of", "treatment", "channel"),)

    id: str = Field(primary_key=True, max_length=36)  # a UUIDv7: time-ordered, see new_ids
    customer_id: str = Field(max_length=CUSTOMER_ID_MAX)
    plan_version: str = Field(max_length=32)
    rule: str
    treatment: str = Field(max_length=16)
    actions: str  # JSON list
    channels: str  # JSON list
    channel: str | None = None  # the first: the one used
    cost: float
    as_of: date
    created_at: datetime
    inputs: str | None = None  # JSON object of the fields the plan reads, per the policy


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    name: str = Field(primary_key=True, max_length=100)
    # SHA-256 of the key: keys are 256-bit random tokens, so a fast digest is enough (a
    # slow password hash guards guessable secrets), and a stolen table grants nothing.
    digest: str = Field(max_length=64, unique=True)
    created_at: datetime
    revoked_at: datetime | None = None


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_occurred", "occurred_at"),)

    id: str = Field(primary_key=True, max_length=36)  # a UUIDv7, like decisions
    customer_id: str = Field(max_length=CUSTOMER_ID_MAX)
    type: str
    occurred_at: float  # seconds since the epoch: the event's own clock
    body: str  # the event as received (JSON)
    received_at: datetime


class OutboxRow(SQLModel, table=True):
    """A fired moment and its decision, for downstream services to poll in id order."""

    __tablename__ = "outbox"

    id: int | None = Field(default=None, primary_key=True)
    moment: str
    customer_id: str = Field(max_length=CUSTOMER_ID_MAX)
    fired_at: float
    decision_id: str | None = Field(default=None, max_length=36)
    payload: str  # JSON: the fired moment with its decision
    created_at: datetime


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


class DecisionLog:
    def __init__(self, url: str = DEFAULT_URL, inputs: InputsPolicy = "fields", *,
                 background_checkpoints: bool = False) -> None:
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
        self.inputs = inputs
        self._inputs: dict[str, Inputs | None] = {}  # what each plan version's decisions keep
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}.get(self.engine.dialect.paramstyle)
        if mark is None:  # pragma: no cover - every driver we document uses one of those
            raise ValueError(f"unsupported database driver parameter style {self.engine.dialect.paramstyle}")
        self._mark = mark
        self._insert_sql = (f"INSERT INTO decisions ({', '.join(INSERT_COLUMNS)}) "
                            f"VALUES ({', '.join([mark] * len(INSERT_COLUMNS))})")

    def close(self) -> None:
        """Close the pooled connections (the service does so when it shuts down)."""
        self.engine.dispose()
        if self._checkpointer is not None:
            self._checkpointer.close()

    def committed(self) -> None:
        """Tell the log a transaction of its caller's committed (SQLite: a checkpoint may be due)."""
        if self._checkpointer is not None:
            self._checkpointer.committed()

    def remember_plan(self, plan: CompiledPlan, files: Mapping[str, str], connection: Connection | None = None) -> None:
        """Store a plan version's files once: replicas storing one at the same moment
        leave one row and no error (in ``connection``'s transaction, if given)."""
        row = {"version": plan.version, "files": json.dumps(dict(files)), "loaded_at": _now()}
        with nullcontext(connection) if connection is not None else self.engine.begin() as writing:
            dialect = writing.dialect.name
            if dialect in ("postgresql", "sqlite"):
                insert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(PlanVersion)
                writing.execute(insert.values(**row).on_conflict_do_nothing(index_elements=["version"]))
            elif writing.execute(select(PlanVersion.version).where(PlanVersion.version == plan.version)).first() is None:
                writing.execute(PlanVersion.__table__.insert().values(**row))  # type: ignore[attr-defined]

    def record(self, plan: CompiledPlan, pairs: Iterable[tuple[Mapping[str, Any], Decision]]) -> list[str]:
        """Commit decisions (with their profiles' plan-read fields) in one transaction; ids back."""
        rows = self.row_maker(plan).rows(pairs)
        self.insert_rows(rows)
        return [row[0] for row in rows]

    def row_maker(self, plan: CompiledPlan) -> RowMaker:
        """How this log stores ``plan``'s decisions made now (see :class:`RowMaker`)."""
        if plan.version not in self._inputs:
            self._inputs[plan.version] = Inputs(required_fields(plan)) if self.inputs == "fields" else None
        return RowMaker(inputs=self._inputs[plan.version], created_at=self._bind("created_at", _now()),
                        dates_as_text=self.local)

    def insert_rows(self, rows: Sequence[tuple[Any, ...]], connection: Connection | None = None) -> None:
        """Commit rows made by a :class:`RowMaker` in one transaction (a group commit's), or
        insert them in ``connection``'s transaction, which the caller commits."""
        if not rows:
            return
        if connection is not None:
            connection.exec_driver_sql(self._insert_sql, rows)
            return
        # One executemany of plain tuples in one transaction: a 10,000-decision batch is
        # one commit, and no per-row work by SQLAlchemy.
        with self.engine.begin() as connection:
            connection.exec_driver_sql(self._insert_sql, rows)
        self.committed()

    def _bind(self, column: str, value: Any) -> Any:
        """``value`` as the driver takes it for ``column`` (SQLAlchemy's own conversion)."""
        processor = DecisionRow.__table__.c[column].type.bind_processor(self.engine.dialect)  # type: ignore[attr-defined]
        if processor is not None:
            return processor(value)
        if self.local and isinstance(value, date):
            # What sqlite3's default adapters store, converted once here instead of per row.
            return value.isoformat(" ") if isinstance(value, datetime) else value.isoformat()
        return value

    def history(self, customer_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            found = session.exec(select(DecisionRow).where(DecisionRow.customer_id == customer_id)
                                 .order_by(DecisionRow.created_at.desc()).limit(limit)).all()  # type: ignore[attr-defined]
            return [row_record(row) for row in found]

    def limits(self, customer_ids: Iterable[str] | None, as_of: date, rules: ContactRules,
               before: datetime | None = None, connection: Connection | None = None) -> dict[str, ContactState]:
        """What each customer's logged contacts rule out on ``as_of``, for the customers
        with a limit in force (the rest have none): :func:`~.contacts.contact_state` over
        the decisions logged for them, with the windows counted by the database.

        Only customers at a cap or in a cooldown come back, so a batch of ten thousand
        customers costs one indexed scan, not ten thousand histories built in Python.
        With ``connection``, counted inside its transaction (its own inserts included).
        """
        wanted = None if customer_ids is None else sorted(set(customer_ids))
        today = as_of.toordinal()
        mark, bind = self._mark, self._bind

        def since(days: int) -> Any:  # the first day of a window of ``days`` ending on as_of
            return bind("as_of", date.fromordinal(today - days + 1))

        columns: list[str] = ["customer_id"]
        column_values: list[Any] = []
        held: list[str] = []  # the customers some limit holds back; the rest need no state
        for index, cap in enumerate(rules.caps):
            which = "channel IS NOT NULL" if cap.key == ANY_CHANNEL else f"channel = {mark}"
            columns.append(f"SUM(CASE WHEN {which} AND as_of >= {mark} THEN 1 ELSE 0 END) AS cap{index}")
            column_values.extend(([] if cap.key == ANY_CHANNEL else [cap.key]) + [since(cap.per_days)])
            held.append(f"cap{index} >= {cap.max}")
        if rules.cooldown_days is not None:
            columns.append(f"MAX(CASE WHEN treatment = 'delight' AND as_of >= {mark} THEN as_of END) AS delight")
            column_values.append(since(rules.cooldown_days))
            held.append("delight IS NOT NULL")
        where = [f"as_of >= {mark}", f"as_of <= {mark}"]
        values: list[Any] = [*column_values, since(rules.lookback_days), bind("as_of", as_of)]
        if before is not None:
            where.append(f"created_at < {mark}")
            values.append(bind("created_at", before))
        found: dict[str, ContactState] = {}
        states: dict[tuple[Any, ...], ContactState] = {}  # customers with the same counts share one
        chunks = [None] if wanted is None else [wanted[i:i + 500] for i in range(0, len(wanted), 500)]
        with nullcontext(connection) if connection is not None else self.engine.connect() as reading:
            # The driver's own cursor: SQLAlchemy's result rows cost more than the scan.
            cursor = reading.connection.cursor()
            for chunk in chunks:  # IN lists of 500 stay well under every database's limit
                chosen = [] if chunk is None else [f"customer_id IN ({', '.join([mark] * len(chunk))})"]
                # Filtered outside the grouping: PostgreSQL's HAVING cannot name the aliases.
                query = (f"SELECT * FROM (SELECT {', '.join(columns)} FROM decisions "
                         f"WHERE {' AND '.join(where + chosen)} GROUP BY customer_id) AS counted "
                         f"WHERE {' OR '.join(held)}")
                cursor.execute(query, (*values, *(chunk or ())))
                for row in cursor.fetchall():
                    counts = tuple(row[1:])
                    state = states.get(counts)
                    if state is None:
                        used = [int(n) for n in counts[:len(rules.caps)]]
                        last = counts[-1] if rules.cooldown_days is not None else None
                        if isinstance(last, str):
                            last = date.fromisoformat(last)
                        state = states[counts] = state_from_counts(
                            rules, used, None if last is None else last.toordinal())
                    found[row[0]] = state
            cursor.close()
        return found

    # -- events and the outbox ------------------------------------------------------------

    def record_events(self, plan: CompiledPlan, events: Sequence[tuple[str, str, float, Mapping[str, Any]]],
                      fired: Sequence[tuple[Mapping[str, Any], Any, float, dict[str, Any]]],
                      connection: Connection | None = None,
                      decision_ids: Sequence[str | None] | None = None) -> list[str | None]:
        """Events (customer, type, time, body), and the moments they fired (profile,
        decision or None, time, outbox payload) with their decisions, in one transaction: an
        acknowledged event and everything it caused are stored together or not at all.
        The decision ids come back, in the order of ``fired``. With ``decision_ids`` (in
        that order), the decisions are in the transaction of ``connection`` already (made
        under their customers' locks: serialize.py), which the caller commits."""
        received = self._bind("created_at", _now())
        event_rows = [(row_id, cid, kind, when, _json(dict(body)), received)
                      for row_id, (cid, kind, when, body) in zip(new_ids(len(events)), events, strict=True)]
        decided = [(profile, decision) for profile, decision, _, _ in fired if decision is not None]
        decision_rows = self.row_maker(plan).rows(decided) if decided and decision_ids is None else []
        made_ids = iter(row[0] for row in decision_rows)
        outbox_rows = []
        ids: list[str | None] = []
        for index, (_, decision, fired_at, payload) in enumerate(fired):
            decision_id = (decision_ids[index] if decision_ids is not None
                           else next(made_ids) if decision is not None else None)
            ids.append(decision_id)
            outbox_rows.append((payload["moment"], payload["customer_id"], fired_at, decision_id,
                                _json({**payload, "decision_id": decision_id}), received))
        mark = self._mark
        with nullcontext(connection) if connection is not None else self.engine.begin() as used:
            if event_rows:
                used.exec_driver_sql(
                    f"INSERT INTO events (id, customer_id, type, occurred_at, body, received_at) "
                    f"VALUES ({', '.join([mark] * 6)})", event_rows)
            if decision_rows:
                used.exec_driver_sql(self._insert_sql, decision_rows)
            if outbox_rows:
                used.exec_driver_sql(
                    f"INSERT INTO outbox (moment, customer_id, fired_at, decision_id, payload, created_at) "
                    f"VALUES ({', '.join([mark] * 6)})", outbox_rows)
        if connection is None:
            self.committed()
        return ids

    def events_since(self, since: float) -> list[dict[str, Any]]:
        """Stored events from ``since`` on, in time order (arrival order among equal times)."""
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT body FROM events WHERE occurred_at >= {self._mark} ORDER BY occurred_at, id", (since,))
            return [json.loads(body) for (body,) in rows]

    def latest_event_time(self) -> float | None:
        with self.engine.connect() as connection:
            value = connection.exec_driver_sql("SELECT max(occurred_at) FROM events").scalar()
            return None if value is None else float(value)

    def outbox(self, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                f"SELECT id, payload FROM outbox WHERE id > {self._mark} ORDER BY id LIMIT {int(limit)}", (after,))
            return [{"id": int(row_id), **json.loads(payload)} for row_id, payload in rows]

    def latest_inputs(self, customer_id: str) -> dict[str, Any] | None:
        """The profile fields stored with the customer's latest logged decision, if any."""
        with self.engine.connect() as connection:
            found = connection.exec_driver_sql(
                f"SELECT inputs FROM decisions WHERE customer_id = {self._mark} AND inputs IS NOT NULL "
                f"ORDER BY created_at DESC, id DESC LIMIT 1", (customer_id,)).scalar()
        return None if found is None else unflatten(json.loads(found))

    # -- API keys --------------------------------------------------------------------------

    def create_key(self, name: str) -> str:
        """A new key under ``name``; only its digest is kept, so the caller must show it now."""
        key = "tk_" + secrets.token_urlsafe(32)
        with Session(self.engine) as session:
            if session.get(ApiKey, name) is not None:
                raise ValueError(f"an API key named {name!r} exists already")
            session.add(ApiKey(name=name, digest=key_digest(key), created_at=_now()))
            session.commit()
        return key

    def revoke_key(self, name: str) -> bool:
        with Session(self.engine) as session:
            stored = session.get(ApiKey, name)
            if stored is None or stored.revoked_at is not None:
                return False
            stored.revoked_at = _now()
            session.add(stored)
            session.commit()
            return True

    def api_keys(self) -> list[ApiKey]:
        with Session(self.engine) as session:
            return list(session.exec(select(ApiKey).order_by(col(ApiKey.name))).all())

    def key_is_valid(self, key: str) -> bool:
        """True for a key created here and not revoked."""
        digest = key_digest(key)
        with Session(self.engine) as session:
            stored = session.exec(select(ApiKey).where(ApiKey.digest == digest)).first()
        return stored is not None and stored.revoked_at is None and hmac.compare_digest(stored.digest, digest)

    def decision(self, decision_id: str) -> DecisionRow | None:
        with Session(self.engine) as session:
            return session.get(DecisionRow, decision_id)

    def plan_files(self, version: str) -> dict[str, str] | None:
        with Session(self.engine) as session:
            stored = session.get(PlanVersion, version)
            return None if stored is None else dict(json.loads(stored.files))


class Inputs:
    """The part of a profile that the plan reads, kept with each decision so it can be
    replayed: a JSON object shaped like the profile, holding only those fields."""

    def __init__(self, paths: Iterable[tuple[str, ...]]) -> None:
        read = set(paths)
        paths = sorted(read)
        # A field read whole holds whatever is read inside it.
        self.top = tuple(p[0] for p in paths if len(p) == 1)
        self.nested = tuple(p for p in paths if len(p) > 1 and not any(p[:i] in read for i in range(1, len(p))))
        inner: dict[str, set[str]] = {}
        for path in self.nested:
            inner.setdefault(path[0], set()).add(path[1])
        self.allowed = frozenset(self.top) | inner.keys()
        # Two levels at most (the common shape: consent.email): a profile made only of read
        # fields is kept as it is, with one containment check instead of a walk per field.
        self.shallow = (None if any(len(p) > 2 for p in self.nested)
                        else tuple((root, frozenset(names)) for root, names in sorted(inner.items())))

    def json(self, profile: Mapping[str, Any]) -> str:
        readable = profile if isinstance(profile, dict) else dict(profile)
        if self.shallow is not None and readable.keys() <= self.allowed:
            for root, names in self.shallow:
                value = readable.get(root)
                if value is not None and (type(value) is not dict or not value.keys() <= names):
                    break
            else:
                return _json(readable)
        kept: dict[str, Any] = {name: v for name in self.top if (v := readable.get(name)) is not None}
        for path in self.nested:
            if (v := lookup(readable, path)) is not None:
                node = kept
                for part in path[:-1]:  # dicts of our own: no prefix of a nested path is kept whole
                    node = node.setdefault(part, {})
                node[path[-1]] = v
        return _json(kept)


@dataclass(frozen=True)
class RowMaker:
    """Decisions as decision-log rows (:data:`INSERT_COLUMNS`), for one plan and one moment:
    ``inputs`` (None: keep none), ``created_at`` already as the driver takes it."""

    inputs: Inputs | None
    created_at: Any
    dates_as_text: bool  # SQLite: days as ISO text, what its driver would store

    def rows(self, pairs: Iterable[tuple[Mapping[str, Any], Decision]]) -> list[tuple[Any, ...]]:
        inputs, now = self.inputs, self.created_at
        days: dict[str, Any] = {}
        lists: dict[tuple[str, ...], str] = {}  # a rule's actions and channels repeat: encode once
        rows: list[tuple[Any, ...]] = []
        pairs = list(pairs)
        for row_id, (profile, decision) in zip(new_ids(len(pairs)), pairs, strict=True):
            day = days.get(decision.as_of)
            if day is None:
                day = days[decision.as_of] = (decision.as_of if self.dates_as_text
                                              else date.fromisoformat(decision.as_of))
            actions, channels = decision.actions, decision.channels
            if (actions_json := lists.get(actions)) is None:
                actions_json = lists[actions] = _json(list(actions))
            if (channels_json := lists.get(channels)) is None:
                channels_json = lists[channels] = _json(list(channels))
            rows.append((row_id, decision.customer_id, decision.plan_version, decision.rule,
                         decision.treatment, actions_json, channels_json,
                         channels[0] if channels else None, decision.cost, day, now,
                         inputs.json(profile) if inputs is not None else None))
        return rows


_id_counter = itertools.count()
_id_node = secrets.randbits(54)  # random per process: ids from two processes never meet


def new_ids(count: int) -> list[str]:
    """``count`` UUIDv7s (RFC 9562): a millisecond timestamp, then this process's random
    bits and a counter, so ids are unique and grow with time; new rows land at the end of
    the primary-key index instead of at random places in it."""
    # 48 bits time | version 7 | 12 bits counter (high) | variant 10 | 8 bits counter (low)
    # | 54 random bits. Only the counter changes within a call: the rest is formatted once.
    stamp = (time.time_ns() // 1_000_000) & 0xFFFFFFFFFFFF
    head = f"{stamp >> 16:08x}-{stamp & 0xFFFF:04x}-7"
    node_high, tail = _id_node >> 48, f"{_id_node & 0xFFFFFFFFFFFF:012x}"
    ids = []
    for _ in range(count):
        tick = next(_id_counter) & 0xFFFFF  # 20 bits
        ids.append(f"{head}{tick >> 8:03x}-{0x8000 | (tick & 0xFF) << 6 | node_high:04x}-{tail}")
    return ids


INSERT_COLUMNS = ("id", "customer_id", "plan_version", "rule", "treatment", "actions", "channels",
                  "channel", "cost", "as_of", "created_at", "inputs")


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # what orjson refuses (integers beyond 64 bits), the standard library takes
        return json.dumps(value)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


# The busy timeout first: switching to WAL waits for a lock another process may hold.
_SQLITE_PRAGMAS = ("PRAGMA busy_timeout=5000", "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")


def _run_pragmas(connection: Any, pragmas: Sequence[str]) -> None:
    cursor = connection.cursor()
    for pragma in pragmas:
        cursor.execute(pragma)
    cursor.close()


def row_record(row: DecisionRow) -> dict[str, Any]:
    return {"id": row.id, "customer_id": row.customer_id, "plan_version": row.plan_version,
            "rule": row.rule, "treatment": row.treatment, "actions": json.loads(row.actions),
            "channels": json.loads(row.channels), "cost": row.cost, "as_of": row.as_of.isoformat(),
            "created_at": row.created_at.isoformat()}


def unflatten(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Stored dotted fields back into a nested profile."""
    profile: dict[str, Any] = {}
    for dotted, value in fields.items():
        node = profile
        parts = dotted.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return profile


def _now() -> datetime:
    return datetime.now(UTC)
