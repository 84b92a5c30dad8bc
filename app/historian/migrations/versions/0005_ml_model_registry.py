"""The anomaly model registry in ``ml_models``: a version per training run, the training
window and source, the feature spec (fingerprint and names), metrics, the model file's path
and SHA-256, when it was made and whether it is the active one.

Rows already in ``ml_models`` stay as they are (the new columns NULL, not active).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = (
    ("version", sa.Integer()),
    ("source", sa.String(length=64)),
    ("window_start", sa.String(length=40)),
    ("window_end", sa.String(length=40)),
    ("feature_fingerprint", sa.String(length=64)),
    ("features", sa.Text()),
    ("metrics", sa.Text()),
    ("file_path", sa.Text()),
    ("file_sha256", sa.String(length=64)),
    ("created_at", sa.String(length=40)),
)


def upgrade() -> None:
    with op.batch_alter_table("ml_models") as batch_op:
        for name, type_ in _COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.add_column(sa.Column("is_active", sa.Boolean(), nullable=False,
                                      server_default="0"))
        batch_op.create_index("ix_ml_models_version", ["version"])


def downgrade() -> None:
    with op.batch_alter_table("ml_models") as batch_op:
        batch_op.drop_index("ix_ml_models_version")
        batch_op.drop_column("is_active")
        for name, _ in reversed(_COLUMNS):
            batch_op.drop_column(name)
