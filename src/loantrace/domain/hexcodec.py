"""Strict conversions between 0x-hex strings and bytes, addresses and signatures."""

from __future__ import annotations

import functools
import re

from eth_utils.address import to_checksum_address

from loantrace.domain.errors import InvalidInput, SignatureError

ZERO32 = bytes(32)
SIGNATURE_LENGTH = 65

# Only ASCII hex digits: `bytes.fromhex` alone would also accept spaces.
_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]*)")


def to_hex(data: bytes) -> str:
    """Return `data` as "0x" followed by lowercase hex."""
    return "0x" + bytes(data).hex()


def parse_hex(value: object, *, field: str) -> bytes:
    """Parse an even-length hex string, 0x-prefixed or bare, of any length."""
    digits = _hex_digits(value, field=field, error=InvalidInput)
    if len(digits) % 2:
        raise InvalidInput(f"{field} must have an even number of hex digits")
    return bytes.fromhex(digits)


def parse_bytes32(value: object, *, field: str) -> bytes:
    """Parse exactly 32 bytes written as 64 hex digits, 0x-prefixed or bare."""
    return _parse_fixed(value, 32, field=field, error=InvalidInput)


def parse_address(value: object, *, field: str) -> str:
    """Parse a 20-byte address and return it EIP-55 checksummed; reject a wrong checksum."""
    digits = _hex_digits(value, field=field, error=InvalidInput)
    if len(digits) != 40:
        raise InvalidInput(
            f"{field} must be an address of 20 bytes (40 hex digits), got {len(digits)} digits"
        )
    checksummed = _checksummed(digits.lower())
    mixed_case = digits != digits.lower() and digits != digits.upper()
    if mixed_case and digits != checksummed[2:]:
        raise InvalidInput(f"{field} has an invalid EIP-55 checksum (expected {checksummed})")
    return checksummed


@functools.lru_cache(maxsize=4_096)  # the same parties recur; each conversion is a keccak
def _checksummed(lower_digits: str) -> str:
    return str(to_checksum_address("0x" + lower_digits))


def parse_signature(value: object, *, field: str) -> bytes:
    """Parse a 65-byte (r, s, v) signature written as 130 hex digits."""
    return _parse_fixed(value, SIGNATURE_LENGTH, field=field, error=SignatureError)


def _parse_fixed(
    value: object, length: int, *, field: str, error: type[InvalidInput | SignatureError]
) -> bytes:
    digits = _hex_digits(value, field=field, error=error)
    if len(digits) != 2 * length:
        raise error(
            f"{field} must be {length} bytes ({2 * length} hex digits), got {len(digits)} digits"
        )
    return bytes.fromhex(digits)


def _hex_digits(value: object, *, field: str, error: type[InvalidInput | SignatureError]) -> str:
    if not isinstance(value, str):
        raise error(f"{field} must be a hex string, got {type(value).__name__}")
    match = _HEX.fullmatch(value)
    if match is None:
        raise error(f"{field} is not hex: only 0-9, a-f and an optional 0x prefix are allowed")
    return match.group(1)
