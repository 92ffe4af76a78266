"""A Python twin of OpenZeppelin's StandardMerkleTree (npm @openzeppelin/merkle-tree 1.0.8).

Roots and proofs are byte-identical with the JavaScript library for the same values, and
verify with OpenZeppelin's `MerkleProof` on chain.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from eth_abi.exceptions import EncodingError
from eth_utils.crypto import keccak

from loantrace.domain.abiwords import abi_encode
from loantrace.domain.agreement import SignedAgreement
from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import parse_address, parse_hex, to_hex

# (digest, lender, borrower, borrowerCommitment, termsDigest, supersedes, lenderSig, borrowerSig)
AGREEMENT_LEAF_TYPES: tuple[str, ...] = (
    "bytes32",
    "address",
    "address",
    "bytes32",
    "bytes32",
    "bytes32",
    "bytes",
    "bytes",
)
_FIXED_BYTES = re.compile(r"bytes([1-9]|[12][0-9]|3[0-2])")
_UINT = re.compile(r"uint([1-9][0-9]{0,2})")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,77}")


class StandardMerkleTree:
    """A Merkle tree of ABI-encoded leaves, sorted by leaf hash, in OpenZeppelin's layout."""

    def __init__(self, tree: Sequence[bytes], leaf_types: Sequence[str], positions: Sequence[int]):
        """Wrap an already built tree array; call `StandardMerkleTree.of` to build one."""
        self._tree = tuple(tree)
        self._leaf_types = tuple(leaf_types)
        self._positions = tuple(positions)  # input index -> index in the tree array

    @classmethod
    def of(
        cls, values: Sequence[Sequence[object]], leaf_types: Sequence[str]
    ) -> StandardMerkleTree:
        """Build the tree of `values`, each ABI-encoded as `leaf_types`."""
        if not values:
            raise InvalidInput("a Merkle tree needs at least one leaf")
        hashed = [(standard_leaf_hash(leaf_types, value), i) for i, value in enumerate(values)]
        hashed.sort(key=lambda pair: pair[0])  # stable, like Array.prototype.sort in JS
        size = 2 * len(hashed) - 1
        tree = [b""] * size
        positions = [0] * len(hashed)
        for rank, (leaf, index) in enumerate(hashed):
            tree[size - 1 - rank] = leaf
            positions[index] = size - 1 - rank
        for node in range(size - 1 - len(hashed), -1, -1):
            tree[node] = hash_pair(tree[2 * node + 1], tree[2 * node + 2])
        return cls(tree, leaf_types, positions)

    @property
    def root(self) -> bytes:
        """Return the 32-byte root."""
        return self._tree[0]

    @property
    def leaf_types(self) -> tuple[str, ...]:
        """Return the ABI types of each leaf's values."""
        return self._leaf_types

    @property
    def nodes(self) -> tuple[bytes, ...]:
        """Return the tree array, root first, in OpenZeppelin's layout (its `tree`)."""
        return self._tree

    def tree_index(self, index: int) -> int:
        """Return the position in the tree array of input value `index` (its `treeIndex`)."""
        return self._position(index)

    def __len__(self) -> int:
        """Return the number of leaves."""
        return len(self._positions)

    def leaf_hash(self, index: int) -> bytes:
        """Return the leaf hash of input value `index`."""
        return self._tree[self._position(index)]

    def proof(self, index: int) -> list[bytes]:
        """Return the proof of input value `index`, leaf to root, like JS `getProof(i)`."""
        node = self._position(index)
        proof = []
        while node > 0:
            sibling = node + 1 if node % 2 else node - 1
            proof.append(self._tree[sibling])
            node = (node - 1) // 2
        return proof

    def _position(self, index: int) -> int:
        if not 0 <= index < len(self._positions):
            raise InvalidInput(f"leaf index {index} is out of range 0..{len(self) - 1}")
        return self._positions[index]


def standard_leaf_hash(leaf_types: Sequence[str], values: Sequence[object]) -> bytes:
    """Return keccak256(keccak256(abi.encode(values))), the leaf hash of StandardMerkleTree."""
    if len(leaf_types) != len(values):
        raise InvalidInput(f"a leaf needs {len(leaf_types)} values, got {len(values)}")
    try:
        encoded = abi_encode(list(leaf_types), list(values))
    except (EncodingError, TypeError, ValueError) as exc:
        raise InvalidInput(f"leaf values do not match types {list(leaf_types)}: {exc}") from None
    return keccak(keccak(encoded))


