"""transaction outbox

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "outbox",
        sa.Column("tx_hash", text(length=66), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", text(length=42), nullable=False),
        sa.Column("nonce", sa.BigInteger(), nullable=False),
        sa.Column("raw", text(), nullable=False),
        sa.Column("to", text(length=42), nullable=True),
        sa.Column("data", text(), nullable=False),
        sa.Column("intent", text(length=200), nullable=True),
        sa.Column("status", text(length=16), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("max_fee_per_gas", text(length=80), nullable=True),
        sa.Column("max_priority_fee_per_gas", text(length=80), nullable=True),
        sa.Column("gas", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("tx_hash"),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        for column in ("chain_id", "sender", "intent", "status"):
            batch_op.create_index(batch_op.f(f"ix_outbox_{column}"), [column], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("outbox")
