"""Strict hex parsing of hashes, addresses and signatures."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput, SignatureError
from loantrace.domain.hexcodec import (
    ZERO32,
    parse_address,
    parse_bytes32,
    parse_hex,
    parse_signature,
    to_hex,
)

CHECKSUMMED = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"  # EIP-55 test vector


def test_to_hex_is_0x_and_lowercase() -> None:
    assert to_hex(b"\xab\xcd") == "0xabcd"
    assert to_hex(b"") == "0x"


def test_zero32_is_32_zero_bytes() -> None:
    assert bytes(32) == ZERO32


@given(st.binary(min_size=32, max_size=32))
def test_bytes32_round_trips_through_hex(data: bytes) -> None:
    assert parse_bytes32(to_hex(data), field="digest") == data


@pytest.mark.parametrize("prefix", ["0x", "0X", ""])
def test_bytes32_accepts_any_prefix_and_case(prefix: str) -> None:
    assert parse_bytes32(prefix + "AB" * 16 + "cd" * 16, field="digest") == b"\xab" * 16 + (
        b"\xcd" * 16
    )


@pytest.mark.parametrize("digits", [0, 62, 63, 65, 66, 128])
def test_bytes32_rejects_wrong_length_naming_field_and_length(digits: int) -> None:
    with pytest.raises(InvalidInput, match=r"terms_digest must be 32 bytes \(64 hex digits\)"):
        parse_bytes32("0x" + "a" * digits, field="terms_digest")


@pytest.mark.parametrize(
    "value",
    ["0x" + "g" * 64, "0x" + "a" * 63 + " ", " 0x" + "a" * 64, "0x0x" + "a" * 62, "ä" * 64],
)
def test_bytes32_rejects_non_hex(value: str) -> None:
    with pytest.raises(InvalidInput, match="digest is not hex"):
        parse_bytes32(value, field="digest")


def test_bytes32_rejects_non_string() -> None:
    with pytest.raises(InvalidInput, match="digest must be a hex string, got int"):
        parse_bytes32(12, field="digest")


def test_parse_hex_accepts_empty_and_any_length() -> None:
    assert parse_hex("0x", field="data") == b""
    assert parse_hex("0102", field="data") == b"\x01\x02"


def test_parse_hex_rejects_odd_length() -> None:
    with pytest.raises(InvalidInput, match="data must have an even number of hex digits"):
        parse_hex("0xabc", field="data")


@pytest.mark.parametrize(
    "value", [CHECKSUMMED.lower(), "0x" + CHECKSUMMED[2:].upper(), CHECKSUMMED, CHECKSUMMED[2:]]
)
def test_address_is_returned_checksummed(value: str) -> None:
    assert parse_address(value, field="borrower") == CHECKSUMMED


@given(st.binary(min_size=20, max_size=20))
def test_address_parse_agrees_with_eth_utils(raw: bytes) -> None:
    expected = to_checksum_address(raw)
    assert parse_address(to_hex(raw), field="lender") == expected
    assert parse_address(expected, field="lender") == expected


def test_address_rejects_mixed_case_with_wrong_checksum() -> None:
    first_letter = next(i for i, c in enumerate(CHECKSUMMED) if i > 1 and c.isalpha())
    wrong = CHECKSUMMED[:first_letter] + CHECKSUMMED[first_letter:].swapcase()[0]
    wrong += CHECKSUMMED[first_letter + 1 :]
    assert wrong.lower() == CHECKSUMMED.lower()
    assert wrong != CHECKSUMMED
    with pytest.raises(
        InvalidInput, match=f"borrower has an invalid EIP-55 checksum.*{CHECKSUMMED}"
    ):
        parse_address(wrong, field="borrower")


@pytest.mark.parametrize("digits", [0, 38, 39, 41, 42, 64])
def test_address_rejects_wrong_length(digits: int) -> None:
    with pytest.raises(InvalidInput, match=r"lender must be an address of 20 bytes \(40 hex"):
        parse_address("0x" + "1" * digits, field="lender")


def test_address_rejects_non_hex() -> None:
    with pytest.raises(InvalidInput, match="lender is not hex"):
        parse_address("0x" + "z" * 40, field="lender")


def test_address_rejects_non_string() -> None:
    with pytest.raises(InvalidInput, match="lender must be a hex string, got bytes"):
        parse_address(b"\x11" * 20, field="lender")


def test_signature_parses_65_bytes() -> None:
    assert parse_signature("0x" + "11" * 64 + "1b", field="sig") == b"\x11" * 64 + b"\x1b"


@pytest.mark.parametrize("digits", [0, 128, 129, 131, 132])
def test_signature_rejects_wrong_length_with_signature_error(digits: int) -> None:
    with pytest.raises(SignatureError, match=r"borrower_signature must be 65 bytes") as info:
        parse_signature("0x" + "1" * digits, field="borrower_signature")
    assert not isinstance(info.value, InvalidInput)


def test_signature_rejects_non_hex_with_signature_error() -> None:
    with pytest.raises(SignatureError, match="borrower_signature is not hex"):
        parse_signature("0x" + "q" * 130, field="borrower_signature")


def test_signature_rejects_non_string_with_signature_error() -> None:
    with pytest.raises(SignatureError, match="borrower_signature must be a hex string"):
        parse_signature(None, field="borrower_signature")
