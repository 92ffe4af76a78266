"""SQL implementation of the API key repository and its unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loantrace.ports.access import ApiKey
from loantrace.store.models import ApiKeyRow, SiweNonceRow
from loantrace.store.records import record_of
from loantrace.store.uow import SqlUnitOfWork, outside


class SqlApiKeyRepository:
    """API keys in the service's database."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, key: ApiKey) -> None:
        """Insert a key."""
        self._session.add(ApiKeyRow(**vars(key)))
        self._session.flush()

    def get(self, key_id: str) -> ApiKey | None:
        """Return a key by id."""
        row = self._session.get(ApiKeyRow, key_id)
        return None if row is None else record_of(ApiKey, row)

    def get_many(self, key_ids: Sequence[str]) -> dict[str, ApiKey]:
        """Return the keys found among `key_ids`, by id (one query)."""
        if not key_ids:
            return {}
        rows = self._session.exec(select(ApiKeyRow).where(col(ApiKeyRow.id).in_(key_ids))).all()
        return {row.id: record_of(ApiKey, row) for row in rows}

    def all(self) -> list[ApiKey]:
        """Return every key, oldest first."""
        rows = self._session.exec(select(ApiKeyRow).order_by(col(ApiKeyRow.created_at))).all()
        return [record_of(ApiKey, r) for r in rows]

    def revoke(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark a key revoked (once; the first time stays); return it."""
        row = self._session.get(ApiKeyRow, key_id)
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = at
            self._session.add(row)
            self._session.flush()
        return record_of(ApiKey, row)


class SqlNonceRepository:
    """Sign-in challenges in the service's database."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, nonce: str, *, at: datetime, expires_at: datetime) -> None:
        """Insert a fresh challenge."""
        self._session.add(SiweNonceRow(nonce=nonce, created_at=at, expires_at=expires_at))
        self._session.flush()

    def consume(self, nonce: str, at: datetime) -> bool:
        """Mark the challenge used unless it is unknown, used or expired (one atomic update:
        of two concurrent sign-ins with one nonce, exactly one wins)."""
        result = self._session.execute(
            update(SiweNonceRow)
            .where(
                col(SiweNonceRow.nonce) == nonce,
                col(SiweNonceRow.used_at).is_(None),
                col(SiweNonceRow.expires_at) > at,
            )
            .values(used_at=at)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]


class SqlAccessUnitOfWork(SqlUnitOfWork):
    """One database transaction around the key and nonce repositories."""

    _repository: SqlApiKeyRepository | None = None
    _nonces: SqlNonceRepository | None = None

    @classmethod
    def factory(cls, engine: Engine) -> Callable[[], SqlAccessUnitOfWork]:
        """Return a function that opens a fresh unit of work on `engine`."""
        return lambda: cls(engine)

    @property
    def keys(self) -> SqlApiKeyRepository:
        """The repository of the open transaction."""
        if self._repository is None:
            raise outside("keys")
        return self._repository

    @property
    def nonces(self) -> SqlNonceRepository:
        """The sign-in challenges of the open transaction."""
        if self._nonces is None:
            raise outside("nonces")
        return self._nonces

    def _open(self, session: Session) -> None:
        self._repository = SqlApiKeyRepository(session)
        self._nonces = SqlNonceRepository(session)

    def _close(self) -> None:
        self._repository = None
        self._nonces = None
