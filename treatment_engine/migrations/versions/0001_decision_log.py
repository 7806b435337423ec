"""The decision log and plan versions, as the first release created them.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plan_versions",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("files", sa.String(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("plan_version", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(), nullable=False),
        sa.Column("treatment", sa.String(16), nullable=False),
        sa.Column("actions", sa.String(), nullable=False),
        sa.Column("channels", sa.String(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("inputs", sa.String(), nullable=True),
    )
    op.create_index("ix_decisions_customer_created", "decisions", ["customer_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_decisions_customer_created", table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("plan_versions")
