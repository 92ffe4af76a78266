"""batch manifests (the leaves of each Merkle batch, by SHA-256); agreements keep block hashes

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "batch_manifests",
        sa.Column("sha256", text(length=66), nullable=False),
        sa.Column("root", text(length=66), nullable=False),
        sa.Column("lender", text(length=42), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index("ix_batch_manifests_root", "batch_manifests", ["root"])
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.add_column(sa.Column("block_hash", text(length=66), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("agreements", schema=None) as batch_op:
        batch_op.drop_column("block_hash")
    op.drop_index("ix_batch_manifests_root", table_name="batch_manifests")
    op.drop_table("batch_manifests")
