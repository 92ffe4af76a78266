"""Table rows. Hex values are stored as 0x-prefixed lowercase strings."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Index, Text, UniqueConstraint
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
    ledger_address: str | None = Field(default=None, max_length=42)
    fundflow_address: str | None = Field(default=None, max_length=42)
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


class ManifestRow(SQLModel, table=True):
    """A batch manifest (its leaves, canonical JSON), stored before its root is anchored."""

    __tablename__ = "batch_manifests"

    sha256: str = Field(primary_key=True, max_length=66)
    root: str = Field(max_length=66, index=True)
    lender: str = Field(max_length=42)
    body: str = Field(sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow)


class AgreementRow(SQLModel, table=True):
    """A notarised agreement (singly or in a batch) and where its evidence is."""

    __tablename__ = "agreements"

    digest: str = Field(primary_key=True, max_length=66)
    agreement_id: str | None = Field(default=None, max_length=66, unique=True, index=True)
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
    block_hash: str | None = Field(default=None, max_length=66)  # None: recorded before 0009
    batch_root: str | None = Field(default=None, foreign_key="batches.root", max_length=66)
    leaf_index: int | None = None
    proof_json: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class QueuedAgreementRow(SQLModel, table=True):
    """A checked, signed agreement accepted for the next Merkle batch, until its batch is
    recorded; `batch_root` is set when a batcher claims it, before anchoring. A batch's
    leaves are its agreements in (accepted_at, digest) order."""

    __tablename__ = "queued_agreements"
    __table_args__ = (
        Index("ix_queued_agreements_next", "lender", "batch_root", "accepted_at", "digest"),
    )

    digest: str = Field(primary_key=True, max_length=66)
    lender: str = Field(max_length=42)
    borrower: str = Field(max_length=42)
    borrower_commitment: str = Field(max_length=66)
    terms_digest: str = Field(max_length=66)
    terms_json: str
    lender_signature: str = Field(max_length=132)
    borrower_signature: str = Field(max_length=132)
    accepted_at: datetime = Field(default_factory=utcnow)
    batch_root: str | None = Field(default=None, max_length=66)


class LoanRow(SQLModel, table=True):
    """A loan registered on the LoanLedger for a notarised agreement (loan id = agreement id)."""

    __tablename__ = "loans"

    loan_id: str = Field(primary_key=True, max_length=66)
    digest: str = Field(foreign_key="agreements.digest", max_length=66, index=True)
    lender: str = Field(max_length=42, index=True)
    borrower_commitment: str = Field(max_length=66)
    principal: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3)
    apr_bps: int
    rate_cap_bps: int
    purpose: str = Field(max_length=32)
    repayment_method: str = Field(max_length=16)
    start_at: int = Field(sa_type=BigInteger)
    schedule_json: str
    tx_hash: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class MovementRow(SQLModel, table=True):
    """A disbursement or repayment recorded on chain."""

    __tablename__ = "movements"
    __table_args__ = (UniqueConstraint("lender", "external_ref", name="uq_movements_lender_ref"),)

    id: int | None = Field(default=None, primary_key=True)
    loan_id: str = Field(foreign_key="loans.loan_id", max_length=66, index=True)
    lender: str = Field(max_length=42)
    kind: str = Field(max_length=16)  # disbursement | repayment
    amount: int = Field(sa_type=BigInteger)
    account: str = Field(max_length=66)  # to (disbursement) or from (repayment) commitment
    external_ref: str = Field(max_length=128)
    tx_hash: str = Field(max_length=66)
    block_number: int = Field(sa_type=BigInteger)
    block_timestamp: int = Field(sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)


class CursorRow(SQLModel, table=True):
    """How far a chain reader (the reminder scanner) has read, by name."""

    __tablename__ = "cursors"

    name: str = Field(primary_key=True, max_length=64)
    block_number: int = Field(sa_type=BigInteger)
    updated_at: datetime = Field(default_factory=utcnow)


class WebhookRow(SQLModel, table=True):
    """A lender's endpoint for reminder deliveries; its secret is encrypted at rest."""

    __tablename__ = "webhooks"

    id: int | None = Field(default=None, primary_key=True)
    lender: str = Field(max_length=42, index=True)
    url: str = Field(max_length=2048)
    secret_encrypted: str
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    # During a rotation the previous secret also signs, until `previous_until`.
    previous_secret_encrypted: str | None = None
    previous_until: datetime | None = None


