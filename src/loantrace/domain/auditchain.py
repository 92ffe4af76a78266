"""The audit log's hash chain: each entry's hash covers its fields and the hash before it.

hash_n = SHA-256( prev_hash_n || JCS(fields_n) ), prev_hash_0 = 64 zeros. Altering a field,
deleting or reordering a row breaks the chain at that row, and `first_break` names it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import rfc8785

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    """One audited action: who (key, role, tenant), what (method, route, object), outcome."""

    at: datetime
    key_id: str
    role: str
    tenant: str | None
    method: str
    route: str
    object: str | None
    outcome: int

    def canonical(self) -> bytes:
        """Return the entry's fields as RFC 8785 canonical JSON (time in UTC, microseconds)."""
        fields = asdict(self)
        moment = self.at if self.at.tzinfo is not None else self.at.replace(tzinfo=UTC)
        fields["at"] = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return bytes(rfc8785.dumps(fields))


def entry_hash(prev_hash: str, entry: AuditEntry) -> str:
    """Return the chained hash of `entry` after `prev_hash`."""
    return hashlib.sha256(prev_hash.encode() + entry.canonical()).hexdigest()


@dataclass(frozen=True)
class ChainedEntry:
    """An entry as stored: its position, its link to the one before, and its own hash."""

    id: int
    entry: AuditEntry
    prev_hash: str
    hash: str


def first_break(rows: Iterable[ChainedEntry]) -> tuple[int, str] | None:
    """Return (row id, reason) of the first row that breaks the chain, or None if intact."""
    expected_prev = GENESIS
    for row in rows:
        if row.prev_hash != expected_prev:
            return row.id, "its link to the row before does not match (a row was deleted?)"
        if entry_hash(row.prev_hash, row.entry) != row.hash:
            return row.id, "its fields do not match its hash (the row was altered)"
        expected_prev = row.hash
    return None
