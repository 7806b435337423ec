"""The decision log's tables (sqlmodel); alembic migrations build exactly these."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Index
from sqlmodel import Field, SQLModel

# The log keys decisions and events by customer id; longer ids are refused by the service
# with that reason rather than failing in the database (PostgreSQL enforces the length).
CUSTOMER_ID_MAX = 200


def unkeyable(key: str) -> bool:
    """Whether no row can be keyed by ``key``: PostgreSQL's text holds no NUL character
    (its driver refuses to send one, the query fails), so nothing is stored under such a
    key, and a lookup by it finds nothing without asking the database."""
    return "\x00" in key


class PlanVersion(SQLModel, table=True):
    __tablename__ = "plan_versions"

    version: str = Field(primary_key=True, max_length=32)
    files: str  # JSON {relative path: text}
    loaded_at: datetime


class PlanRelease(SQLModel, table=True):
    """A plan version put live by a replica; every replica serves the newest (service/plan_sync.py)."""

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
    # Experiments (appendix H, migration 0009): the arm that decided, the experiment and
    # the customer's bucket in it, and what the champion would have given (JSON).
    arm: str = Field(default="champion")
    experiment: str | None = None
    bucket: int | None = None
    would_have: str | None = None
    # The cell the decision resolved (migration 0010), to measure results by cell.
    segment: str | None = None
    lifecycle_stage: str | None = None
    value_tier: str | None = None


# The decisions table's columns in the order a RowMaker's rows hold them.
INSERT_COLUMNS = ("id", "customer_id", "plan_version", "rule", "treatment", "actions", "channels",
                  "channel", "cost", "as_of", "created_at", "inputs", "arm", "experiment", "bucket", "would_have",
                  "segment", "lifecycle_stage", "value_tier")


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
    __table_args__ = (Index("ux_events_partition_seq", "partition_no", "seq", unique=True),
                      Index("ix_events_partition_time", "partition_no", "occurred_at"),
                      Index("ix_events_customer_time", "customer_id", "occurred_at"))

    id: str = Field(primary_key=True, max_length=36)  # a UUIDv7, like decisions
    customer_id: str = Field(max_length=CUSTOMER_ID_MAX)
    type: str
    occurred_at: float  # seconds since the epoch: the event's own clock
    body: str  # the event as received (JSON)
    received_at: datetime
    partition_no: int  # moments/partitions.py; its owner processes it in `seq` order
    seq: int = Field(sa_type=BigInteger)


class OutboxRow(SQLModel, table=True):
    """A fired moment and its decision, for downstream services to poll in id order."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ux_outbox_firing", "event_id", "moment", unique=True),)

    id: int | None = Field(default=None, primary_key=True)
    moment: str
    customer_id: str = Field(max_length=CUSTOMER_ID_MAX)
    fired_at: float
    decision_id: str | None = Field(default=None, max_length=36)
    payload: str  # JSON: the fired moment with its decision
    created_at: datetime
    # The event that completed the moment (for an absence, armed it): a moment fires at most
    # once per event, so this and `moment` identify a firing (ux_outbox_firing).
    event_id: str | None = Field(default=None, max_length=36)


# Moments partitioned through the database (migration 0007; docs/design.md): events are
# numbered per partition under the partition's row lock, customers' watermarks enforce the
# late-event rule, and each partition has one owner at a time (a lease on the database's
# clock) who records how far it has processed.


class EventPartition(SQLModel, table=True):
    """Per partition: the last sequence number given to an event, and the latest event time."""

    __tablename__ = "event_partitions"

    partition_no: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    next_seq: int = Field(sa_type=BigInteger)
    latest: float | None = None


class CustomerWatermark(SQLModel, table=True):
    """A customer's latest accepted event time: an older event is late."""

    __tablename__ = "customer_watermarks"

    customer_id: str = Field(primary_key=True, max_length=CUSTOMER_ID_MAX)
    latest: float
    previous: float | None = None  # `latest` before the last update (returned by the upsert)


class MomentPartition(SQLModel, table=True):
    """Who owns a partition, until when, how far it has processed, and its clock's frontier."""

    __tablename__ = "moment_partitions"

    partition_no: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    owner: str | None = Field(default=None, max_length=64)
    lease_expires: float | None = None  # seconds since the epoch, on the database's clock
    processed_seq: int = Field(sa_type=BigInteger)
    clock: float | None = None
    clock_inclusive: bool


class MomentOwner(SQLModel, table=True):
    """A live process taking part in the partitions; each takes a fair share of them."""

    __tablename__ = "moment_owners"

    owner: str = Field(primary_key=True, max_length=64)
    expires_at: float
