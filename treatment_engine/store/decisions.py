"""The decisions repository: plan versions, decisions recorded and read back, and the
contact limits the logged decisions impose.

Every decision the service acknowledges is committed before the response goes out (one
transaction per group of requests; a batch is one transaction, or one per 500 customers
under a plan with contact limits on PostgreSQL: service/serialize.py), so an acknowledged
decision survives a crash. Every plan the service loads is stored by version, files included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Connection
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from ..compile import CompiledPlan
from ..contacts import ANY_CHANNEL, ContactRules, ContactState, state_from_counts
from ..decision import Decision
from .connection import Database, now
from .rows import MAX_INPUT_CHARS, Inputs, RowMaker, row_record, unflatten
from .tables import INSERT_COLUMNS, DecisionRow, PlanVersion, unkeyable

InputsPolicy = Literal["fields", "none"]
VERSIONS_KEPT = 8  # plan versions whose stored-fields projection is kept ready


class DecisionRepository:
    def __init__(self, database: Database, inputs: InputsPolicy = "fields",
                 max_input_chars: int = MAX_INPUT_CHARS) -> None:
        """``inputs``: which profile fields each decision keeps, up to ``max_input_chars``
        of JSON (see :mod:`.rows`)."""
        self.database = database
        self.inputs = inputs
        self.max_input_chars = max_input_chars
        self._inputs: dict[str, Inputs | None] = {}  # what recent plan versions' decisions keep
        self.insert_sql = (f"INSERT INTO decisions ({', '.join(INSERT_COLUMNS)}) "
                           f"VALUES ({database.placeholders(len(INSERT_COLUMNS))})")

    @property
    def local(self) -> bool:
        """A file on this machine (SQLite): no network round trip to a query."""
        return self.database.local

    def remember_plan(self, plan: CompiledPlan, files: Mapping[str, str], connection: Connection | None = None) -> None:
        """Store a plan version's files once: replicas storing one at the same moment
        leave one row and no error (in ``connection``'s transaction, if given)."""
        row = {"version": plan.version, "files": json.dumps(dict(files)), "loaded_at": now()}
        with nullcontext(connection) if connection is not None else self.database.engine.begin() as writing:
            dialect = writing.dialect.name
            if dialect in ("postgresql", "sqlite"):
                insert = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(PlanVersion)
                writing.execute(insert.values(**row).on_conflict_do_nothing(index_elements=["version"]))
            elif writing.execute(select(PlanVersion.version).where(PlanVersion.version == plan.version)).first() is None:
                writing.execute(PlanVersion.__table__.insert().values(**row))  # type: ignore[attr-defined]

    def plan_files(self, version: str) -> dict[str, str] | None:
        with Session(self.database.engine) as session:
            stored = session.get(PlanVersion, version)
            return None if stored is None else dict(json.loads(stored.files))

    def record(self, plan: CompiledPlan, pairs: Iterable[tuple[Mapping[str, Any], Decision]]) -> list[str]:
        """Commit decisions (with their profiles' plan-read fields) in one transaction; ids back."""
        rows = self.row_maker(plan).rows(pairs)
        self.insert_rows(rows)
        return [row[0] for row in rows]

    def row_maker(self, plan: CompiledPlan) -> RowMaker:
        """How this log stores ``plan``'s decisions made now (see :class:`RowMaker`)."""
        kept = self._inputs
        if plan.version in kept:
            inputs = kept[plan.version]
        else:
            inputs = Inputs(plan.profile_fields, self.max_input_chars) if self.inputs == "fields" else None
            # A watched plan is reloaded on every edit: keep a few versions, not every one
            # a long-lived service ever served (the dict is replaced whole, for the threads).
            self._inputs = {**(kept if len(kept) < VERSIONS_KEPT else {}), plan.version: inputs}
        return RowMaker(inputs=inputs, created_at=self.database.bind("created_at", now()),
                        dates_as_text=self.database.local)

    def insert_rows(self, rows: Sequence[tuple[Any, ...]], connection: Connection | None = None) -> None:
        """Commit rows made by a :class:`RowMaker` in one transaction (a group commit's), or
        insert them in ``connection``'s transaction, which the caller commits."""
        if not rows:
            return
        if connection is not None:
            connection.exec_driver_sql(self.insert_sql, rows)
            return
        # One executemany of plain tuples in one transaction: a 10,000-decision batch is
        # one commit, and no per-row work by SQLAlchemy.
        with self.database.engine.begin() as connection:
            connection.exec_driver_sql(self.insert_sql, rows)
        self.database.committed()

    def decision(self, decision_id: str) -> DecisionRow | None:
        if unkeyable(decision_id):
            return None
        with Session(self.database.engine) as session:
            return session.get(DecisionRow, decision_id)

    def history(self, customer_id: str, limit: int = 100) -> list[dict[str, Any]]:
        if unkeyable(customer_id):
            return []
        with Session(self.database.engine) as session:
            found = session.exec(select(DecisionRow).where(DecisionRow.customer_id == customer_id)
                                 .order_by(DecisionRow.created_at.desc()).limit(limit)).all()  # type: ignore[attr-defined]
            return [row_record(row) for row in found]

    def arm_customers(self, plan_version: str) -> tuple[int, dict[tuple[str, str], int]]:
        """Customers decided under ``plan_version``, and per (experiment, arm) the customers
        logged in it; a customer decided again counts once (buckets are sticky)."""
        mark = self.database.mark
        with self.database.engine.connect() as connection:
            total = connection.exec_driver_sql(
                f"SELECT count(DISTINCT customer_id) FROM decisions WHERE plan_version = {mark}",
                (plan_version,)).scalar()
            rows = connection.exec_driver_sql(
                f"SELECT experiment, arm, count(DISTINCT customer_id) FROM decisions WHERE plan_version = {mark} "
                f"AND experiment IS NOT NULL GROUP BY experiment, arm", (plan_version,)).all()
        return int(total or 0), {(str(e), str(a)): int(n) for e, a, n in rows}

    def latest_inputs(self, customer_id: str) -> dict[str, Any] | None:
        """The profile fields stored with the customer's latest logged decision, if any."""
        if unkeyable(customer_id):
            return None
        with self.database.engine.connect() as connection:
            found = connection.exec_driver_sql(
                f"SELECT inputs FROM decisions WHERE customer_id = {self.database.mark} AND inputs IS NOT NULL "
                f"ORDER BY created_at DESC, id DESC LIMIT 1", (customer_id,)).scalar()
        return None if found is None else unflatten(json.loads(found))

    def limits(self, customer_ids: Iterable[str] | None, as_of: date, rules: ContactRules,
               before: datetime | None = None, connection: Connection | None = None) -> dict[str, ContactState]:
        """What each customer's logged contacts rule out on ``as_of``, for the customers
        with a limit in force (the rest have none): :func:`~.contacts.contact_state` over
        the decisions logged for them, with the windows counted by the database.

        Only customers at a cap or in a cooldown come back, so a batch of ten thousand
        customers costs one indexed scan, not ten thousand histories built in Python.
        With ``connection``, counted inside its transaction (its own inserts included).
        """
        # (a customer id the log cannot key has nothing logged: no limit)
        wanted = None if customer_ids is None else sorted({cid for cid in customer_ids if not unkeyable(cid)})
        today = as_of.toordinal()
        mark, bind = self.database.mark, self.database.bind

        def since(days: int) -> Any:  # the first day of a window of ``days`` ending on as_of
            # (a window reaching back past 0001-01-01 starts there: nothing is older)
            return bind("as_of", date.fromordinal(max(1, today - days + 1)))

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
        if wanted == []:
            return found
        with nullcontext(connection) if connection is not None else self.database.engine.connect() as reading:
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
