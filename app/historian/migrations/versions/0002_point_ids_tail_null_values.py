"""Permanent point ids (retired points keep their history), per-point tail samples, and
NULL for the value of a sample that had none.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ts_tail",
        sa.Column("point_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("t_ns", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("point_id"),
    )
    with op.batch_alter_table("points") as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.String(length=32), nullable=True))
    with op.batch_alter_table("ts_recent") as batch_op:
        batch_op.alter_column("value", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("ts_recent") as batch_op:
        batch_op.alter_column("value", existing_type=sa.Float(), nullable=False)
    with op.batch_alter_table("points") as batch_op:
        batch_op.drop_column("retired_at")
    op.drop_table("ts_tail")
