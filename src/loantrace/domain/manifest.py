"""Batch manifests: the leaves of a Merkle batch, published so anyone can find a digest's batch.

A manifest is exactly OpenZeppelin's `StandardMerkleTree.dump()` of the batch
(`@openzeppelin/merkle-tree` 1.0.8: `format`, `leafEncoding`, `tree`, `values`), serialised as
RFC 8785 canonical JSON. Its SHA-256 is anchored on chain with the root (the `manifestHash` of
`BatchAnchored`), so a manifest fetched from any mirror is checked twice: its bytes against the
hash on chain, and its leaves against the root on chain. JavaScript loads it with
`StandardMerkleTree.load(manifest)`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rfc8785

from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import parse_bytes32, to_hex
from loantrace.domain.merkle import (
    AGREEMENT_LEAF_TYPES,
    StandardMerkleTree,
    leaf_values_from_json,
    leaf_values_to_json,
)

FORMAT = "standard-v1"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    """A checked manifest: its tree and its leaf values, in input order."""

    tree: StandardMerkleTree
    values: tuple[tuple[object, ...], ...]
    body: bytes  # the canonical bytes that were hashed

    @property
    def root(self) -> bytes:
        """Return the Merkle root the manifest's leaves build."""
        return self.tree.root

    @property
    def sha256(self) -> bytes:
        """Return the manifest's content address, as anchored on chain."""
        return hashlib.sha256(self.body).digest()

    def index_of(self, digest: bytes) -> int | None:
        """Return the input index of the leaf whose document digest is `digest`, if any."""
        for index, value in enumerate(self.values):
            if value[0] == digest:
                return index
        return None


def build_manifest(values: Sequence[Sequence[object]]) -> Manifest:
    """Build the manifest of a batch of agreement leaf values (in submission order)."""
    tree = StandardMerkleTree.of(values, AGREEMENT_LEAF_TYPES)
    dump: dict[str, Any] = {
        "format": FORMAT,
        "leafEncoding": list(AGREEMENT_LEAF_TYPES),
        "tree": [to_hex(node) for node in tree.nodes],
        "values": [
            {
                "value": leaf_values_to_json(value, AGREEMENT_LEAF_TYPES),
                "treeIndex": tree.tree_index(i),
            }
            for i, value in enumerate(values)
        ],
    }
    return Manifest(tree=tree, values=tuple(tuple(v) for v in values), body=rfc8785.dumps(dump))


def parse_manifest(body: bytes, expected_sha256: bytes | None = None) -> Manifest:
    """Parse and check a fetched manifest; reject anything that is not exactly what we publish.

    The bytes must hash to `expected_sha256` (the hash anchored on chain) when it is given, be
    canonical JSON, and their tree must be the one their leaf values build.
    """
    if len(body) > MAX_MANIFEST_BYTES:
        raise InvalidInput(f"a manifest is at most {MAX_MANIFEST_BYTES} bytes")
    if expected_sha256 is not None and hashlib.sha256(body).digest() != expected_sha256:
        raise InvalidInput("the manifest's SHA-256 is not the hash anchored on chain")
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("a manifest must be JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInput(f"a manifest must be an object of format {FORMAT}")
    if data.get("leafEncoding") != list(AGREEMENT_LEAF_TYPES):
        raise InvalidInput(f"a manifest's leafEncoding must be {list(AGREEMENT_LEAF_TYPES)}")
    entries = data.get("values")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("a manifest must list its values")
    values = tuple(_entry(entry, i) for i, entry in enumerate(entries))
    built = build_manifest(values)
    if built.body != body:
        raise InvalidInput("the manifest's tree is not the one its values build (or not canonical)")
    return built


def manifest_root(body: bytes) -> bytes:
    """Return the root written in a manifest's tree, without checking it (for lookups)."""
    data = json.loads(body)
    return parse_bytes32(str(data["tree"][0]), field="tree[0]")


def _entry(entry: object, index: int) -> tuple[object, ...]:
    if not isinstance(entry, dict) or not isinstance(entry.get("value"), list):
        raise InvalidInput(f"values[{index}] must be an object with a value list")
    return leaf_values_from_json(entry["value"], AGREEMENT_LEAF_TYPES)
