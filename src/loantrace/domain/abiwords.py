"""`abi.encode` of the flat types our hashes use, written word by word.

Agreement leaves, EIP-712 structs and revocations are tuples of static words (`bytes32`,
`address`, `uintN`, `bool`) and dynamic `bytes` or `string`. eth-abi encodes them through
its generic, validating encoder at about 15 us a value, which was a quarter of a batch's CPU.
Here the common cases are written directly; any other type, and any value eth-abi would
coerce or refuse (a short `bytes32`, an unprefixed address, a bool as an int, ...), goes to
eth-abi itself, so the result (bytes or error) is always eth-abi's. A property test holds
the two equal. (eth-abi takes an address in any letter case, without checking EIP-55; so
does this.)
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from eth_abi.abi import encode as _eth_abi_encode

_WORD = 32
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_UINT_BITS = {f"uint{8 * k}": 8 * k for k in range(1, 33)}
_BYTES_SIZE = {f"bytes{k}": k for k in range(1, 33)}
_PAD = bytes(_WORD)


class _Generic(Exception):
    """This type or value is left to eth-abi."""


def abi_encode(types: Sequence[str], values: Sequence[object]) -> bytes:
    """Return `eth_abi.encode(types, values)` (and raise what it raises)."""
    try:
        return _encode(types, values)
    except _Generic:
        return _eth_abi_encode(list(types), list(values))


def _encode(types: Sequence[str], values: Sequence[object]) -> bytes:
    if len(types) != len(values):
        raise _Generic
    head: list[bytes] = []
    tail: list[bytes] = []
    offset = _WORD * len(types)
    for kind, value in zip(types, values, strict=True):
        if kind in ("bytes", "string"):
            data = _dynamic(kind, value)
            head.append(offset.to_bytes(_WORD, "big"))
            chunk = len(data).to_bytes(_WORD, "big") + data + _PAD[: -len(data) % _WORD]
            tail.append(chunk)
            offset += len(chunk)
        else:
            head.append(_static(kind, value))
    return b"".join(head) + b"".join(tail)


def _static(kind: str, value: object) -> bytes:
    if (size := _BYTES_SIZE.get(kind)) is not None:
        if isinstance(value, bytes) and len(value) == size:
            return value + _PAD[size:]
    elif kind == "address":
        if isinstance(value, str) and _ADDRESS.fullmatch(value):  # any case: as eth-abi
            return _PAD[:12] + bytes.fromhex(value[2:])
        elif isinstance(value, bytes) and len(value) == 20:
            return _PAD[:12] + value
    elif (bits := _UINT_BITS.get(kind)) is not None:
        if type(value) is int and 0 <= value < 1 << bits:
            return value.to_bytes(_WORD, "big")
    elif kind == "bool" and type(value) is bool:
        return (1 if value else 0).to_bytes(_WORD, "big")
    raise _Generic


def _dynamic(kind: str, value: object) -> bytes:
    if kind == "bytes" and isinstance(value, bytes):
        return value
    if kind == "string" and isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: eth-abi's own error
            raise _Generic from None
    raise _Generic
