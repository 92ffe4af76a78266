"""What the personal data use cases need from storage: sealed borrower records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from loantrace.ports import UnitOfWork


@dataclass(frozen=True)
class BorrowerRecord:
    """A borrower as stored: commitments in hex, personal data only sealed.

    `wrapped_key` (the borrower's data key, wrapped by master key `key_id`) and `sealed`
    (the personal data and salts under that data key) are both None once erased.
    """

    commitment: str
    lender: str
    account_commitment: str
    key_id: str
    wrapped_key: bytes | None
    sealed: bytes | None
    created_at: datetime
    erased_at: datetime | None


class BorrowerRepository(Protocol):
    """Borrower records, read and written inside one unit of work."""

    def add(self, record: BorrowerRecord) -> None: ...

    def get(self, commitment: str) -> BorrowerRecord | None: ...

    def erase(self, commitment: str, at: datetime) -> BorrowerRecord | None:
        """Drop the wrapped key and sealed data (once; the first time stays); return it."""
        ...

    def wrapped_elsewhere(self, key_id: str, limit: int) -> list[BorrowerRecord]:
        """Return up to `limit` live records whose data key is wrapped by another key."""
        ...

    def rewrap(self, commitment: str, *, old_key_id: str, key_id: str, wrapped_key: bytes) -> bool:
        """Replace a live record's wrapped key if still wrapped by `old_key_id`."""
        ...


class PersonalUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the borrower repository."""

    @property
    def borrowers(self) -> BorrowerRepository:
        """The repository bound to this unit of work's transaction."""
        ...
