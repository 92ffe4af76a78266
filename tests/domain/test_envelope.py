"""Envelope encryption: a data key per seal, wrapped by a rotating master keyring."""

from __future__ import annotations

import base64
import os
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.envelope import (
    KEY_LENGTH,
    NONCE_LENGTH,
    WRAPPED_KEY_LENGTH,
    Keyring,
    Sealed,
    open_sealed,
    rewrap,
    seal,
)
from loantrace.domain.errors import ConfigurationError, SealBroken

K1 = bytes(range(32))
K2 = bytes(range(32, 64))
RING = Keyring([("k1", K1)])
ROTATED = Keyring([("k2", K2), ("k1", K1)])

plaintexts = st.binary(max_size=2048)
aads = st.binary(max_size=128)


def _b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def _flip(data: bytes, index: int) -> bytes:
    index %= len(data)
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


@given(plaintext=plaintexts, aad=aads)
def test_a_sealed_value_opens_to_its_plaintext(plaintext: bytes, aad: bytes) -> None:
    sealed = seal(RING, plaintext, aad)
    assert sealed.key_id == "k1"
    assert len(sealed.wrapped_key) == WRAPPED_KEY_LENGTH
    assert open_sealed(RING, sealed, aad) == plaintext


@given(plaintext=plaintexts, aad=aads, index=st.integers(min_value=0))
def test_a_tampered_ciphertext_is_refused(plaintext: bytes, aad: bytes, index: int) -> None:
    sealed = seal(RING, plaintext, aad)
    tampered = replace(sealed, ciphertext=_flip(sealed.ciphertext, index))
    with pytest.raises(SealBroken):
        open_sealed(RING, tampered, aad)


@given(plaintext=plaintexts, aad=aads, index=st.integers(min_value=0))
def test_a_tampered_wrapped_key_is_refused(plaintext: bytes, aad: bytes, index: int) -> None:
    sealed = seal(RING, plaintext, aad)
    tampered = replace(sealed, wrapped_key=_flip(sealed.wrapped_key, index))
    with pytest.raises(SealBroken):
        open_sealed(RING, tampered, aad)


@given(plaintext=plaintexts, aad=aads, other=aads)
def test_another_aad_is_refused(plaintext: bytes, aad: bytes, other: bytes) -> None:
    sealed = seal(RING, plaintext, aad)
    if other != aad:
        with pytest.raises(SealBroken):
            open_sealed(RING, sealed, other)


def test_a_sealed_value_swapped_onto_another_row_is_refused() -> None:
    mine = seal(RING, b"alice", b"commitment-a")
    theirs = seal(RING, b"bob", b"commitment-b")
    with pytest.raises(SealBroken):
        open_sealed(RING, replace(mine, ciphertext=theirs.ciphertext), b"commitment-a")
    with pytest.raises(SealBroken):
        open_sealed(RING, theirs, b"commitment-a")


def test_a_relabelled_key_id_is_refused_even_when_both_keys_are_known() -> None:
    sealed = seal(ROTATED, b"secret", b"aad")
    assert sealed.key_id == "k2"
    with pytest.raises(SealBroken):
        open_sealed(ROTATED, replace(sealed, key_id="k1"), b"aad")


def test_an_unknown_key_id_is_refused() -> None:
    sealed = seal(ROTATED, b"secret", b"aad")
    with pytest.raises(ConfigurationError, match="not in the keyring"):
        open_sealed(RING, sealed, b"aad")


def test_truncated_blobs_are_refused() -> None:
    sealed = seal(RING, b"secret", b"aad")
    with pytest.raises(SealBroken, match="truncated"):
        open_sealed(RING, replace(sealed, ciphertext=sealed.ciphertext[:NONCE_LENGTH]), b"aad")
    with pytest.raises(SealBroken, match="truncated"):
        open_sealed(RING, replace(sealed, wrapped_key=b""), b"aad")


@given(plaintext=plaintexts, aad=aads)
def test_rewrap_keeps_the_plaintext_and_ciphertext_and_moves_to_the_active_key(
    plaintext: bytes, aad: bytes
) -> None:
    sealed = seal(RING, plaintext, aad)
    moved = rewrap(ROTATED, sealed)
    assert moved.key_id == "k2"
    assert moved.ciphertext == sealed.ciphertext  # the data is not touched
    assert moved.wrapped_key != sealed.wrapped_key
    assert open_sealed(Keyring([("k2", K2)]), moved, aad) == plaintext  # k1 retired


def test_rewrap_under_the_active_key_changes_nothing() -> None:
    sealed = seal(ROTATED, b"secret", b"aad")
    assert rewrap(ROTATED, sealed) is sealed


@given(plaintext=st.binary(min_size=16, max_size=512), aad=aads)
def test_the_sealed_bytes_never_hold_the_plaintext(plaintext: bytes, aad: bytes) -> None:
    sealed = seal(RING, plaintext, aad)
    assert plaintext not in sealed.ciphertext
    assert plaintext not in sealed.wrapped_key


def test_every_seal_uses_a_fresh_data_key_and_nonces() -> None:
    first, second = seal(RING, b"same", b"aad"), seal(RING, b"same", b"aad")
    assert first.ciphertext != second.ciphertext
    assert first.wrapped_key != second.wrapped_key
    assert first.ciphertext[:NONCE_LENGTH] != second.ciphertext[:NONCE_LENGTH]


def test_a_keyring_parses_ids_and_base64_keys_with_the_first_active() -> None:
    ring = Keyring.parse(f" k2:{_b64(K2)} , k1:{base64.urlsafe_b64encode(K1).decode()}")
    assert ring.active_id == "k2"
    assert ring.key_ids == ("k2", "k1")
    assert "k1" in ring
    sealed = seal(ring, b"secret", b"aad")
    assert open_sealed(ROTATED, sealed, b"aad") == b"secret"


def test_a_keyring_accepts_unpadded_base64() -> None:
    ring = Keyring.parse(f"k1:{_b64(K1).rstrip('=')}")
    assert open_sealed(RING, seal(ring, b"x", b""), b"") == b"x"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "<key id>:<base64 key>"),
        (f"k1:{_b64(K1)},", "<key id>:<base64 key>"),
        (f"k1:{_b64(K1)},k1:{_b64(K2)}", "appears twice"),
        (f"k1:{_b64(K1[:16])}", "must be 32 bytes"),
        (f"k1:{_b64(K1 + b'x')}", "must be 32 bytes"),
        ("k1:not base64!", "not valid base64"),
        (f":{_b64(K1)}", "key id"),
        (f"k 1:{_b64(K1)}", "key id"),
        (f"k1:{_b64(K1)},k2:{_b64(K1)}", "repeats another key"),
    ],
)
def test_a_keyring_refuses_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Keyring.parse(spec)


def test_a_keyring_never_shows_its_keys() -> None:
    key = os.urandom(KEY_LENGTH)
    ring = Keyring.parse(f"live:{_b64(key)}")
    shown = repr(ring) + str(ring)
    assert _b64(key) not in shown
    assert key.hex() not in shown
    assert "live" in shown


def test_an_empty_keyring_is_refused() -> None:
    with pytest.raises(ConfigurationError):
        Keyring([])


def test_sealed_is_a_plain_value() -> None:
    sealed = seal(RING, b"x", b"")
    assert Sealed(sealed.key_id, sealed.wrapped_key, sealed.ciphertext) == sealed
