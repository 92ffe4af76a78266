"""Accept agreements for the next Merkle batch: checked, stored durably, then answered.

An accepted agreement is checked exactly as a single notarisation is (terms, the borrower's
signature, the lender's, added here if missing) and stored, fully signed, in the queue
before the caller hears "accepted". The batcher (`services/batcher.py`) anchors it later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from loantrace.domain.errors import AlreadyNotarised, InvalidInput
from loantrace.domain.hexcodec import to_hex
from loantrace.ports.ledger import DuplicateRecord, LedgerUnitOfWork, QueuedAgreement
from loantrace.services.notary import Notary, Submission
from loantrace.services.notary_records import terms_json
from loantrace.services.receipts import Receipt, signed_of


@dataclass(frozen=True)
class Queued:
    """An agreement accepted for a Merkle batch and not anchored yet."""

    digest: str
    lender: str
    accepted_at: datetime
    batch_root: str | None  # set once a batcher has claimed it for a batch being anchored


def utcnow() -> datetime:
    """Return the current UTC time."""
    return datetime.now(UTC)


class Intake:
    """Queue agreements for the lender whose notary checks and countersigns them."""

    def __init__(
        self,
        *,
        notary: Notary,
        uow: Callable[[], LedgerUnitOfWork],
        on_queued: Callable[[], None] = lambda: None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`on_queued` is called after each new agreement is stored (wakes the batcher)."""
        self._notary = notary
        self._uow = uow
        self._on_queued = on_queued
        self._clock = clock

    @property
    def lender(self) -> str:
        """Return the lender whose agreements this intake queues."""
        return self._notary.lender

    def accept(self, submission: Submission) -> Queued | Receipt:
        """Check `submission` and queue it for the next batch.

        A repeat answers as the first time (the same `accepted_at`); an agreement already
        notarised here answers with its receipt; the same document with other parties or
        terms, queued or notarised, is a conflict.
        """
        if submission.supersedes is not None:
            raise InvalidInput("amendments (supersedes) are notarised singly, not in a batch")
        signed, terms = self._notary.prepare(submission)
        a = signed.agreement
        item = QueuedAgreement(
            digest=to_hex(a.digest),
            lender=a.lender,
            borrower=a.borrower,
            borrower_commitment=to_hex(a.borrower_commitment),
            terms_digest=to_hex(a.terms_digest),
            terms_json=terms_json(terms),
            lender_signature=to_hex(signed.lender_signature),
            borrower_signature=to_hex(signed.borrower_signature),
            accepted_at=self._clock(),
        )
        try:
            with self._uow() as uow:
                # The queue first: the batcher moves a row from it to the agreements in one
                # transaction, so a digest missing from both was never queued.
                queued = uow.agreements.queued(item.digest)
                recorded = None if queued else uow.agreements.get(item.digest)
                if queued is None and recorded is None:
                    uow.agreements.enqueue(item)
        except DuplicateRecord:  # a concurrent duplicate queued it first
            with self._uow() as uow:
                queued = uow.agreements.queued(item.digest)
                recorded = None if queued else uow.agreements.get(item.digest)
            if queued is None and recorded is None:
                raise
        if recorded is not None:
            return self._notary.replayed(recorded, signed)
        if queued is not None:
            if signed_of(queued).agreement != a:
                raise AlreadyNotarised(
                    f"agreement {item.digest} is already queued here with other parties or terms"
                )
            return queued_of(queued)
        self._on_queued()
        return queued_of(item)

    def queued(self, digest: bytes) -> Queued | None:
        """Return the agreement queued under `digest`, if it waits for a batch."""
        with self._uow() as uow:
            found = uow.agreements.queued(to_hex(digest))
        return None if found is None else queued_of(found)


def queued_of(item: QueuedAgreement) -> Queued:
    """Return what a caller may know of a queued agreement."""
    return Queued(item.digest, item.lender, item.accepted_at, item.batch_root)
