"""Initial schema: configuration store and time-series tables.

Revision ID: 0001
Revises:
"""

from alembic import op

from app.historian.models import Base

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The baseline is the models as first released; later revisions use explicit ops.
    Base.metadata.create_all(bind=op.get_bind())


def downgrade() -> None:
    Base.metadata.drop_all(bind=op.get_bind())
