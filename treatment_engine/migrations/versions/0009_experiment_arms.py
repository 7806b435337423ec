"""Experiments (docs/plan-format.md, appendix H): each logged decision's arm, experiment,
bucket and what the champion would have given, so results can be measured by arm.
Decisions logged before this column were all on the champion.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        batch.add_column(sa.Column("arm", sa.String(), nullable=False, server_default="champion"))
        batch.add_column(sa.Column("experiment", sa.String(), nullable=True))
        batch.add_column(sa.Column("bucket", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("would_have", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("decisions") as batch:
        for name in ("would_have", "bucket", "experiment", "arm"):
            batch.drop_column(name)
