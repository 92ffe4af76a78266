"""Borrowers sign in with Ethereum (EIP-4361) using the address that signed their agreement.

The service hands out a single-use nonce; the borrower's wallet signs a SIWE message naming
this service's domain, URI, chain and that nonce; the service checks the message strictly,
recovers the signer, consumes the nonce (exactly once, even across replicas) and issues a
short-lived bearer token bound to the borrower's address. A borrower can then read only
what names that address.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loantrace.domain import siwe
from loantrace.domain.access import token_hash, token_of
from loantrace.domain.errors import Unauthenticated
from loantrace.ports.access import AccessUnitOfWork, ApiKey

log = logging.getLogger(__name__)

STATEMENT = "Sign in to loantrace to read your loan agreements, schedules and reminders."


@dataclass(frozen=True)
class Challenge:
    """What a wallet needs to build the message to sign."""

    domain: str
    uri: str
    chain_id: int
    version: str
    nonce: str
    statement: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class BorrowerSession:
    """A signed-in borrower's bearer token (shown once) and its lifetime."""

    token: str
    address: str
    expires_at: datetime


class SignIn:
    """Issue SIWE challenges and turn signed ones into borrower sessions."""

    def __init__(
        self,
        *,
        uow: Callable[[], AccessUnitOfWork],
        public_url: str,
        chain_id: int,
        is_borrower: Callable[[str], bool],
        nonce_seconds: int = 300,
        session_seconds: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow
        self._uri = public_url.rstrip("/")
        self._scheme, _, rest = self._uri.partition("://")
        self._domain = rest.split("/", 1)[0]
        self._chain_id = chain_id
        self._is_borrower = is_borrower
        self._nonce_ttl = timedelta(seconds=nonce_seconds)
        self._session_ttl = timedelta(seconds=session_seconds)
        self._clock = clock

    def challenge(self) -> Challenge:
        """Record a fresh single-use nonce and return the message's fixed fields."""
        now = self._now()
        nonce = secrets.token_hex(16)  # 128 bits, alphanumeric as EIP-4361 requires
        with self._uow() as uow:
            uow.nonces.add(nonce, at=now, expires_at=now + self._nonce_ttl)
        return Challenge(
            domain=self._domain,
            uri=self._uri,
            chain_id=self._chain_id,
            version="1",
            nonce=nonce,
            statement=STATEMENT,
            issued_at=now,
            expires_at=now + self._nonce_ttl,
        )

    def sign_in(self, message: str, signature: bytes) -> BorrowerSession:
        """Verify a signed SIWE message; consume its nonce; return a borrower session."""
        parsed = siwe.parse(message)  # InvalidInput when malformed
        now = self._now()
        checked = siwe.verify(
            message,
            signature,
            domain=self._domain,
            nonce=parsed.nonce,
            now=now,
            chain_id=self._chain_id,
            uri_prefix=self._uri,
            scheme=self._scheme if parsed.scheme else None,  # absent: https, per EIP-4361
        )
        if not self._is_borrower(checked.address):
            raise Unauthenticated(f"no agreement here names {checked.address} as its borrower")
        expires_at = now + self._session_ttl
        if checked.expiration_time is not None:
            expires_at = min(expires_at, checked.expiration_time)
        key_id = secrets.token_hex(8)
        token = token_of(key_id, secrets.token_urlsafe(32))
        with self._uow() as uow:
            if not uow.nonces.consume(parsed.nonce, now):
                raise Unauthenticated("this sign-in nonce is unknown, used or expired")
            uow.keys.add(
                ApiKey(
                    id=key_id,
                    token_hash=token_hash(token),
                    role="borrower",
                    lender=None,
                    name=f"siwe {checked.address}",
                    created_by="siwe",
                    created_at=now,
                    expires_at=expires_at,
                    revoked_at=None,
                    borrower=checked.address,
                )
            )
        log.info("a borrower signed in (session %s)", key_id)
        return BorrowerSession(token=token, address=checked.address, expires_at=expires_at)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)
