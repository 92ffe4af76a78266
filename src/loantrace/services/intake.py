"""Accept agreements for the next Merkle batch: checked, stored durably, then answered.

An accepted agreement is checked exactly as a single notarisation is (terms, the borrower's
signature, the lender's, added here if missing) and stored, fully signed, in the queue
before the caller hears "accepted". The batcher (`services/batcher.py`) anchors it later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from loantrace.domain.agreement import SignedAgreement
from loantrace.domain.errors import AlreadyNotarised, InvalidInput
from loantrace.domain.hexcodec import to_hex
from loantrace.ports.ledger import (
    AgreementRecord,
    DuplicateRecord,
    LedgerUnitOfWork,
    QueuedAgreement,
)
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


# An answer of `accept_many`: a refusal is its error (a LoantraceError), and an unexpected
# failure of one submission is its own too, not its neighbours'.
Outcome = Queued | Receipt | Exception


@dataclass(frozen=True)
class _Seen:
    """What one accepting transaction found queued and notarised, and what it queued."""

    queued: dict[str, QueuedAgreement]
    recorded: dict[str, AgreementRecord]
    fresh: dict[str, QueuedAgreement]


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
        outcome = self.accept_many([submission])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def accept_many(self, submissions: Sequence[Submission]) -> list[Outcome]:
        """`accept` each of `submissions`, in one transaction (concurrent requests share it);
        each answer in order, a refused submission's being its error (the others stand)."""
        outcomes: list[Outcome | None] = [None] * len(submissions)
        checked: list[tuple[int, SignedAgreement, QueuedAgreement]] = []
        for i, submission in enumerate(submissions):
            try:
                checked.append((i, *self._checked(submission)))
            except Exception as exc:  # answered to that submission alone
                outcomes[i] = exc
        if checked:
            try:
                seen = self._store([item for _, _, item in checked])
            except DuplicateRecord:  # another process queued one of them meanwhile:
                seen = self._store([item for _, _, item in checked])  # now it is seen queued
            for i, signed, item in checked:
                try:
                    outcomes[i] = self._answer(signed, item, seen)
                except Exception as exc:  # answered to that submission alone
                    outcomes[i] = exc
            for _ in seen.fresh:
                self._on_queued()
        answers = [outcome for outcome in outcomes if outcome is not None]
        if len(answers) != len(submissions):  # every submission is answered above
            raise RuntimeError(f"{len(submissions)} submissions, {len(answers)} answers")
        return answers

    def _checked(self, submission: Submission) -> tuple[SignedAgreement, QueuedAgreement]:
        """Check and countersign `submission`; return it and its queue row."""
        if submission.supersedes is not None:
            raise InvalidInput("amendments (supersedes) are notarised singly, not in a batch")
        signed, terms = self._notary.prepare(submission)
        a = signed.agreement
        return signed, QueuedAgreement(
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

    def _store(self, items: Sequence[QueuedAgreement]) -> _Seen:
        """Queue those of `items` neither queued nor notarised yet (the first of a digest
        sent twice); return what was found and what was queued."""
        digests = sorted({item.digest for item in items})
        fresh: dict[str, QueuedAgreement] = {}
        with self._uow() as uow:
            # The queue first: the batcher moves a row from it to the agreements in one
            # transaction, so a digest missing from both was never queued.
            queued = uow.agreements.queued_many(digests)
            recorded = uow.agreements.get_many([d for d in digests if d not in queued])
            for item in items:
                if item.digest not in queued and item.digest not in recorded:
                    fresh.setdefault(item.digest, item)
            uow.agreements.enqueue(list(fresh.values()))
        return _Seen(queued, recorded, fresh)

    def _answer(self, signed: SignedAgreement, item: QueuedAgreement, seen: _Seen) -> Outcome:
        """The answer to one accepted submission, given what its transaction found."""
        recorded = seen.recorded.get(item.digest)
        if recorded is not None:
            return self._notary.replayed(recorded, signed)
        first = seen.queued.get(item.digest) or seen.fresh[item.digest]
        if first is not item and signed_of(first).agreement != signed.agreement:
            raise AlreadyNotarised(
                f"agreement {item.digest} is already queued here with other parties or terms"
            )
        return queued_of(first)

    def queued(self, digest: bytes) -> Queued | None:
        """Return the agreement queued under `digest`, if it waits for a batch."""
        return self.queued_many([digest])[0]

    def queued_many(self, digests: Sequence[bytes]) -> list[Queued | None]:
        """`queued` for each of `digests`, in order, in one query."""
        keys = [to_hex(digest) for digest in digests]
        with self._uow() as uow:
            found = uow.agreements.queued_many(sorted(set(keys)))
        return [queued_of(found[key]) if key in found else None for key in keys]


def queued_of(item: QueuedAgreement) -> Queued:
    """Return what a caller may know of a queued agreement."""
    return Queued(item.digest, item.lender, item.accepted_at, item.batch_root)
