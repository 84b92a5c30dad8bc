"""Initial schema: the configuration store and the time-series tables, as first released.

Frozen as explicit operations: this revision must never change with the models. A change to
the models is a new revision (``alembic revision --autogenerate -m "…"`` from the project
root, then review it).

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
        "alarm_rules",
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("asset_type", sa.String(length=32), nullable=True),
        sa.Column("parameter", sa.String(length=96), nullable=False),
        sa.Column("condition", sa.String(length=4), nullable=False),
        sa.Column("threshold_value", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("deadband", sa.Float(), nullable=False),
        sa.Column("on_delay_s", sa.Float(), nullable=False),
        sa.Column("off_delay_s", sa.Float(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("rule_id"),
    )
    op.create_table(
        "assets",
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("asset_type", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=True),
        sa.Column("commissioned_date", sa.String(length=10), nullable=True),
        sa.Column("manufacturer", sa.String(length=100), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("rated_voltage_kv", sa.Float(), nullable=True),
        sa.Column("rated_current_a", sa.Float(), nullable=True),
        sa.Column("rated_power_mva", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("asset_id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("user", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=96), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("before", sa.String(length=64), nullable=True),
        sa.Column("after", sa.String(length=64), nullable=True),
        sa.Column("result", sa.String(length=48), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    op.create_table(
        "dss_versions",
        sa.Column("version_id", sa.String(length=36), nullable=False),
        sa.Column("version_number", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("version_id"),
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=True),
        sa.Column("tag", sa.String(length=96), nullable=True),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("time_ms", sa.BigInteger(), nullable=False),
        sa.Column("before", sa.String(length=64), nullable=True),
        sa.Column("after", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=48), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index("ix_events_asset", "events", ["asset_id"], unique=False)
    op.create_index("ix_events_time", "events", ["time_ms"], unique=False)
    op.create_table(
        "ml_models",
        sa.Column("model_id", sa.String(length=36), nullable=False),
        sa.Column("model_type", sa.String(length=32), nullable=False),
        sa.Column("asset_type", sa.String(length=32), nullable=True),
        sa.Column("model_data", sa.LargeBinary(), nullable=True),
        sa.Column("training_date", sa.String(length=32), nullable=True),
        sa.Column("accuracy_score", sa.Float(), nullable=True),
        sa.Column("feature_importance", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("model_id"),
    )
    op.create_table(
        "ts_block",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("t_start_ns", sa.BigInteger(), nullable=False),
        sa.Column("t_end_ns", sa.BigInteger(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("point_id", "t_start_ns"),
    )
    op.create_table(
        "ts_recent",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("t_ns", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("point_id", "t_ns"),
    )
    op.create_table(
        "ts_rollup",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=1), nullable=False),
        sa.Column("t_ns", sa.BigInteger(), nullable=False),
        sa.Column("vmin", sa.Float(), nullable=False),
        sa.Column("vmax", sa.Float(), nullable=False),
        sa.Column("vmean", sa.Float(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("point_id", "period", "t_ns"),
    )
    op.create_table(
        "users",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.String(length=32), nullable=True),
        sa.Column("last_login", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "maintenance_schedule",
        sa.Column("schedule_id", sa.String(length=36), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("maintenance_type", sa.String(length=16), nullable=False),
        sa.Column("scheduled_date", sa.String(length=10), nullable=True),
        sa.Column("completed_date", sa.String(length=10), nullable=True),
        sa.Column("performed_by", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.asset_id"],
        ),
        sa.PrimaryKeyConstraint("schedule_id"),
    )
    op.create_table(
        "points",
        sa.Column("point_id", sa.Integer(), nullable=False),
        sa.Column("tag", sa.String(length=96), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("quantity", sa.String(length=48), nullable=False),
        sa.Column("unit", sa.String(length=16), nullable=False),
        sa.Column("deviation", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.asset_id"],
        ),
        sa.PrimaryKeyConstraint("point_id"),
        sa.UniqueConstraint("tag"),
    )


def downgrade() -> None:
    op.drop_table("points")
    op.drop_table("maintenance_schedule")
    op.drop_table("users")
    op.drop_table("ts_rollup")
    op.drop_table("ts_recent")
    op.drop_table("ts_block")
    op.drop_table("ml_models")
    op.drop_index("ix_events_time", table_name="events")
    op.drop_index("ix_events_asset", table_name="events")
    op.drop_table("events")
    op.drop_table("dss_versions")
    op.drop_table("audit_log")
    op.drop_table("assets")
    op.drop_table("alarm_rules")
