"""API keys: create (token shown once), list, revoke, and authenticate a bearer token.

Keys are random (256 bits), stored only as a SHA-256 hash, expire, and can be revoked. A
first admin token may be given in the settings (`LOANTRACE_ADMIN_KEY`); it is compared in
constant time and never stored. With an identity provider configured, any other bearer
token is taken as its JWT (see `services/oidc.py`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loantrace.domain.access import (
    ROLES,
    Principal,
    check_role,
    same_hash,
    split_token,
    token_hash,
    token_of,
)
from loantrace.domain.errors import InvalidInput, LoantraceError, NotFound, Unauthenticated
from loantrace.domain.hexcodec import parse_address
from loantrace.ports.access import AccessUnitOfWork, ApiKey
from loantrace.services.oidc import OidcVerifier

log = logging.getLogger(__name__)

SETTINGS_ADMIN = "settings-admin"
MAX_TTL_DAYS = 3650


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown about a key: never its token or hash."""

    id: str
    role: str
    lender: str | None
    name: str
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    active: bool  # neither revoked nor expired when this was read


class AccessService:
    """Manage API keys and turn a bearer token into a principal."""

    def __init__(
        self,
        *,
        uow: Callable[[], AccessUnitOfWork],
        admin_token: str | None = None,
        clock: Callable[[], float] = time.time,
        oidc: OidcVerifier | None = None,
    ) -> None:
        self._uow = uow
        self._oidc = oidc
        self._admin_hash = None if not admin_token else token_hash(admin_token)
        self._clock = clock

    def create_key(
        self, *, by: str, role: str, name: str, lender: str | None = None, ttl_days: int = 365
    ) -> tuple[KeyInfo, str]:
        """Create a key; return it and its bearer token (shown this once, never stored)."""
        checked = check_role(role)
        if checked == "lender":
            if not lender:
                raise InvalidInput("a lender key needs `lender`, the lender's address")
            lender = parse_address(lender, field="lender")
        elif lender:
            raise InvalidInput("only lender keys are bound to a lender")
        name = name.strip()
        if not 1 <= len(name) <= 120 or not name.isprintable():
            raise InvalidInput("name must be 1..120 printable characters")
        if not 1 <= ttl_days <= MAX_TTL_DAYS:
            raise InvalidInput(f"ttl_days must be between 1 and {MAX_TTL_DAYS}")
        key_id = secrets.token_hex(8)
        token = token_of(key_id, secrets.token_urlsafe(32))
        now = self._now()
        key = ApiKey(
            id=key_id,
            token_hash=token_hash(token),
            role=checked,
            lender=lender or None,
            name=name,
            created_by=by,
            created_at=now,
            expires_at=now + timedelta(days=ttl_days),
            revoked_at=None,
        )
        with self._uow() as uow:
            uow.keys.add(key)
        log.info("api key %s created for role %s by %s", key_id, checked, by)
        return _info(key, now), token

    def list_keys(self) -> list[KeyInfo]:
        """Return every key (revoked and expired ones included), oldest first."""
        with self._uow() as uow:
            return [_info(k, self._now()) for k in uow.keys.all()]

    def revoke_key(self, key_id: str) -> KeyInfo:
        """Revoke a key now; revoking it again changes nothing."""
        with self._uow() as uow:
            key = uow.keys.revoke(key_id, self._now())
        if key is None:
            raise NotFound(f"no api key {key_id}")
        log.info("api key %s revoked", key_id)
        return _info(key, self._now())

    def authenticate(self, token: str) -> Principal:
        """Return the principal of a bearer token, or raise Unauthenticated."""
        found = self.authenticate_many([token])[0]
        if isinstance(found, LoantraceError):
            raise found
        return found

    def authenticate_many(self, tokens: Sequence[str]) -> list[Principal | LoantraceError]:
        """Return, for each bearer token in order, its principal or why it is refused (an
        identity provider that cannot be reached fails its own tokens only); the API keys
        among them are read in one query (concurrent requests share it)."""
        keyed = {parts[0] for t in tokens if (parts := split_token(t)) is not None}
        keys: dict[str, ApiKey] = {}
        if keyed:
            with self._uow() as uow:
                keys = uow.keys.get_many(sorted(keyed))
        now = self._now()
        out: list[Principal | LoantraceError] = []
        for token in tokens:
            try:
                out.append(self._principal(token, keys, now))
            except LoantraceError as exc:
                out.append(exc)
        return out

    def _principal(self, token: str, keys: dict[str, ApiKey], now: datetime) -> Principal:
        presented = token_hash(token)
        if self._admin_hash is not None and same_hash(presented, self._admin_hash):
            return Principal(role="admin", key_id=SETTINGS_ADMIN, name="LOANTRACE_ADMIN_KEY")
        parts = split_token(token)
        if parts is None:
            if self._oidc is not None:
                return self._oidc.principal(token)  # an identity provider's token
            raise Unauthenticated("the bearer token is not a loantrace API key")
        key = keys.get(parts[0])
        if key is None or not same_hash(presented, key.token_hash):
            raise Unauthenticated("unknown API key")
        if key.revoked_at is not None:
            raise Unauthenticated("this API key was revoked")
        if _aware(key.expires_at) <= now:
            raise Unauthenticated("this API key has expired")
        role = check_role(key.role, allowed=ROLES)  # borrowers' sign-in sessions too
        return Principal(
            role=role, key_id=key.id, name=key.name, lender=key.lender, borrower=key.borrower
        )

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _info(key: ApiKey, now: datetime) -> KeyInfo:
    expires_at = _aware(key.expires_at)
    return KeyInfo(
        id=key.id,
        role=key.role,
        lender=key.lender,
        name=key.name,
        created_by=key.created_by,
        created_at=_aware(key.created_at),
        expires_at=expires_at,
        revoked_at=None if key.revoked_at is None else _aware(key.revoked_at),
        active=key.revoked_at is None and expires_at > now,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
