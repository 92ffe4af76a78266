"""Who is calling: roles, principals, and API key tokens (pure; no storage, no HTTP)."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from loantrace.domain.errors import InvalidInput

Role = Literal["admin", "lender", "auditor", "regulator", "borrower"]
ROLES: tuple[Role, ...] = ("admin", "lender", "auditor", "regulator", "borrower")
KEY_ROLES: tuple[Role, ...] = ("admin", "lender", "auditor", "regulator")  # borrowers use SIWE

TOKEN_PREFIX = "lt"  # noqa: S105 -- the token scheme name, not a secret
_TOKEN = re.compile(r"^lt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: its role, the lender (or borrower) it is bound to, its key."""

    role: Role
    key_id: str
    name: str
    lender: str | None = None
    borrower: str | None = None

    @property
    def tenant(self) -> str | None:
        """Return the address whose data this caller is confined to (None: not confined)."""
        if self.role == "lender":
            return self.lender
        if self.role == "borrower":
            return self.borrower
        return None


def check_role(role: str, *, allowed: tuple[Role, ...] = KEY_ROLES) -> Role:
    """Return `role` if it is one of `allowed`, else raise InvalidInput."""
    for candidate in allowed:
        if role == candidate:
            return candidate
    raise InvalidInput(f"role must be one of {', '.join(allowed)}")


def token_of(key_id: str, secret: str) -> str:
    """Return the bearer token of a key: `lt_<key id>_<secret>`."""
    return f"{TOKEN_PREFIX}_{key_id}_{secret}"


def split_token(token: str) -> tuple[str, str] | None:
    """Return (key id, secret) of a well-formed token, else None."""
    match = _TOKEN.match(token)
    return None if match is None else (match.group(1), match.group(2))


def token_hash(token: str) -> str:
    """Return the SHA-256 (hex) kept in place of a token (tokens carry 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Compare two hashes in constant time."""
    return hmac.compare_digest(a.encode(), b.encode())
