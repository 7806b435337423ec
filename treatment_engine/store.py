"""The decision log and plan history (sqlmodel): SQLite by default, any SQLAlchemy URL.

Every decision the service acknowledges is committed before the response goes out
(one transaction per request; a batch is one transaction), so an acknowledged decision
survives a crash. Profiles are not stored whole: with ``inputs="fields"`` only the
fields the plan reads are kept (enough to replay the decision), with ``inputs="none"``
nothing is. Every plan the service loads is stored by version, files included.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import Index, event, insert
from sqlmodel import Field, Session, SQLModel, create_engine, select

from .compile import CompiledPlan
from .decision import Decision
from .expressions.values import lookup
from .sql.compiler import required_fields

InputsPolicy = Literal["fields", "none"]
DEFAULT_URL = "sqlite:///treatment.db"


class PlanVersion(SQLModel, table=True):
    __tablename__ = "plan_versions"

    version: str = Field(primary_key=True, max_length=32)
    files: str  # JSON {relative path: text}
    loaded_at: datetime


class DecisionRow(SQLModel, table=True):
    __tablename__ = "decisions"
    __table_args__ = (Index("ix_decisions_customer_created", "customer_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    customer_id: str = Field(max_length=200)
    plan_version: str = Field(max_length=32)
    rule: str
    treatment: str = Field(max_length=16)
    actions: str  # JSON list
    channels: str  # JSON list
    cost: float
    as_of: date
    created_at: datetime
    inputs: str | None = None  # JSON object of the fields the plan reads, per the policy


class DecisionLog:
    def __init__(self, url: str = DEFAULT_URL, inputs: InputsPolicy = "fields") -> None:
        connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=connect_args)
        if url.startswith("sqlite"):
            # WAL: readers do not block the writer. synchronous=NORMAL: a commit is durable
            # once it returns if the *process* dies (the crash test kills it with SIGKILL);
            # only an OS crash or power loss can lose the last commits, which FULL would
            # prevent at one fsync per commit. Set per connection, as SQLite requires.
            event.listen(self.engine, "connect", _sqlite_pragmas)
        SQLModel.metadata.create_all(self.engine)
        self.inputs = inputs
        self._paths: dict[str, list[tuple[str, ...]]] = {}  # fields each plan version reads

    def close(self) -> None:
        """Close the pooled connections (the service does so when it shuts down)."""
        self.engine.dispose()

    def remember_plan(self, plan: CompiledPlan, files: Mapping[str, str]) -> None:
        with Session(self.engine) as session:
            if session.get(PlanVersion, plan.version) is None:
                session.add(PlanVersion(version=plan.version, files=json.dumps(dict(files)),
                                        loaded_at=_now()))
                session.commit()

    def record(self, plan: CompiledPlan, pairs: Iterable[tuple[Mapping[str, Any], Decision]]) -> list[str]:
        """Commit decisions (with their profiles' plan-read fields) in one transaction; ids back."""
        return self.record_groups([(plan, pairs)])[0]

    def record_groups(self, groups: Iterable[tuple[CompiledPlan, Iterable[tuple[Mapping[str, Any], Decision]]]]) -> list[list[str]]:
        """Several requests' decisions in one transaction (group commit); ids per request."""
        rows: list[dict[str, Any]] = []
        ids: list[list[str]] = []
        for plan, pairs in groups:
            start = len(rows)
            rows.extend(self._rows(plan, pairs))
            ids.append([row["id"] for row in rows[start:]])
        if rows:
            # One executemany in one transaction: a 10,000-decision batch is one commit,
            # and SQLAlchemy Core skips building 10,000 ORM objects.
            with self.engine.begin() as connection:
                connection.execute(insert(DecisionRow.__table__), rows)  # type: ignore[attr-defined]
        return ids

    def _rows(self, plan: CompiledPlan, pairs: Iterable[tuple[Mapping[str, Any], Decision]]) -> list[dict[str, Any]]:
        paths = self._paths.get(plan.version)
        if paths is None:
            paths = self._paths[plan.version] = required_fields(plan) if self.inputs == "fields" else []
        rows: list[dict[str, Any]] = []
        now = _now()
        for profile, decision in pairs:
            readable = profile if isinstance(profile, dict) else dict(profile)
            kept = {".".join(p): v for p in paths if (v := lookup(readable, p)) is not None}
            rows.append({
                "id": str(uuid.uuid4()), "customer_id": decision.customer_id,
                "plan_version": decision.plan_version, "rule": decision.rule,
                "treatment": decision.treatment, "actions": json.dumps(list(decision.actions)),
                "channels": json.dumps(list(decision.channels)), "cost": decision.cost,
                "as_of": date.fromisoformat(decision.as_of), "created_at": now,
                "inputs": json.dumps(kept) if self.inputs == "fields" else None})
        return rows

    def history(self, customer_id: str, limit: int = 100) -> list[dict[str, Any]]:
        with Session(self.engine) as session:
            found = session.exec(select(DecisionRow).where(DecisionRow.customer_id == customer_id)
                                 .order_by(DecisionRow.created_at.desc()).limit(limit)).all()  # type: ignore[attr-defined]
            return [row_record(row) for row in found]

    def decision(self, decision_id: str) -> DecisionRow | None:
        with Session(self.engine) as session:
            return session.get(DecisionRow, decision_id)

    def plan_files(self, version: str) -> dict[str, str] | None:
        with Session(self.engine) as session:
            stored = session.get(PlanVersion, version)
            return None if stored is None else dict(json.loads(stored.files))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
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
