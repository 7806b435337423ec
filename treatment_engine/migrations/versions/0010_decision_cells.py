"""Each logged decision's segment, lifecycle stage and value tier, so results can be
measured by segment x stage x tier cell from the log (appendices I and K), not only from
a decisions file. Decisions logged before this column have none (NULL).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        for name in ("segment", "lifecycle_stage", "value_tier"):
            batch.add_column(sa.Column(name, sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        for name in ("value_tier", "lifecycle_stage", "segment"):
            batch.drop_column(name)
