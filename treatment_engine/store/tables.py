"""The decision log's tables (sqlmodel); alembic migrations build exactly these."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

# The log keys decisions and events by customer id; longer ids are refused by the service
# with that reason rather than failing in the database (PostgreSQL enforces the length).
CUSTOMER_ID_MAX = 200


class PlanVersion(SQLModel, table=True):
    __tablename__ = "plan_versions"

    version: str = Field(primary_key=True, max_length=32)
    files: str  # JSON {relative path: text}
    loaded_at: datetime


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


# The decisions table's columns in the order a RowMaker's rows hold them.
INSERT_COLUMNS = ("id", "customer_id", "plan_version", "rule", "treatment", "actions", "channels",
                  "channel", "cost", "as_of", "created_at", "inputs")


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
