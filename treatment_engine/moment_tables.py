"""The tables behind partitioned moments (migration 0007); see docs/design.md.

Events are numbered per partition under the partition's row lock, customers' watermarks
enforce the late-event rule, and each partition has one owner at a time (a lease on the
database's clock) who records how far it has processed.
"""

from __future__ import annotations

from sqlmodel import BigInteger, Field, SQLModel


class EventPartition(SQLModel, table=True):
    """Per partition: the last sequence number given to an event, and the latest event time."""

    __tablename__ = "event_partitions"

    partition_no: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    next_seq: int = Field(sa_type=BigInteger)
    latest: float | None = None


class CustomerWatermark(SQLModel, table=True):
    """A customer's latest accepted event time: an older event is late."""

    __tablename__ = "customer_watermarks"

    customer_id: str = Field(primary_key=True, max_length=200)
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


registered = (EventPartition, CustomerWatermark, MomentPartition, MomentOwner)
