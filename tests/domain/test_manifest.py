"""Batch manifests: canonical, content-addressed, checked against their root, loadable by JS."""

from __future__ import annotations

import hashlib
import json
import random
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.manifest import build_manifest, manifest_root, parse_manifest
from loantrace.domain.merkle import agreement_leaf_values
from tests.domain.test_merkle import REPO_ROOT, _node_or_skip, _signed_agreement


def _values(seed: int, size: int) -> list[tuple[object, ...]]:
    rng = random.Random(seed)
    return [agreement_leaf_values(_signed_agreement(rng)) for _ in range(size)]


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), size=st.integers(1, 12))
def test_manifest_round_trips_and_finds_every_digest_with_a_valid_proof(
    seed: int, size: int
) -> None:
    values = _values(seed, size)
    manifest = build_manifest(values)
    parsed = parse_manifest(manifest.body, manifest.sha256)
    assert parsed.root == manifest.root == manifest_root(manifest.body)
    assert parsed.sha256 == hashlib.sha256(manifest.body).digest()
    for index, value in enumerate(values):
        found = parsed.index_of(value[0])  # type: ignore[arg-type]
        assert found == index
        assert parsed.tree.proof(index) == manifest.tree.proof(index)
    assert parsed.index_of(b"\x00" * 32) is None


def test_manifest_is_canonical_json_of_the_openzeppelin_dump() -> None:
    manifest = build_manifest(_values(7, 3))
    data = json.loads(manifest.body)
    assert sorted(data) == ["format", "leafEncoding", "tree", "values"]
    assert data["format"] == "standard-v1"
    assert data["tree"][0] == to_hex(manifest.root)
    assert manifest.body == json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["tree"].__setitem__(0, "0x" + "11" * 32), "not the one its values build"),
        (lambda d: d["values"][0]["value"].__setitem__(1, "0x" + "22" * 20), "not the one"),
        (lambda d: d["values"].pop(), "not the one"),
        (lambda d: d.__setitem__("format", "simple-v1"), "format"),
        (lambda d: d.__setitem__("leafEncoding", ["bytes32"]), "leafEncoding"),
        (lambda d: d.__setitem__("values", []), "list its values"),
        (lambda d: d["values"][0].__setitem__("value", "x"), "value list"),
    ],
)
def test_a_tampered_manifest_is_refused(mutate: object, message: str) -> None:
    manifest = build_manifest(_values(3, 4))
    data = json.loads(manifest.body)
    mutate(data)  # type: ignore[operator]
    body = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    with pytest.raises(InvalidInput, match=message):
        parse_manifest(body)


def test_manifest_must_hash_to_the_anchored_hash_and_be_canonical() -> None:
    manifest = build_manifest(_values(5, 2))
    with pytest.raises(InvalidInput, match="SHA-256"):
        parse_manifest(manifest.body, b"\x01" * 32)
    pretty = json.dumps(json.loads(manifest.body), indent=2).encode()
    with pytest.raises(InvalidInput, match="canonical"):
        parse_manifest(pretty)
    with pytest.raises(InvalidInput, match="JSON"):
        parse_manifest(b"\xff")


_LOAD = """
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
const tree = StandardMerkleTree.load(JSON.parse(require('fs').readFileSync(0, 'utf8')));
const out = [];
for (const [i, v] of tree.entries()) out.push({ digest: v[0], proof: tree.getProof(i) });
process.stdout.write(JSON.stringify({ root: tree.root, leaves: out }));
"""


def test_javascript_library_loads_our_manifest_and_gives_the_same_proofs() -> None:
    node = _node_or_skip()
    values = _values(11, 9)
    manifest = build_manifest(values)
    done = subprocess.run(
        [node, "-e", _LOAD],
        input=manifest.body.decode(),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=True,
    )
    js = json.loads(done.stdout)
    assert js["root"] == to_hex(manifest.root)
    for i, leaf in enumerate(js["leaves"]):
        assert leaf["digest"] == to_hex(values[i][0])  # type: ignore[arg-type]
        assert leaf["proof"] == [to_hex(p) for p in manifest.tree.proof(i)]
