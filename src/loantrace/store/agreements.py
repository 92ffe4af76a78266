"""Persistence of agreements and batches: functions over a session, and the repository of
the ledger port built on them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime

from sqlalchemy import delete, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from loantrace.ports.ledger import (
    AgreementRecord,
    BatchRecord,
    DuplicateRecord,
    QueuedAgreement,
    QueueHead,
)
from loantrace.store.models import AgreementRow, BatchRow, ManifestRow, QueuedAgreementRow, utcnow
from loantrace.store.records import record_of


def add_agreements(*, session: Session, rows: Iterable[AgreementRow]) -> None:
    """Insert agreement rows (flushed; the caller's transaction commits)."""
    session.add_all(list(rows))
    session.flush()


def add_batch(*, session: Session, row: BatchRow) -> None:
    """Insert a batch row."""
    session.add(row)
    session.flush()


def get_agreement(*, session: Session, digest: str) -> AgreementRow | None:
    """Return the agreement with `digest`, if known."""
    return session.get(AgreementRow, digest)


def _in_chunks(digests: Sequence[str], size: int = 500) -> Iterator[list[str]]:
    """`digests` in lists of at most `size`: one `IN (...)` query each."""
    for start in range(0, len(digests), size):
        yield list(digests[start : start + size])


def get_agreements(*, session: Session, digests: Sequence[str]) -> list[AgreementRow]:
    """Return the agreements among `digests` that are known (one query per 500)."""
    found: list[AgreementRow] = []
    for chunk in _in_chunks(digests):
        found.extend(session.exec(select(AgreementRow).where(col(AgreementRow.digest).in_(chunk))))
    return found


def get_by_agreement_id(*, session: Session, agreement_id: str) -> AgreementRow | None:
    """Return the agreement with this agreement id, if known."""
    stmt = select(AgreementRow).where(AgreementRow.agreement_id == agreement_id)
    return session.exec(stmt).first()


def get_batch(*, session: Session, root: str) -> BatchRow | None:
    """Return the batch anchored under `root`, if known."""
    return session.get(BatchRow, root)


def known_digests(*, session: Session, digests: Sequence[str]) -> set[str]:
    """Return which of `digests` are already recorded."""
    found: set[str] = set()
    for chunk in _in_chunks(digests):
        stmt = select(AgreementRow.digest).where(col(AgreementRow.digest).in_(chunk))
        found.update(session.exec(stmt).all())
    return found


def mark_superseded(*, session: Session, digest: str, successor: str) -> None:
    """Mark `digest` superseded by `successor`."""
    row = session.get(AgreementRow, digest)
    if row is not None:
        row.status = "superseded"
        row.superseded_by = successor
        row.updated_at = utcnow()
        session.add(row)


def mark_revoked(*, session: Session, digest: str, reason: int) -> None:
    """Mark `digest` revoked with `reason`."""
    row = session.get(AgreementRow, digest)
    if row is not None:
        row.status = "revoked"
        row.revoke_reason = reason
        row.updated_at = utcnow()
        session.add(row)


def flush_or_duplicate(session: Session) -> None:
    """Flush; a unique (or other integrity) violation is the port's DuplicateRecord."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise DuplicateRecord(str(exc.orig)) from exc


class SqlAgreementRepository:
    """Agreements and batches in the service's database, as plain records."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def of_borrower(self, borrower: str) -> list[AgreementRecord]:
        """Return the agreements naming `borrower` (any case), oldest first."""
        rows = self._session.exec(
            select(AgreementRow)
            .where(func.lower(AgreementRow.borrower) == borrower.lower())
            .order_by(col(AgreementRow.created_at))
        ).all()
        return [agreement_record(r) for r in rows]

    def get(self, digest: str) -> AgreementRecord | None:
        """Return the agreement with `digest`, if known."""
        row = get_agreement(session=self._session, digest=digest)
        return None if row is None else agreement_record(row)

    def get_many(self, digests: Sequence[str]) -> dict[str, AgreementRecord]:
        """Return the known agreements among `digests`, by digest."""
        rows = get_agreements(session=self._session, digests=digests)
        return {row.digest: agreement_record(row) for row in rows}

    def by_agreement_id(self, agreement_id: str) -> AgreementRecord | None:
        """Return the agreement with this agreement id, if known."""
        row = get_by_agreement_id(session=self._session, agreement_id=agreement_id)
        return None if row is None else agreement_record(row)

    def known_digests(self, digests: Sequence[str]) -> set[str]:
        """Return which of `digests` are already recorded."""
        return known_digests(session=self._session, digests=digests)

    def add(self, records: Sequence[AgreementRecord]) -> None:
        """Insert agreements (one bulk INSERT: a batch holds thousands); raise
        DuplicateRecord if one is stored already."""
        if not records:
            return
        flush_or_duplicate(self._session)  # what the session holds goes first
        now = utcnow()
        rows = [asdict(r) | {"created_at": now, "updated_at": now} for r in records]
        try:
            self._session.execute(insert(AgreementRow), rows)
        except IntegrityError as exc:
            raise DuplicateRecord(str(exc.orig)) from exc

    def add_batch(self, batch: BatchRecord) -> None:
        """Insert a batch; raise DuplicateRecord if it is stored already."""
        self._session.add(BatchRow(**asdict(batch)))
        flush_or_duplicate(self._session)

    def put_manifest(self, sha256: str, root: str, lender: str, body: bytes) -> None:
        """Store a batch manifest by its SHA-256; storing the same one again changes nothing."""
        if self._session.get(ManifestRow, sha256) is not None:
            return
        try:
            with self._session.begin_nested():  # a savepoint: a lost race undoes only this
                self._session.add(
                    ManifestRow(sha256=sha256, root=root, lender=lender, body=body.decode())
                )
        except IntegrityError:  # a concurrent writer stored the same content first
            pass

    def manifest(self, sha256: str) -> bytes | None:
        """Return the manifest with this SHA-256 (0x hex), if stored here."""
        row = self._session.get(ManifestRow, sha256)
        return None if row is None else row.body.encode()

    def manifest_of_root(self, root: str) -> tuple[str, bytes] | None:
        """Return the SHA-256 and body of the manifest of the batch `root`, if stored here."""
        row = self._session.exec(
            select(ManifestRow)
            .where(ManifestRow.root == root)
            .order_by(col(ManifestRow.created_at))
        ).first()
        return None if row is None else (row.sha256, row.body.encode())

    def mark_superseded(self, digest: str, successor: str) -> None:
        """Mark `digest` superseded by `successor`."""
        mark_superseded(session=self._session, digest=digest, successor=successor)

    def mark_revoked(self, digest: str, reason: int) -> None:
        """Mark `digest` revoked with `reason`."""
        mark_revoked(session=self._session, digest=digest, reason=reason)

    def queued(self, digest: str) -> QueuedAgreement | None:
        """Return the agreement queued for a batch under `digest`, if any."""
        row = self._session.get(QueuedAgreementRow, digest)
        return None if row is None else record_of(QueuedAgreement, row)

    def queued_many(self, digests: Sequence[str]) -> dict[str, QueuedAgreement]:
        """Return the agreements queued for a batch among `digests`, by digest."""
        found: dict[str, QueuedAgreement] = {}
        for chunk in _in_chunks(digests):
            query = select(QueuedAgreementRow).where(col(QueuedAgreementRow.digest).in_(chunk))
            for row in self._session.exec(query):
                found[row.digest] = record_of(QueuedAgreement, row)
        return found

    def enqueue(self, items: Sequence[QueuedAgreement]) -> None:
        """Queue agreements for a batch; raise DuplicateRecord if a digest is queued."""
        if not items:
            return
        try:  # a plain INSERT: the accept path is hot, and the rows are not read back here
            self._session.execute(insert(QueuedAgreementRow), [asdict(item) for item in items])
        except IntegrityError as exc:
            raise DuplicateRecord(str(exc.orig)) from exc

    def queue_head(self, lender: str) -> QueueHead:
        """Return how many of `lender`'s queued agreements wait unassigned, oldest when."""
        waiting, oldest = self._session.exec(
            select(func.count(), func.min(QueuedAgreementRow.accepted_at)).where(
                QueuedAgreementRow.lender == lender, col(QueuedAgreementRow.batch_root).is_(None)
            )
        ).one()
        if oldest is not None and oldest.tzinfo is None:  # aggregates skip the column type
            oldest = _utc(oldest)
        return QueueHead(int(waiting), oldest)

    def next_queued(self, lender: str, limit: int) -> list[QueuedAgreement]:
        """Return up to `limit` unassigned queued agreements, by (accepted_at, digest)."""
        rows = self._session.exec(
            select(QueuedAgreementRow)
            .where(
                QueuedAgreementRow.lender == lender, col(QueuedAgreementRow.batch_root).is_(None)
            )
            .order_by(col(QueuedAgreementRow.accepted_at), col(QueuedAgreementRow.digest))
            .limit(limit)
        ).all()
        return [record_of(QueuedAgreement, r) for r in rows]

    def assign(self, digests: Sequence[str], root: str) -> int:
        """Claim unclaimed queued agreements for the batch `root`; return how many were
        still unclaimed (and are now claimed)."""
        claimed = 0
        for start in range(0, len(digests), 500):
            result = self._session.execute(
                update(QueuedAgreementRow)
                .where(
                    col(QueuedAgreementRow.digest).in_(list(digests[start : start + 500])),
                    col(QueuedAgreementRow.batch_root).is_(None),
                )
                .values(batch_root=root)
            )
            claimed += int(getattr(result, "rowcount", 0) or 0)
        return claimed

    def assigned(self, lender: str) -> list[QueuedAgreement]:
        """Return `lender`'s queued agreements claimed for a batch, by (root, accepted_at,
        digest): each batch's leaves in order."""
        rows = self._session.exec(
            select(QueuedAgreementRow)
            .where(
                QueuedAgreementRow.lender == lender,
                col(QueuedAgreementRow.batch_root).is_not(None),
            )
            .order_by(
                col(QueuedAgreementRow.batch_root),
                col(QueuedAgreementRow.accepted_at),
                col(QueuedAgreementRow.digest),
            )
        ).all()
        return [record_of(QueuedAgreement, r) for r in rows]

    def dequeue(self, digests: Sequence[str]) -> None:
        """Remove queued agreements (their batch is recorded, or they are void)."""
        for start in range(0, len(digests), 500):
            chunk = list(digests[start : start + 500])
            self._session.execute(
                delete(QueuedAgreementRow).where(col(QueuedAgreementRow.digest).in_(chunk))
            )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def agreement_record(row: AgreementRow) -> AgreementRecord:
    """Return the plain record of an agreement row."""
    return record_of(AgreementRecord, row)
