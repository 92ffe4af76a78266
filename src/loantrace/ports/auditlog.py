"""What the audit log needs from storage: append after the newest entry, read in order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from loantrace.domain.auditchain import AuditEntry, ChainedEntry
from loantrace.ports import UnitOfWork


class AuditLogRepository(Protocol):
    """The chained entries; appends are serialised by the unit of work."""

    def newest_hash(self) -> str | None: ...

    def append_many(self, links: Sequence[tuple[AuditEntry, str, str]]) -> list[int]:
        """Insert (entry, prev_hash, hash) rows in order; return their ids, in order."""
        ...

    def in_order(self) -> Iterator[ChainedEntry]: ...

    def page(self, *, limit: int, offset: int) -> list[ChainedEntry]: ...


class AuditLogUnitOfWork(UnitOfWork, Protocol):
    """One transaction that holds the log's append lock while it is open."""

    @property
    def entries(self) -> AuditLogRepository:
        """The repository bound to this unit of work's transaction."""
        ...
