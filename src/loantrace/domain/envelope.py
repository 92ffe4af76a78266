"""Envelope encryption: data sealed under its own key, that key wrapped by a master key.

Each seal makes a fresh random 256-bit data key. The data is AES-256-GCM encrypted under it
(`ciphertext` = nonce || ciphertext-and-tag) with the caller's AAD, and the data key is
AES-256-GCM encrypted under the keyring's active master key (`wrapped_key` = nonce ||
wrapped-key-and-tag) with an AAD naming that master key's id. Rotating master keys re-wraps
the small data keys and never touches the data; destroying a wrapped key destroys the data.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from loantrace.domain.errors import ConfigurationError, SealBroken

KEY_LENGTH = 32  # AES-256, master and data keys alike
NONCE_LENGTH = 12  # 96 bits, random per encryption
TAG_LENGTH = 16
WRAPPED_KEY_LENGTH = NONCE_LENGTH + KEY_LENGTH + TAG_LENGTH

_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_WRAP_CONTEXT = b"loantrace/data-key/v1/"


@dataclass(frozen=True)
class Sealed:
    """Data sealed under a data key, and that data key wrapped by master key `key_id`."""

    key_id: str
    wrapped_key: bytes  # nonce || AES-GCM(master key, data key)
    ciphertext: bytes  # nonce || AES-GCM(data key, plaintext)


class Keyring:
    """Master keys by id; the first is the active one, which wraps every new data key."""

    def __init__(self, keys: Sequence[tuple[str, bytes]]) -> None:
        if not keys:
            raise ConfigurationError("a keyring needs at least one master key")
        self._keys: dict[str, bytes] = {}
        for key_id, key in keys:
            if not isinstance(key_id, str) or _KEY_ID.fullmatch(key_id) is None:
                raise ConfigurationError("a master key id must be 1..32 of A-Z a-z 0-9 . _ -")
            if key_id in self._keys:
                raise ConfigurationError(f"master key id {key_id!r} appears twice")
            if not isinstance(key, bytes) or len(key) != KEY_LENGTH:
                raise ConfigurationError(f"master key {key_id!r} must be {KEY_LENGTH} bytes")
            if any(hmac.compare_digest(key, other) for other in self._keys.values()):
                raise ConfigurationError(f"master key {key_id!r} repeats another key's bytes")
            self._keys[key_id] = bytes(key)
        self._active = keys[0][0]

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse `"k2:<base64 of 32 bytes>,k1:<base64>"`; the first key is the active one."""
        pairs: list[tuple[str, bytes]] = []
        for entry in spec.split(","):
            key_id, sep, encoded = entry.strip().partition(":")
            if not sep:
                raise ConfigurationError("each master key is written `<key id>:<base64 key>`")
            pairs.append((key_id.strip(), _base64(key_id.strip(), encoded.strip())))
        return cls(pairs)

    @property
    def active_id(self) -> str:
        """The id of the master key that wraps new data keys."""
        return self._active

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Every master key id, the active one first."""
        return tuple(self._keys)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    def __repr__(self) -> str:
        return f"Keyring(active={self._active!r}, ids={list(self._keys)!r})"

    def wrap(self, data_key: bytes) -> tuple[str, bytes]:
        """Return (active key id, wrapped `data_key`)."""
        return self._active, _encrypt(self._key(self._active), data_key, _wrap_aad(self._active))

    def unwrap(self, key_id: str, wrapped_key: bytes) -> bytes:
        """Return the data key wrapped by master key `key_id`."""
        data_key = _decrypt(self._key(key_id), wrapped_key, _wrap_aad(key_id), "data key")
        if len(data_key) != KEY_LENGTH:
            raise SealBroken("a wrapped data key has the wrong length")
        return data_key

    def _key(self, key_id: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None:
            raise ConfigurationError(
                f"master key {key_id!r} is not in the keyring; re-wrap every data key under "
                "the active key before retiring an old one"
            )
        return key


def seal(keyring: Keyring, plaintext: bytes, aad: bytes) -> Sealed:
    """Encrypt `plaintext` (bound to `aad`) under a fresh data key wrapped by the active key."""
    data_key = AESGCM.generate_key(bit_length=8 * KEY_LENGTH)
    key_id, wrapped_key = keyring.wrap(data_key)
    return Sealed(key_id, wrapped_key, _encrypt(data_key, plaintext, aad))


def open_sealed(keyring: Keyring, sealed: Sealed, aad: bytes) -> bytes:
    """Return the plaintext of `sealed`; raise SealBroken unless it is intact and `aad` fits."""
    data_key = keyring.unwrap(sealed.key_id, sealed.wrapped_key)
    return _decrypt(data_key, sealed.ciphertext, aad, "sealed data")


def rewrap(keyring: Keyring, sealed: Sealed) -> Sealed:
    """Return `sealed` with its data key wrapped by the active key; the ciphertext is kept."""
    if sealed.key_id == keyring.active_id:
        return sealed
    key_id, wrapped_key = keyring.wrap(keyring.unwrap(sealed.key_id, sealed.wrapped_key))
    return Sealed(key_id, wrapped_key, sealed.ciphertext)


def _wrap_aad(key_id: str) -> bytes:
    return _WRAP_CONTEXT + key_id.encode("ascii")


def _encrypt(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_LENGTH)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _decrypt(key: bytes, sealed: bytes, aad: bytes, what: str) -> bytes:
    if not isinstance(sealed, bytes) or len(sealed) < NONCE_LENGTH + TAG_LENGTH:
        raise SealBroken(f"the {what} is truncated")
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_LENGTH], sealed[NONCE_LENGTH:], aad)
    except InvalidTag:
        raise SealBroken(f"the {what} fails authentication (tampered or swapped)") from None


def _base64(key_id: str, encoded: str) -> bytes:
    standard = encoded.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"master key {key_id!r} is not valid base64") from None
