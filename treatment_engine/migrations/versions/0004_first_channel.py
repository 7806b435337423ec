"""The channel a decision used (its first), so contact counts are a GROUP BY in the database;
one customer index instead of two (history sorts a customer's few rows by time itself),
since every index is paid for on every insert.

Revision ID: 0004
Revises: 0003
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("channel", sa.String(), nullable=True))  # a plan's channel id: any length
    op.drop_index("ix_decisions_customer_created", table_name="decisions")
    decisions = sa.table("decisions", sa.column("id", sa.String), sa.column("channels", sa.String),
                         sa.column("channel", sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(decisions.c.id, decisions.c.channels)
                              .where(decisions.c.channels != "[]")).all()
    for row_id, channels in rows:  # decisions logged before this column: their first channel
        first = next(iter(json.loads(channels)), None)
        connection.execute(decisions.update().where(decisions.c.id == row_id).values(channel=first))


def downgrade() -> None:
    op.create_index("ix_decisions_customer_created", "decisions", ["customer_id", "created_at"])
    with op.batch_alter_table("decisions") as batch:
        batch.drop_column("channel")
