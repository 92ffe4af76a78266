"""SQL implementation of the borrower repository, its table, and its unit of work."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import CheckConstraint, LargeBinary, update
from sqlalchemy.engine import CursorResult, Engine
from sqlmodel import Field, Session, SQLModel, col, select

from loantrace.ports.personal import BorrowerRecord
from loantrace.store.models import utcnow
from loantrace.store.records import record_of
from loantrace.store.uow import SqlUnitOfWork, outside

# A row holds both its wrapped key and its sealed data, or (erased) neither.
SEALED_OR_ERASED = (
    "(erased_at IS NULL AND wrapped_key IS NOT NULL AND sealed IS NOT NULL)"
    " OR (erased_at IS NOT NULL AND wrapped_key IS NULL AND sealed IS NULL)"
)


class BorrowerRow(SQLModel, table=True):
    """A borrower: its commitments in clear, its personal data and salts only sealed."""

    __tablename__ = "borrowers"
    __table_args__: ClassVar[Any] = (
        CheckConstraint(SEALED_OR_ERASED, name="ck_borrowers_sealed_or_erased"),
    )

    commitment: str = Field(primary_key=True, max_length=66)
    lender: str = Field(max_length=42, index=True)
    account_commitment: str = Field(max_length=66)
    key_id: str = Field(max_length=32, index=True)  # the master key wrapping the data key
    wrapped_key: bytes | None = Field(default=None, sa_type=LargeBinary)
    sealed: bytes | None = Field(default=None, sa_type=LargeBinary)
    created_at: datetime = Field(default_factory=utcnow)
    erased_at: datetime | None = None


class SqlBorrowerRepository:
    """Borrowers in the service's database."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, record: BorrowerRecord) -> None:
        """Insert a borrower."""
        self._session.add(BorrowerRow(**vars(record)))
        self._session.flush()

    def get(self, commitment: str) -> BorrowerRecord | None:
        """Return a borrower by its commitment."""
        row = self._session.get(BorrowerRow, commitment, populate_existing=True)
        return None if row is None else record_of(BorrowerRecord, row)

    def erase(self, commitment: str, at: datetime) -> BorrowerRecord | None:
        """Drop the wrapped key and sealed data in one statement; the first erasure stays."""
        self._execute(
            update(BorrowerRow)
            .where(col(BorrowerRow.commitment) == commitment, col(BorrowerRow.erased_at).is_(None))
            .values(wrapped_key=None, sealed=None, erased_at=at)
        )
        return self.get(commitment)

    def wrapped_elsewhere(self, key_id: str, limit: int) -> list[BorrowerRecord]:
        """Return up to `limit` live borrowers whose data key another master key wraps."""
        rows = self._session.exec(
            select(BorrowerRow)
            .where(col(BorrowerRow.key_id) != key_id, col(BorrowerRow.erased_at).is_(None))
            .order_by(col(BorrowerRow.commitment))
            .limit(limit)
        ).all()
        return [record_of(BorrowerRecord, r) for r in rows]

    def rewrap(self, commitment: str, *, old_key_id: str, key_id: str, wrapped_key: bytes) -> bool:
        """Replace the wrapped key unless the borrower was erased or re-wrapped meanwhile."""
        result = self._execute(
            update(BorrowerRow)
            .where(
                col(BorrowerRow.commitment) == commitment,
                col(BorrowerRow.key_id) == old_key_id,
                col(BorrowerRow.erased_at).is_(None),
            )
            .values(key_id=key_id, wrapped_key=wrapped_key)
        )
        return result.rowcount == 1

    def _execute(self, statement: Any) -> CursorResult[Any]:
        # A conditional UPDATE, not read-then-write: two erasures (or an erasure and a
        # re-wrap) racing on PostgreSQL serialise on the row, and the loser changes nothing.
        result: CursorResult[Any] = self._session.connection().execute(statement)
        return result


class SqlPersonalUnitOfWork(SqlUnitOfWork):
    """One database transaction around the borrower repository."""

    _repository: SqlBorrowerRepository | None = None

    @classmethod
    def factory(cls, engine: Engine) -> Callable[[], SqlPersonalUnitOfWork]:
        """Return a function that opens a fresh unit of work on `engine`."""
        return lambda: cls(engine)

    @property
    def borrowers(self) -> SqlBorrowerRepository:
        """The repository of the open transaction."""
        if self._repository is None:
            raise outside("borrowers")
        return self._repository

    def _open(self, session: Session) -> None:
        self._repository = SqlBorrowerRepository(session)

    def _close(self) -> None:
        self._repository = None
