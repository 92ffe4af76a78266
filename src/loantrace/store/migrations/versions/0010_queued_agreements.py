"""queued agreements: accepted for the next Merkle batch (202), kept until it is recorded

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    text = sqlmodel.sql.sqltypes.AutoString
    op.create_table(
        "queued_agreements",
        sa.Column("digest", text(length=66), nullable=False),
        sa.Column("lender", text(length=42), nullable=False),
        sa.Column("borrower", text(length=42), nullable=False),
        sa.Column("borrower_commitment", text(length=66), nullable=False),
        sa.Column("terms_digest", text(length=66), nullable=False),
        sa.Column("terms_json", text(), nullable=False),
        sa.Column("lender_signature", text(length=132), nullable=False),
        sa.Column("borrower_signature", text(length=132), nullable=False),
        sa.Column("accepted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("batch_root", text(length=66), nullable=True),
        sa.PrimaryKeyConstraint("digest"),
    )
    op.create_index(
        "ix_queued_agreements_next",
        "queued_agreements",
        ["lender", "batch_root", "accepted_at", "digest"],
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_queued_agreements_next", table_name="queued_agreements")
    op.drop_table("queued_agreements")
