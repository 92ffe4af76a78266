"""What the notary and loan use cases need from storage: plain records, repositories, a unit
of work. Hex values are 0x-prefixed lowercase strings, as stored."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from loantrace.domain.errors import Conflict
from loantrace.ports import UnitOfWork


class DuplicateRecord(Conflict):
    """A write collided with a record already stored (a concurrent duplicate, usually).

    A use case that expects a concurrent duplicate catches it and answers with the first
    record; anywhere else it reaches the caller as a 409 conflict, never a 500."""


@dataclass(frozen=True)
class AgreementRecord:
    """A notarised agreement (singly or in a batch) and where its evidence is."""

    digest: str
    agreement_id: str | None
    lender: str
    borrower: str
    borrower_commitment: str
    terms_digest: str
    terms_json: str
    supersedes: str | None
    lender_signature: str
    borrower_signature: str
    mode: str  # single | batch
    status: str  # notarised | superseded | revoked
    tx_hash: str
    block_number: int
    block_timestamp: int
    superseded_by: str | None = None
    revoke_reason: int | None = None
    batch_root: str | None = None
    leaf_index: int | None = None
    proof_json: str | None = None
    block_hash: str | None = None


@dataclass(frozen=True)
class BatchRecord:
    """A Merkle root anchored on chain."""

    root: str
    lender: str
    count: int
    tx_hash: str
    block_number: int
    block_timestamp: int


@dataclass(frozen=True)
class QueuedAgreement:
    """A checked, fully signed agreement accepted for the next Merkle batch, kept until the
    batch that anchors it is recorded. `batch_root` is set when a batcher claims it for a
    batch, before the root is sent: a retry rebuilds exactly that batch, whose leaves are its
    agreements in (accepted_at, digest) order."""

    digest: str
    lender: str
    borrower: str
    borrower_commitment: str
    terms_digest: str
    terms_json: str
    lender_signature: str
    borrower_signature: str
    accepted_at: datetime
    batch_root: str | None = None

    @property
    def supersedes(self) -> None:
        """Return None: amendments are notarised singly, never queued."""
        return None


@dataclass(frozen=True)
class QueueHead:
    """How many of a lender's queued agreements wait for a batch, and since when."""

    waiting: int
    oldest: datetime | None


@dataclass(frozen=True)
class LoanRequest:
    """A loan this service registered on the ledger (loan id = agreement id), as requested."""

    loan_id: str
    digest: str
    lender: str
    borrower_commitment: str
    principal: int
    currency: str
    apr_bps: int
    rate_cap_bps: int
    purpose: str
    repayment_method: str
    start_at: int
    schedule_json: str
    tx_hash: str
    block_number: int


@dataclass(frozen=True)
class MovementRequest:
    """A disbursement or repayment this service recorded, with the bank's reference text."""

    id: int  # assigned when stored (0 before)
    loan_id: str
    lender: str
    kind: str  # disbursement | repayment
    amount: int
    account: str
    external_ref: str
    tx_hash: str
    block_number: int
    block_timestamp: int


@dataclass(frozen=True)
class IndexedEvent:
    """An event of one of our contracts as the indexer copied it."""

    tx_hash: str
    log_index: int
    block_number: int
    event: str
    args_json: str


class AgreementRepository(Protocol):
    """Agreements and batches, read and written inside one unit of work."""

    def get(self, digest: str) -> AgreementRecord | None: ...

    def get_many(self, digests: Sequence[str]) -> dict[str, AgreementRecord]:
        """Return the known agreements among `digests`, by digest (one read)."""
        ...

    def of_borrower(self, borrower: str) -> list[AgreementRecord]: ...

    def by_agreement_id(self, agreement_id: str) -> AgreementRecord | None: ...

    def known_digests(self, digests: Sequence[str]) -> set[str]: ...

    def add(self, records: Sequence[AgreementRecord]) -> None:
        """Store new agreements; raise DuplicateRecord if one is stored already."""
        ...

    def add_batch(self, batch: BatchRecord) -> None:
        """Store a new batch; raise DuplicateRecord if it is stored already."""
        ...

    def put_manifest(self, sha256: str, root: str, lender: str, body: bytes) -> None:
        """Store a batch manifest by its SHA-256 (idempotent)."""
        ...

    def manifest(self, sha256: str) -> bytes | None: ...

    def manifest_of_root(self, root: str) -> tuple[str, bytes] | None: ...

    def mark_superseded(self, digest: str, successor: str) -> None: ...

    def mark_revoked(self, digest: str, reason: int) -> None: ...

    def queued(self, digest: str) -> QueuedAgreement | None:
        """Return the agreement queued for a batch under `digest`, if any."""
        ...

    def queued_many(self, digests: Sequence[str]) -> dict[str, QueuedAgreement]:
        """Return the agreements queued for a batch among `digests`, by digest."""
        ...

    def enqueue(self, items: Sequence[QueuedAgreement]) -> None:
        """Queue agreements for a batch; raise DuplicateRecord if a digest is queued."""
        ...

    def queue_head(self, lender: str) -> QueueHead:
        """Return how many of `lender`'s queued agreements wait unassigned, oldest when."""
        ...

    def next_queued(self, lender: str, limit: int) -> list[QueuedAgreement]:
        """Return up to `limit` unassigned queued agreements, by (accepted_at, digest)."""
        ...

    def assign(self, digests: Sequence[str], root: str) -> int:
        """Claim unclaimed queued agreements for the batch `root`; return how many were
        still unclaimed (and are now claimed)."""
        ...

    def assigned(self, lender: str) -> list[QueuedAgreement]:
        """Return `lender`'s queued agreements claimed for a batch, by (root, accepted_at,
        digest): each batch's leaves in order."""
        ...

    def dequeue(self, digests: Sequence[str]) -> None:
        """Remove queued agreements (their batch is recorded, or they are void)."""
        ...


class LoanRepository(Protocol):
    """The loans this service registered."""

    def get(self, loan_id: str) -> LoanRequest | None: ...

    def by_digest(self, digest: str) -> LoanRequest | None: ...

    def add(self, loan: LoanRequest) -> None:
        """Store a new loan; raise DuplicateRecord if it is stored already."""
        ...


class MovementRepository(Protocol):
    """The movements this service recorded; a lender's external reference names one only."""

    def by_reference(self, lender: str, external_ref: str) -> MovementRequest | None: ...

    def of_loan(self, loan_id: str) -> list[MovementRequest]: ...

    def add(self, movement: MovementRequest) -> MovementRequest:
        """Store a new movement and return it with its id; raise DuplicateRecord if the
        lender's external reference is taken."""
        ...


class EventRepository(Protocol):
    """Indexed chain events (written by the indexer, only read here)."""

    def of_loan(self, chain_id: int, loan_id: str, events: Sequence[str]) -> list[IndexedEvent]:
        """Return a loan's events of the named kinds, in chain order."""
        ...


class LedgerUnitOfWork(UnitOfWork, Protocol):
    """One transaction: everything done through its repositories commits together or not
    at all. A duplicate found on commit raises DuplicateRecord."""

    @property
    def agreements(self) -> AgreementRepository:
        """Agreements and batches in this unit of work's transaction."""
        ...

    @property
    def loans(self) -> LoanRepository:
        """Loans in this unit of work's transaction."""
        ...

    @property
    def movements(self) -> MovementRepository:
        """Movements in this unit of work's transaction."""
        ...

    @property
    def events(self) -> EventRepository:
        """Indexed events, read in this unit of work's transaction."""
        ...
