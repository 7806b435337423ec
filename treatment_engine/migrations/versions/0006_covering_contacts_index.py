"""The customer index also holds what contact limits count (treatment and channel), so
counting a customer's window reads the index alone: without them every logged decision in
the window was a lookup into the table, and a busy customer's window grew slower to read.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_decisions_contacts", "decisions", ["customer_id", "as_of", "treatment", "channel"])
    op.drop_index("ix_decisions_customer_as_of", table_name="decisions")


def downgrade() -> None:
    op.create_index("ix_decisions_customer_as_of", "decisions", ["customer_id", "as_of"])
    op.drop_index("ix_decisions_contacts", table_name="decisions")
