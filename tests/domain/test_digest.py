"""Document digests, RFC 8785 canonical JSON, and salted party commitments."""

from __future__ import annotations

import hashlib
import hmac
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.digest import (
    canonical_json,
    document_digest,
    json_digest,
    new_salt,
    party_commitment,
)
from loantrace.domain.errors import InvalidInput

SAFE_INT = 2**53 - 1
json_scalars = st.none() | st.booleans() | st.integers(-SAFE_INT, SAFE_INT) | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _reversed_keys(value: Any) -> Any:
    """Return `value` with every object's keys inserted in reverse order."""
    if isinstance(value, dict):
        return {key: _reversed_keys(value[key]) for key in reversed(list(value))}
    if isinstance(value, list):
        return [_reversed_keys(item) for item in value]
    return value


@given(st.binary(max_size=4096))
def test_document_digest_equals_hashlib_sha256(data: bytes) -> None:
    assert document_digest(data) == hashlib.sha256(data).digest()


@settings(max_examples=25)
@given(st.binary(min_size=0, max_size=2048))
def test_document_digest_equals_sha256sum_binary(tmp_path_factory: Any, data: bytes) -> None:
    sha256sum = shutil.which("sha256sum")
    if sha256sum is None:
        pytest.skip("sha256sum is not installed")
    path = Path(tmp_path_factory.mktemp("doc")) / "agreement.pdf"
    path.write_bytes(data)
    out = subprocess.run([sha256sum, str(path)], check=True, capture_output=True, text=True)
    assert out.stdout.split()[0] == document_digest(data).hex()


def test_canonical_json_sorts_keys_and_drops_whitespace() -> None:
    value = {"b": 1, "a": [True, None, "é"], "A": {"z": 0, "y": -5}}
    assert canonical_json(value) == '{"A":{"y":-5,"z":0},"a":[true,null,"é"],"b":1}'.encode()


@given(st.dictionaries(st.text(), json_values, max_size=8))
def test_canonical_json_is_independent_of_key_order(value: dict[str, Any]) -> None:
    assert canonical_json(value) == canonical_json(_reversed_keys(value))
    assert json_digest(value) == json_digest(_reversed_keys(value))


@given(json_values)
def test_json_digest_is_sha256_of_canonical_json(value: Any) -> None:
    assert json_digest(value) == hashlib.sha256(canonical_json(value)).digest()


@given(json_values, st.floats(allow_nan=True), st.integers(0, 3))
def test_floats_are_rejected_anywhere(value: Any, number: float, depth: int) -> None:
    nested: Any = number
    for level in range(depth):
        nested = {"amount": nested} if level % 2 else [value, nested]
    with pytest.raises(InvalidInput, match="is a float; use integers"):
        canonical_json({"terms": nested, "other": value})


def test_float_rejection_names_the_path() -> None:
    with pytest.raises(InvalidInput, match=r"\$\.terms\.rates\[1\] is a float"):
        canonical_json({"terms": {"rates": [1, 2.5]}})


@pytest.mark.parametrize("number", [2**53, -(2**53), 10**18])
def test_integers_outside_the_json_safe_range_are_rejected(number: int) -> None:
    with pytest.raises(InvalidInput, match="cannot be canonicalised"):
        canonical_json({"principal": number})


def test_tuples_are_canonicalised_as_arrays() -> None:
    assert canonical_json({"a": (1, 2)}) == b'{"a":[1,2]}'


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({1: "x"}, "non-string key"),
        ({"doc": b"\x00"}, "has type bytes"),
        ({"when": object()}, "has type object"),
        ({"set": {1, 2}}, "has type set"),
    ],
)
def test_non_json_values_are_rejected(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        canonical_json(value)


@given(st.dictionaries(st.text(), json_values, max_size=5), st.binary(min_size=16, max_size=64))
def test_party_commitment_is_hmac_sha256_of_canonical_identity(
    identity: dict[str, Any], salt: bytes
) -> None:
    expected = hmac.new(salt, canonical_json(identity), hashlib.sha256).digest()
    assert party_commitment(identity, salt) == expected
    assert party_commitment(_reversed_keys(identity), salt) == expected


def test_party_commitment_changes_with_salt_and_identity() -> None:
    identity = {"name": "Li Wei", "id_number": "110101199003074578"}
    salt = new_salt()
    base = party_commitment(identity, salt)
    assert party_commitment(identity, new_salt()) != base
    assert party_commitment({**identity, "name": "Li We"}, salt) != base


@pytest.mark.parametrize("salt", [b"", b"\x01" * 15])
def test_party_commitment_rejects_short_salt(salt: bytes) -> None:
    with pytest.raises(InvalidInput, match="salt must be at least 16 random bytes"):
        party_commitment({"id": "x"}, salt)


def test_party_commitment_rejects_non_bytes_salt() -> None:
    with pytest.raises(InvalidInput, match="salt must be"):
        party_commitment({"id": "x"}, "a" * 32)  # type: ignore[arg-type]


def test_party_commitment_rejects_non_object_identity() -> None:
    with pytest.raises(InvalidInput, match="identity must be a JSON object"):
        party_commitment(["Li Wei"], new_salt())  # type: ignore[arg-type]


def test_new_salt_is_32_fresh_bytes() -> None:
    salts = {new_salt() for _ in range(50)}
    assert len(salts) == 50
    assert all(len(salt) == 32 for salt in salts)
