"""What the access use cases need from storage: API key records and their repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from loantrace.ports import UnitOfWork


@dataclass(frozen=True)
class ApiKey:
    """An API key as stored: never the token, only its hash."""

    id: str
    token_hash: str
    role: str
    lender: str | None
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    borrower: str | None = None  # set on a borrower's sign-in session


class ApiKeyRepository(Protocol):
    """API keys, read and written inside one unit of work."""

    def add(self, key: ApiKey) -> None: ...

    def get(self, key_id: str) -> ApiKey | None: ...

    def get_many(self, key_ids: Sequence[str]) -> dict[str, ApiKey]:
        """Return the keys found among `key_ids`, by id."""
        ...

    def all(self) -> list[ApiKey]: ...

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None: ...


class NonceRepository(Protocol):
    """Sign-in challenges, read and written inside one unit of work."""

    def add(self, nonce: str, *, at: datetime, expires_at: datetime) -> None: ...

    def consume(self, nonce: str, at: datetime) -> bool:
        """Mark an unexpired, unused nonce used; return whether this call did."""
        ...


class AccessUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the key and nonce repositories."""

    @property
    def keys(self) -> ApiKeyRepository:
        """The repository bound to this unit of work's transaction."""
        ...

    @property
    def nonces(self) -> NonceRepository:
        """The sign-in challenges of this unit of work's transaction."""
        ...
