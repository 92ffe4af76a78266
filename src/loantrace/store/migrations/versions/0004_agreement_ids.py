"""agreement ids: records keyed by the signed agreement, loans by agreement id

Contracts v2 key every record by the agreement id (the EIP-712 hash both parties signed)
and loans by that id, so the same document digest may be notarised by several lenders.
A v2 deployment is a new set of contracts: a database bound to v1 contracts refuses to
start against them, so loan and movement rows (chain-derived, v1 ids) start empty.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("agreement_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_agreements_agreement_id"), ["agreement_id"], unique=True
        )
    op.drop_table("movements")
    op.drop_table("loans")
    op.create_table(
        "loans",
        sa.Column("loan_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("lender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column(
            "borrower_commitment", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False
        ),
        sa.Column("principal", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.Column("apr_bps", sa.Integer(), nullable=False),
        sa.Column("rate_cap_bps", sa.Integer(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("repayment_method", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("start_at", sa.BigInteger(), nullable=False),
        sa.Column("schedule_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["digest"], ["agreements.digest"]),
        sa.PrimaryKeyConstraint("loan_id"),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loans_lender"), ["lender"], unique=False)
        batch_op.create_index(batch_op.f("ix_loans_digest"), ["digest"], unique=False)
    op.create_table(
        "movements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("loan_id", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("lender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("external_ref", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["loan_id"], ["loans.loan_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("lender", "external_ref", name="uq_movements_lender_ref"),
    )
    with op.batch_alter_table("movements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_movements_loan_id"), ["loan_id"], unique=False)


def downgrade() -> None:
    """Revert this revision (v1 loan rows are not restored)."""
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_agreement_id"))
        batch_op.drop_column("agreement_id")
