"""Our word-by-word `abi.encode` gives exactly eth-abi's bytes, or eth-abi's own error."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode
from eth_utils import to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.abiwords import abi_encode

KINDS = ["bytes32", "bytes20", "bytes3", "bytes1", "address", "uint8", "uint64", "uint256"]
KINDS += ["bool", "bytes", "string"]
KINDS += ["int256", "uint255", "bytes32[]"]  # not ours: left to eth-abi

addresses = st.binary(min_size=20, max_size=20).flatmap(
    lambda raw: st.sampled_from(
        [
            "0x" + raw.hex(),
            "0x" + raw.hex().upper(),
            to_checksum_address(raw),
            to_checksum_address(raw).swapcase().replace("0X", "0x"),  # a bad checksum
            raw.hex(),  # unprefixed
            raw,
        ]
    )
)
values: st.SearchStrategy[Any] = st.one_of(
    st.binary(max_size=70),
    st.binary(min_size=32, max_size=32),
    st.integers(min_value=-(2**8), max_value=2**257),
    st.sampled_from([0, 1, 2**64 - 1, 2**64, 2**256 - 1, 2**256]),
    st.booleans(),
    st.text(max_size=40),
    addresses,
    st.none(),
    st.lists(st.binary(min_size=32, max_size=32), max_size=2),
)


def _outcome(function: Any, types: list[str], vals: list[Any]) -> tuple[str, Any]:
    try:
        return "ok", function(types, vals)
    except Exception as exc:
        return "error", type(exc)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(KINDS), values), max_size=9))
def test_the_same_bytes_or_the_same_error_as_eth_abi(pairs: list[tuple[str, Any]]) -> None:
    types, vals = [kind for kind, _ in pairs], [value for _, value in pairs]
    assert _outcome(abi_encode, types, vals) == _outcome(encode, types, vals)


@settings(max_examples=500, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    addresses,
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(max_size=130),
    st.text(max_size=40),
)
def test_well_typed_values_match_eth_abi(
    word: bytes, address: Any, number: int, blob: bytes, text: str
) -> None:
    types = ["bytes32", "address", "uint64", "bytes", "string", "bool", "bytes"]
    vals = [word, address, number, blob, text, number % 2 == 0, blob[:7]]
    assert _outcome(abi_encode, types, vals) == _outcome(encode, types, vals)


def test_a_count_mismatch_is_eth_abis_error() -> None:
    assert _outcome(abi_encode, ["uint8"], [1, 2]) == _outcome(encode, ["uint8"], [1, 2])
