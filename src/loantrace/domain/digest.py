"""Digests of documents and JSON, and salted commitments to personal data."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence

import rfc8785

from loantrace.domain.errors import InvalidInput

MIN_SALT_LENGTH = 16
SALT_LENGTH = 32

JsonValue = None | bool | int | str | list["JsonValue"] | dict[str, "JsonValue"]


def document_digest(data: bytes) -> bytes:
    """Return the SHA-256 of `data`, the same 32 bytes `sha256sum` prints."""
    return hashlib.sha256(data).digest()


def canonical_json(value: object) -> bytes:
    """Return the RFC 8785 (JCS) canonical UTF-8 JSON of `value`.

    Floats are refused anywhere in `value`: money is integer minor units, and a float
    would make the digest depend on binary rounding. Integers must fit in ±(2**53 - 1),
    the exact range of I-JSON numbers that RFC 8785 can represent.
    """
    try:
        return bytes(rfc8785.dumps(_plain(value, "$")))
    except rfc8785.CanonicalizationError as exc:
        raise InvalidInput(f"value cannot be canonicalised as JSON: {exc}") from None


def json_digest(value: object) -> bytes:
    """Return the SHA-256 of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value)).digest()


def party_commitment(identity: Mapping[str, object], salt: bytes) -> bytes:
    """Return HMAC-SHA256(key=salt, msg=canonical JSON of `identity`)."""
    if not isinstance(identity, Mapping):
        raise InvalidInput("identity must be a JSON object")
    if not isinstance(salt, bytes | bytearray) or len(salt) < MIN_SALT_LENGTH:
        raise InvalidInput(f"salt must be at least {MIN_SALT_LENGTH} random bytes")
    return hmac.new(bytes(salt), canonical_json(identity), hashlib.sha256).digest()


def new_salt() -> bytes:
    """Return a fresh 32-byte salt from the OS's secure random source."""
    return secrets.token_bytes(SALT_LENGTH)


def _plain(value: object, path: str) -> JsonValue:
    """Return `value` as plain dicts and lists; reject floats and non-JSON types."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        raise InvalidInput(f"{path} is a float; use integers (money in minor units)")
    if isinstance(value, Mapping):
        plain: dict[str, JsonValue] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{path} has a non-string key {key!r}")
            plain[key] = _plain(item, f"{path}.{key}")
        return plain
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise InvalidInput(f"{path} has type {type(value).__name__}, which is not JSON")