def hash_pair(a: bytes, b: bytes) -> bytes:
    """Return keccak256 of the two nodes concatenated in ascending order."""
    return keccak(a + b if a <= b else b + a)


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root that `proof` leads to from `leaf`."""
    node = _node(leaf, "leaf")
    for i, sibling in enumerate(proof):
        node = hash_pair(node, _node(sibling, f"proof[{i}]"))
    return node


def verify(
    root: bytes, leaf_types: Sequence[str], values: Sequence[object], proof: Sequence[bytes]
) -> bool:
    """Return whether `proof` places the leaf of `values` under `root`."""
    leaf = standard_leaf_hash(leaf_types, values)
    return process_proof(leaf, proof) == _node(root, "root")


def agreement_leaf_values(signed: SignedAgreement) -> tuple[object, ...]:
    """Return the leaf values of a signed agreement, in AGREEMENT_LEAF_TYPES order."""
    agreement = signed.agreement
    return (
        agreement.digest,
        agreement.lender,
        agreement.borrower,
        agreement.borrower_commitment,
        agreement.terms_digest,
        agreement.supersedes,
        signed.lender_signature,
        signed.borrower_signature,
    )


def leaf_values_to_json(values: Sequence[object], leaf_types: Sequence[str]) -> list[str]:
    """Return leaf values as the strings JS `StandardMerkleTree.verify` takes."""
    texts = [_text(value, f"leaf_values[{i}]") for i, value in enumerate(values)]
    parsed = leaf_values_from_json(texts, leaf_types)  # the same checks as on the way in
    if standard_leaf_hash(leaf_types, parsed) != standard_leaf_hash(leaf_types, values):
        raise InvalidInput(f"leaf values do not have the Python types of {list(leaf_types)}")
    return [_text(value, "leaf value") for value in parsed]


def leaf_values_from_json(
    json_values: Sequence[object], leaf_types: Sequence[str]
) -> tuple[object, ...]:
    """Parse leaf values written by `leaf_values_to_json`; reject anything else."""
    if isinstance(json_values, str | bytes) or not isinstance(json_values, Sequence):
        raise InvalidInput("leaf_values must be a list")
    if len(json_values) != len(leaf_types):
        raise InvalidInput(f"leaf_values must have {len(leaf_types)} items, got {len(json_values)}")
    return tuple(
        _value_from_json(value, kind, f"leaf_values[{i}]")
        for i, (kind, value) in enumerate(zip(leaf_types, json_values, strict=True))
    )


def _value_from_json(value: object, kind: str, field: str) -> object:
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    if kind == "address":
        return parse_address(value, field=field)
    if kind == "bytes":
        return parse_hex(value, field=field)
    if fixed := _FIXED_BYTES.fullmatch(kind):
        parsed = parse_hex(value, field=field)
        if len(parsed) != int(fixed.group(1)):
            raise InvalidInput(f"{field} must be exactly {fixed.group(1)} bytes for type {kind}")
        return parsed
    if bits := _uint_bits(kind):
        if not _DECIMAL.fullmatch(value) or int(value) >= 2**bits:
            raise InvalidInput(f"{field} must be a decimal integer that fits {kind}")
        return int(value)
    if kind == "string":
        return value
    raise InvalidInput(f"{field} has unsupported leaf type {kind}")


def _text(value: object, field: str) -> str:
    if isinstance(value, bytes | bytearray):
        return to_hex(bytes(value))
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, str):
        return value
    raise InvalidInput(f"{field} must be bytes, an int or a str, got {type(value).__name__}")


def _uint_bits(kind: str) -> int:
    """Return N of a `uintN` type, or 0 for any other type."""
    match = _UINT.fullmatch(kind)
    bits = int(match.group(1)) if match else 0
    return bits if bits <= 256 and bits % 8 == 0 else 0


def _node(value: object, field: str) -> bytes:
    if not isinstance(value, bytes | bytearray) or len(value) != 32:
        raise InvalidInput(f"{field} must be a 32-byte hash")
    return bytes(value)
