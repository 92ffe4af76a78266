"""api keys, the hash-chained audit log, webhook secret rotation

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    text = sqlmodel.sql.sqltypes.AutoString
    moment = sqlmodel.sql.sqltypes.UTCDateTime
    op.create_table(
        "api_keys",
        sa.Column("id", text(length=32), nullable=False),
        sa.Column("token_hash", text(length=64), nullable=False),
        sa.Column("role", text(length=16), nullable=False),
        sa.Column("lender", text(length=42), nullable=True),
        sa.Column("name", text(length=120), nullable=False),
        sa.Column("created_by", text(length=32), nullable=False),
        sa.Column("created_at", moment(), nullable=False),
        sa.Column("expires_at", moment(), nullable=False),
        sa.Column("revoked_at", moment(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_lender"), ["lender"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", moment(), nullable=False),
        sa.Column("key_id", text(length=32), nullable=False),
        sa.Column("role", text(length=16), nullable=False),
        sa.Column("tenant", text(length=42), nullable=True),
        sa.Column("method", text(length=8), nullable=False),
        sa.Column("route", text(length=200), nullable=False),
        sa.Column("object", text(length=200), nullable=True),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("prev_hash", text(length=64), nullable=False),
        sa.Column("hash", text(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("hash"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_key_id"), ["key_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_tenant"), ["tenant"], unique=False)

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("previous_secret_encrypted", text(), nullable=True))
        batch_op.add_column(sa.Column("previous_until", moment(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("previous_until")
        batch_op.drop_column("previous_secret_encrypted")
    op.drop_table("audit_log")
    op.drop_table("api_keys")
