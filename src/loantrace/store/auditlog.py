"""SQL implementation of the audit log; one appender at a time across processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loantrace.domain.auditchain import AuditEntry, ChainedEntry
from loantrace.store.locks import NamedLocks
from loantrace.store.models import AuditLogRow
from loantrace.store.records import record_of
from loantrace.store.uow import SqlUnitOfWork, outside


class SqlAuditLogRepository:
    """Audit log rows in the service's database."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def newest_hash(self) -> str | None:
        """Return the hash of the newest entry, or None for an empty log."""
        query = select(AuditLogRow.hash).order_by(col(AuditLogRow.id).desc()).limit(1)
        return self._session.exec(query).first()

    def append_many(self, links: Sequence[tuple[AuditEntry, str, str]]) -> list[int]:
        """Insert (entry, prev_hash, hash) rows in order, in one flush; return their ids."""
        rows = [
            AuditLogRow(**vars(entry), prev_hash=prev, hash=hash_) for entry, prev, hash_ in links
        ]
        self._session.add_all(rows)
        self._session.flush()
        ids = [row.id for row in rows]
        if any(i is None for i in ids):
            raise RuntimeError("the database gave no id to an audit log row")
        return [i for i in ids if i is not None]

    def in_order(self) -> Iterator[ChainedEntry]:
        """Yield every entry, oldest first."""
        query = select(AuditLogRow).order_by(col(AuditLogRow.id)).execution_options(yield_per=500)
        for row in self._session.exec(query):
            yield _chained(row)

    def page(self, *, limit: int, offset: int) -> list[ChainedEntry]:
        """Return entries newest first."""
        query = select(AuditLogRow).order_by(col(AuditLogRow.id).desc()).offset(offset)
        return [_chained(r) for r in self._session.exec(query.limit(limit)).all()]


class SqlAuditLogUnitOfWork(SqlUnitOfWork):
    """A transaction holding the log's append lock (advisory lock or file lock)."""

    _repository: SqlAuditLogRepository | None = None

    def __init__(self, engine: Engine, locks: NamedLocks) -> None:
        super().__init__(engine)
        self._locks = locks
        self._stack: ExitStack | None = None

    @classmethod
    def factory(cls, engine: Engine) -> Callable[[], SqlAuditLogUnitOfWork]:
        """Return a function that opens a fresh unit of work on `engine`."""
        locks = NamedLocks(engine)
        return lambda: cls(engine, locks)

    @property
    def entries(self) -> SqlAuditLogRepository:
        """The repository of the open transaction."""
        if self._repository is None:
            raise outside("entries")
        return self._repository

    def __enter__(self) -> Self:
        self._stack = ExitStack()
        self._stack.enter_context(self._locks.held("audit-log"))
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
        finally:
            assert self._stack is not None
            self._stack.close()
            self._stack = None

    def _open(self, session: Session) -> None:
        self._repository = SqlAuditLogRepository(session)

    def _close(self) -> None:
        self._repository = None


def _chained(row: AuditLogRow) -> ChainedEntry:
    assert row.id is not None
    return ChainedEntry(row.id, record_of(AuditEntry, row), row.prev_hash, row.hash)