class ReminderRow(SQLModel, table=True):
    """A `ReminderRaised` event read from the chain, recorded once."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("chain_id", "tx_hash", "log_index", name="uq_reminders_event"),
    )

    id: int | None = Field(default=None, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    tx_hash: str = Field(max_length=66)
    log_index: int
    block_number: int = Field(sa_type=BigInteger)
    loan_id: str = Field(max_length=66, index=True)
    lender: str = Field(max_length=42, index=True)
    instalment: int
    stage: int
    stage_name: str = Field(max_length=32)
    due_at: int = Field(sa_type=BigInteger)
    amount_due: int = Field(sa_type=BigInteger)
    days_past_due: int
    idempotency_key: str = Field(max_length=64, unique=True)
    payload_json: str
    created_at: datetime = Field(default_factory=utcnow)


class DeliveryRow(SQLModel, table=True):
    """One reminder to one webhook: pending until delivered, or dead after N failures."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "reminder_id", name="uq_deliveries_webhook_reminder"),
    )

    id: int | None = Field(default=None, primary_key=True)
    webhook_id: int = Field(foreign_key="webhooks.id", index=True)
    reminder_id: int = Field(foreign_key="reminders.id")
    idempotency_key: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ChainEventRow(SQLModel, table=True):
    """An event of one of our contracts, copied from the chain by the indexer."""

    __tablename__ = "chain_events"

    chain_id: int = Field(sa_type=BigInteger, primary_key=True)
    tx_hash: str = Field(max_length=66, primary_key=True)
    log_index: int = Field(primary_key=True)
    block_number: int = Field(sa_type=BigInteger, index=True)
    block_hash: str = Field(max_length=66)
    contract: str = Field(max_length=42)
    event: str = Field(max_length=64, index=True)
    loan_id: str | None = Field(default=None, max_length=66, index=True)
    args_json: str


class IndexedBlockRow(SQLModel, table=True):
    """A block the indexer has read: its hash and parent, to detect reorganisations."""

    __tablename__ = "indexed_blocks"

    chain_id: int = Field(sa_type=BigInteger, primary_key=True)
    number: int = Field(sa_type=BigInteger, primary_key=True)
    hash: str = Field(max_length=66)
    parent_hash: str = Field(max_length=66)


class OutboxRow(SQLModel, table=True):
    """A signed transaction, recorded before it is broadcast (see `loantrace.outbox`)."""

    __tablename__ = "outbox"

    tx_hash: str = Field(primary_key=True, max_length=66)
    chain_id: int = Field(sa_type=BigInteger, index=True)
    sender: str = Field(max_length=42, index=True)
    nonce: int = Field(sa_type=BigInteger)
    raw: str  # hex of the signed transaction, resent byte for byte
    to: str | None = Field(default=None, max_length=42)
    data: str  # hex calldata, compared when an intent is adopted
    intent: str | None = Field(default=None, max_length=200, index=True)
    status: str = Field(max_length=16, index=True)  # pending | mined | failed | replaced
    block_number: int | None = Field(default=None, sa_type=BigInteger)
    max_fee_per_gas: str | None = Field(default=None, max_length=80)
    max_priority_fee_per_gas: str | None = Field(default=None, max_length=80)
    gas: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ApiKeyRow(SQLModel, table=True):
    """An API key: only the SHA-256 of its token is kept."""

    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)  # the key id, also the token's prefix
    token_hash: str = Field(max_length=64)
    role: str = Field(max_length=16)
    lender: str | None = Field(default=None, max_length=42, index=True)
    name: str = Field(max_length=120)
    created_by: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None
    borrower: str | None = Field(default=None, max_length=42)  # a borrower's sign-in session


class SiweNonceRow(SQLModel, table=True):
    """A sign-in challenge: valid until it expires, usable once."""

    __tablename__ = "siwe_nonces"

    nonce: str = Field(primary_key=True, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class AuditLogRow(SQLModel, table=True):
    """One audited action; `hash` chains it to the row before (see services/auditlog.py)."""

    __tablename__ = "audit_log"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    key_id: str = Field(max_length=32, index=True)
    role: str = Field(max_length=16)
    tenant: str | None = Field(default=None, max_length=42, index=True)
    method: str = Field(max_length=8)
    route: str = Field(max_length=200)
    object: str | None = Field(default=None, max_length=200)
    outcome: int
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
