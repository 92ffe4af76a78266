"""What the audit log needs from storage: append after the newest entry, read in order."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, Self

from loantrace.domain.auditchain import AuditEntry, ChainedEntry


class AuditLogRepository(Protocol):
    """The chained entries; appends are serialised by the unit of work."""

    def newest_hash(self) -> str | None: ...

    def append(self, entry: AuditEntry, prev_hash: str, hash_: str) -> int: ...

    def in_order(self) -> Iterator[ChainedEntry]: ...

    def page(self, *, limit: int, offset: int) -> list[ChainedEntry]: ...


class AuditLogUnitOfWork(Protocol):
    """One transaction that holds the log's append lock while it is open."""

    @property
    def entries(self) -> AuditLogRepository:
        """The repository bound to this unit of work's transaction."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
