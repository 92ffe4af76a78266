"""The audit log: who did what, chained by hashes so deletion or alteration is detected."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from loantrace.domain.access import Principal
from loantrace.domain.auditchain import (
    GENESIS,
    AuditEntry,
    ChainedEntry,
    entry_hash,
    first_break,
)
from loantrace.ports.auditlog import AuditLogUnitOfWork


@dataclass(frozen=True)
class Verdict:
    """The result of checking the whole chain."""

    entries: int
    intact: bool
    broken_at: int | None = None
    reason: str | None = None


class AuditLog:
    """Append audited actions and check the chain."""

    def __init__(
        self, *, uow: Callable[[], AuditLogUnitOfWork], clock: Callable[[], float] = time.time
    ) -> None:
        self._uow = uow
        self._clock = clock

    def entry(
        self,
        principal: Principal,
        *,
        method: str,
        route: str,
        obj: str | None,
        outcome: int,
    ) -> AuditEntry:
        """Return the entry of one action, stamped now (append it with `append`)."""
        return AuditEntry(
            at=datetime.fromtimestamp(self._clock(), UTC),
            key_id=principal.key_id,
            role=principal.role,
            tenant=principal.tenant,
            method=method,
            route=route[:200],
            object=None if obj is None else obj[:200],
            outcome=outcome,
        )

    def append(self, entries: Sequence[AuditEntry]) -> list[ChainedEntry]:
        """Append `entries`, in order, after the newest, in one transaction: one hold of the
        append lock and one commit for all of them (group commit), or none of them."""
        if not entries:
            return []
        with self._uow() as uow:
            prev = uow.entries.newest_hash() or GENESIS
            links = []
            for entry in entries:
                hash_ = entry_hash(prev, entry)
                links.append((entry, prev, hash_))
                prev = hash_
            ids = uow.entries.append_many(links)
        return [ChainedEntry(i, *link) for i, link in zip(ids, links, strict=True)]

    def page(self, *, limit: int = 100, offset: int = 0) -> list[ChainedEntry]:
        """Return entries, newest first."""
        with self._uow() as uow:
            return uow.entries.page(limit=limit, offset=offset)

    def verify(self) -> Verdict:
        """Recompute the chain from the first entry; name the first row that breaks it."""
        count = 0

        def counted() -> Iterator[ChainedEntry]:
            nonlocal count
            for row in uow.entries.in_order():
                count += 1
                yield row

        with self._uow() as uow:
            broken = first_break(counted())
        if broken is None:
            return Verdict(count, True)
        return Verdict(count, False, broken[0], broken[1])
