"""Contact caps read a customer's recent decisions by day.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_decisions_customer_as_of", "decisions", ["customer_id", "as_of"])


def downgrade() -> None:
    op.drop_index("ix_decisions_customer_as_of", table_name="decisions")
