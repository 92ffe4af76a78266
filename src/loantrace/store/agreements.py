"""Persistence functions for agreements and batches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlmodel import Session, col, select

from loantrace.store.models import AgreementRow, BatchRow, utcnow


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
    for start in range(0, len(digests), 500):
        chunk = list(digests[start : start + 500])
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
