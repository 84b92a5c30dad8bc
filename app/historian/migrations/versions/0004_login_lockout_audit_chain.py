"""Lock-out state of each account (failed logins survive a restart) and the audit log's
hash chain (a row number and an HMAC per row, and the chain's head).

Rows already in ``audit_log`` stay as they are (``seq`` and ``row_hash`` NULL): the chain
starts with the first row written after this migration, and ``gridtwin audit --verify``
reports the older rows as not covered.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("last_failed_at", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("locked_until", sa.String(length=32), nullable=True))
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_log_seq", ["seq"], unique=True)
    chain = op.create_table(
        "audit_chain",
        sa.Column("chain_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=16), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("chain_id"),
    )
    op.bulk_insert(chain, [{"chain_id": 1, "seq": 0, "row_hash": "", "key_id": None,
                            "updated_ms": None}])


def downgrade() -> None:
    op.drop_table("audit_chain")
    with op.batch_alter_table("audit_log") as batch_op:
        batch_op.drop_index("ix_audit_log_seq")
        batch_op.drop_column("row_hash")
        batch_op.drop_column("seq")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("last_failed_at")
        batch_op.drop_column("failed_logins")
