"""Alarm-rule conditions up to 8 characters: the seed's ``range`` did not fit ``String(4)``
(PostgreSQL refused it; SQLite does not enforce lengths).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alarm_rules") as batch_op:
        batch_op.alter_column("condition", existing_type=sa.String(length=4),
                              type_=sa.String(length=8), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("alarm_rules") as batch_op:
        batch_op.alter_column("condition", existing_type=sa.String(length=8),
                              type_=sa.String(length=4), existing_nullable=False)
