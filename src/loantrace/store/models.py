"""Table rows. Hex values are stored as 0x-prefixed lowercase strings."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)


class ChainBindingRow(SQLModel, table=True):
    """The one chain and contract this database belongs to."""

    __tablename__ = "chain_binding"

    id: int = Field(default=1, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    genesis_hash: str = Field(max_length=66)
    registry_address: str = Field(max_length=42)
    created_at: datetime = Field(default_factory=utcnow)


class BatchRow(SQLModel, table=True):
    """A Merkle root anchored on chain."""

    __tablename__ = "batches"

    root: str = Field(primary_key=True, max_length=66)
    lender: str = Field(max_length=42, index=True)
    count: int
    tx_hash: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)
    block_timestamp: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class AgreementRow(SQLModel, table=True):
    """A notarised agreement (singly or in a batch) and where its evidence is."""

    __tablename__ = "agreements"

    digest: str = Field(primary_key=True, max_length=66)
    lender: str = Field(max_length=42, index=True)
    borrower: str = Field(max_length=42)
    borrower_commitment: str = Field(max_length=66)
    terms_digest: str = Field(max_length=66)
    terms_json: str
    supersedes: str | None = Field(default=None, max_length=66)
    lender_signature: str = Field(max_length=132)
    borrower_signature: str = Field(max_length=132)
    mode: str = Field(max_length=8)  # "single" | "batch"
    status: str = Field(max_length=16, index=True)  # notarised | superseded | revoked
    superseded_by: str | None = Field(default=None, max_length=66)
    revoke_reason: int | None = None
    tx_hash: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)
    block_timestamp: int = Field(sa_type=BigInteger)
    batch_root: str | None = Field(default=None, foreign_key="batches.root", max_length=66)
    leaf_index: int | None = None
    proof_json: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
