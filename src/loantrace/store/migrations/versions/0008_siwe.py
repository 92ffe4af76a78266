"""borrower sign-in (EIP-4361): single-use nonces, and API keys bound to a borrower

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    text = sqlmodel.sql.sqltypes.AutoString
    moment = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "siwe_nonces",
        sa.Column("nonce", text(length=64), nullable=False),
        sa.Column("created_at", moment(), nullable=False),
        sa.Column("expires_at", moment(), nullable=False),
        sa.Column("used_at", moment(), nullable=True),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("borrower", text(length=42), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("borrower")
    op.drop_table("siwe_nonces")
