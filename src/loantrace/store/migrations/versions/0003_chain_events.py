"""indexed chain events and blocks, fundflow address

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:59:09.201806
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "chain_events",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("contract", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("event", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("loan_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("args_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "tx_hash", "log_index"),
    )
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chain_events_block_number"), ["block_number"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_chain_events_event"), ["event"], unique=False)
        batch_op.create_index(batch_op.f("ix_chain_events_loan_id"), ["loan_id"], unique=False)

    op.create_table(
        "indexed_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("parent_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.PrimaryKeyConstraint("chain_id", "number"),
    )
    with op.batch_alter_table("chain_binding", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "fundflow_address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=True
            )
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("chain_binding", schema=None) as batch_op:
        batch_op.drop_column("fundflow_address")

    op.drop_table("indexed_blocks")
    with op.batch_alter_table("chain_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chain_events_loan_id"))
        batch_op.drop_index(batch_op.f("ix_chain_events_event"))
        batch_op.drop_index(batch_op.f("ix_chain_events_block_number"))

    op.drop_table("chain_events")
