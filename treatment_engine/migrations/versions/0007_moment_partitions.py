"""Moments partitioned through the database: any replica stores events, one owner per
partition correlates them.

- ``event_partitions``: per partition, the last sequence number given to an event (taken
  under the row's lock by the inserting transaction, so within a partition sequence order
  is commit order) and the latest event time seen (the events' clock).
- ``customer_watermarks``: each customer's latest accepted event time; the late-event
  rule is checked against it, under its row lock, by the inserting transaction.
- ``moment_partitions``: who owns each partition (a lease with an expiry on the database's
  clock), how far its owner has processed (sequence number), and its clock's frontier.
- ``moment_owners``: the live processes that share the partitions.
- ``events`` gain their partition and sequence number; ``outbox`` rows the event that
  completed (or armed) the moment, unique with the moment: a moment fires once per event.

Events stored before this revision were correlated by a single process as they came:
they are numbered in time order and counted as processed.

Revision ID: 0007
Revises: 0006
"""

import zlib
from collections import Counter

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Fixed for the life of a database: customers are hashed into this many partitions. Frozen
# here (a migration must not change with the code); moments/partitions.py reads the count
# from the table.
PARTITIONS = 16


def upgrade() -> None:
    op.create_table(
        "event_partitions",
        sa.Column("partition_no", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),  # the last one given
        sa.Column("latest", sa.Float(), nullable=True),
    )
    op.create_table(
        "customer_watermarks",
        sa.Column("customer_id", sa.String(200), primary_key=True),
        sa.Column("latest", sa.Float(), nullable=False),
        # What `latest` was before the last update: the upsert that moves the watermark
        # returns it, so checking and moving a watermark is one statement.
        sa.Column("previous", sa.Float(), nullable=True),
    )
    op.create_table(
        "moment_partitions",
        sa.Column("partition_no", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("owner", sa.String(64), nullable=True),
        sa.Column("lease_expires", sa.Float(), nullable=True),
        sa.Column("processed_seq", sa.BigInteger(), nullable=False),
        sa.Column("clock", sa.Float(), nullable=True),
        sa.Column("clock_inclusive", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "moment_owners",
        sa.Column("owner", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("partition_no", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("event_id", sa.String(36), nullable=True))
    _number_stored_events(op.get_bind())
    with op.batch_alter_table("events") as batch:
        batch.alter_column("partition_no", existing_type=sa.Integer(), nullable=False)
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
    op.create_index("ux_events_partition_seq", "events", ["partition_no", "seq"], unique=True)
    op.create_index("ix_events_partition_time", "events", ["partition_no", "occurred_at"])
    op.create_index("ix_events_customer_time", "events", ["customer_id", "occurred_at"])
    op.drop_index("ix_events_occurred", table_name="events")
    op.create_index("ux_outbox_firing", "outbox", ["event_id", "moment"], unique=True)


def _number_stored_events(connection: sa.Connection) -> None:
    rows = connection.execute(sa.text("SELECT id, customer_id, occurred_at FROM events "
                                      "ORDER BY occurred_at, id")).all()
    counts: Counter[int] = Counter()
    latest: dict[int, float] = {}
    watermarks: dict[str, float] = {}
    numbered = []
    for row_id, customer, when in rows:
        part = zlib.crc32(customer.encode("utf-8")) % PARTITIONS  # as moments/partitions.py
        counts[part] += 1
        numbered.append({"id": row_id, "p": part, "s": counts[part]})
        latest[part] = when
        watermarks[customer] = when
    if numbered:
        connection.execute(sa.text("UPDATE events SET partition_no = :p, seq = :s WHERE id = :id"), numbered)
    if watermarks:
        connection.execute(sa.text("INSERT INTO customer_watermarks (customer_id, latest) VALUES (:c, :t)"),
                           [{"c": c, "t": t} for c, t in watermarks.items()])
    clock = max(latest.values()) if latest else None
    connection.execute(sa.text("INSERT INTO event_partitions (partition_no, next_seq, latest) VALUES (:p, :n, :t)"),
                       [{"p": p, "n": counts[p], "t": latest.get(p)} for p in range(PARTITIONS)])
    connection.execute(sa.text("INSERT INTO moment_partitions (partition_no, processed_seq, clock, clock_inclusive) "
                               "VALUES (:p, :n, :c, :i)"),
                       [{"p": p, "n": counts[p], "c": clock, "i": False} for p in range(PARTITIONS)])


def downgrade() -> None:
    op.drop_index("ux_outbox_firing", table_name="outbox")
    op.create_index("ix_events_occurred", "events", ["occurred_at"])
    op.drop_index("ix_events_customer_time", table_name="events")
    op.drop_index("ix_events_partition_time", table_name="events")
    op.drop_index("ux_events_partition_seq", table_name="events")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("event_id")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("seq")
        batch.drop_column("partition_no")
    for table in ("moment_owners", "moment_partitions", "customer_watermarks", "event_partitions"):
        op.drop_table(table)
