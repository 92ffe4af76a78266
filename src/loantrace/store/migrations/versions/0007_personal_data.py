"""borrowers: personal data sealed under a per-borrower data key

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SEALED_OR_ERASED = (
    "(erased_at IS NULL AND wrapped_key IS NOT NULL AND sealed IS NOT NULL)"
    " OR (erased_at IS NOT NULL AND wrapped_key IS NULL AND sealed IS NULL)"
)


def upgrade() -> None:
    """Apply this revision."""
    text = sqlmodel.sql.sqltypes.AutoString
    moment = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "borrowers",
        sa.Column("commitment", text(length=66), nullable=False),
        sa.Column("lender", text(length=42), nullable=False),
        sa.Column("account_commitment", text(length=66), nullable=False),
        sa.Column("key_id", text(length=32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", moment(), nullable=False),
        sa.Column("erased_at", moment(), nullable=True),
        sa.CheckConstraint(SEALED_OR_ERASED, name="ck_borrowers_sealed_or_erased"),
        sa.PrimaryKeyConstraint("commitment"),
    )
    with op.batch_alter_table("borrowers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_borrowers_key_id"), ["key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_borrowers_lender"), ["lender"], unique=False)


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("borrowers")
