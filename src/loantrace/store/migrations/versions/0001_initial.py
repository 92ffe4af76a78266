"""agreements, batches and the chain binding

Revision ID: 0001
Revises:
Create Date: 2026-11-22 11:05:25.867712
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "batches",
        sa.Column("root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("lender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("root"),
    )
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_batches_lender"), ["lender"], unique=False)

    op.create_table(
        "chain_binding",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("genesis_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("registry_address", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "agreements",
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("lender", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column("borrower", sqlmodel.sql.sqltypes.AutoString(length=42), nullable=False),
        sa.Column(
            "borrower_commitment", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False
        ),
        sa.Column("terms_digest", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("terms_json", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("supersedes", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("lender_signature", sqlmodel.sql.sqltypes.AutoString(length=132), nullable=False),
        sa.Column(
            "borrower_signature", sqlmodel.sql.sqltypes.AutoString(length=132), nullable=False
        ),
        sa.Column("mode", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("superseded_by", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("revoke_reason", sa.Integer(), nullable=True),
        sa.Column("tx_hash", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_timestamp", sa.BigInteger(), nullable=False),
        sa.Column("batch_root", sqlmodel.sql.sqltypes.AutoString(length=66), nullable=True),
        sa.Column("leaf_index", sa.Integer(), nullable=True),
        sa.Column("proof_json", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_root"],
            ["batches.root"],
        ),
        sa.PrimaryKeyConstraint("digest"),
    )
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_agreements_lender"), ["lender"], unique=False)
        batch_op.create_index(batch_op.f("ix_agreements_status"), ["status"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_agreements_status"))
        batch_op.drop_index(batch_op.f("ix_agreements_lender"))

    op.drop_table("agreements")
    op.drop_table("chain_binding")
    with op.batch_alter_table("batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_batches_lender"))

    op.drop_table("batches")
