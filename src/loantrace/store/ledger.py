"""SQL implementation of the ledger port (loans, movements, indexed events, and agreements
from `store.agreements`) and its unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from loantrace.ports.ledger import (
    DuplicateRecord,
    IndexedEvent,
    LoanRequest,
    MovementRequest,
)
from loantrace.store.agreements import SqlAgreementRepository, flush_or_duplicate
from loantrace.store.models import ChainEventRow, LoanRow, MovementRow
from loantrace.store.records import record_of
from loantrace.store.uow import SqlUnitOfWork, outside


class SqlLoanRepository:
    """The loans this service registered, in its database."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, loan_id: str) -> LoanRequest | None:
        """Return the loan with this id, if registered here."""
        row = self._session.get(LoanRow, loan_id)
        return None if row is None else record_of(LoanRequest, row)

    def by_digest(self, digest: str) -> LoanRequest | None:
        """Return the loan of the agreement with this document digest, if registered here."""
        row = self._session.exec(select(LoanRow).where(LoanRow.digest == digest)).first()
        return None if row is None else record_of(LoanRequest, row)

    def add(self, loan: LoanRequest) -> None:
        """Insert a loan; raise DuplicateRecord if it is stored already."""
        self._session.add(LoanRow(**asdict(loan)))
        flush_or_duplicate(self._session)


class SqlMovementRepository:
    """The movements this service recorded, in its database."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def by_reference(self, lender: str, external_ref: str) -> MovementRequest | None:
        """Return the movement a lender recorded under `external_ref`, if any."""
        row = self._session.exec(
            select(MovementRow).where(
                MovementRow.lender == lender, MovementRow.external_ref == external_ref
            )
        ).first()
        return None if row is None else record_of(MovementRequest, row)

    def of_loan(self, loan_id: str) -> list[MovementRequest]:
        """Return a loan's recorded movements."""
        rows = self._session.exec(select(MovementRow).where(MovementRow.loan_id == loan_id))
        return [record_of(MovementRequest, r) for r in rows.all()]

    def add(self, movement: MovementRequest) -> MovementRequest:
        """Insert a movement and return it with its id; raise DuplicateRecord if taken."""
        fields = {k: v for k, v in asdict(movement).items() if k != "id"}
        row = MovementRow(**fields)
        self._session.add(row)
        flush_or_duplicate(self._session)
        return record_of(MovementRequest, row)


class SqlEventRepository:
    """Indexed chain events, read only."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def of_loan(self, chain_id: int, loan_id: str, events: Sequence[str]) -> list[IndexedEvent]:
        """Return a loan's events of the named kinds, in chain order."""
        rows = self._session.exec(
            select(ChainEventRow)
            .where(
                ChainEventRow.chain_id == chain_id,
                ChainEventRow.loan_id == loan_id,
                col(ChainEventRow.event).in_(list(events)),
            )
            .order_by(col(ChainEventRow.block_number), col(ChainEventRow.log_index))
        ).all()
        return [
            IndexedEvent(r.tx_hash, r.log_index, r.block_number, r.event, r.args_json) for r in rows
        ]


class SqlLedgerUnitOfWork(SqlUnitOfWork):
    """One database transaction around the ledger repositories: commit on success, roll
    back on an exception; an integrity violation on commit is a DuplicateRecord."""

    _repositories: _Repositories | None = None

    @classmethod
    def factory(cls, engine: Engine) -> Callable[[], SqlLedgerUnitOfWork]:
        """Return a function that opens a fresh unit of work on `engine`."""
        return lambda: cls(engine)

    @property
    def agreements(self) -> SqlAgreementRepository:
        """Agreements and batches in the open transaction."""
        return self._repos().agreements

    @property
    def loans(self) -> SqlLoanRepository:
        """Loans in the open transaction."""
        return self._repos().loans

    @property
    def movements(self) -> SqlMovementRepository:
        """Movements in the open transaction."""
        return self._repos().movements

    @property
    def events(self) -> SqlEventRepository:
        """Indexed events in the open transaction."""
        return self._repos().events

    def _repos(self) -> _Repositories:
        if self._repositories is None:
            raise outside("the ledger repositories")
        return self._repositories

    def _open(self, session: Session) -> None:
        self._repositories = _Repositories(
            SqlAgreementRepository(session),
            SqlLoanRepository(session),
            SqlMovementRepository(session),
            SqlEventRepository(session),
        )

    def _close(self) -> None:
        self._repositories = None

    def _commit(self, session: Session) -> None:
        try:
            session.commit()
        except IntegrityError as error:  # a concurrent duplicate committed first
            raise DuplicateRecord(str(error.orig)) from error


@dataclass(frozen=True)
class _Repositories:
    agreements: SqlAgreementRepository
    loans: SqlLoanRepository
    movements: SqlMovementRepository
    events: SqlEventRepository
