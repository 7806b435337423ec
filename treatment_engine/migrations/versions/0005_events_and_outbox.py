"""Customer events (the moments' correlation state is rebuilt from them after a restart)
and the outbox of fired moments that downstream services poll.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("type", sa.String(), nullable=False),  # a plan's event type: any length
        sa.Column("occurred_at", sa.Float(), nullable=False),
        sa.Column("body", sa.String(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_events_occurred", "events", ["occurred_at"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("moment", sa.String(), nullable=False),  # a plan's moment id: any length
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("fired_at", sa.Float(), nullable=False),
        sa.Column("decision_id", sa.String(36), nullable=True),
        sa.Column("payload", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_index("ix_events_occurred", table_name="events")
    op.drop_table("events")
