"""The Python StandardMerkleTree: proofs, tampering, JSON leaves, and the JavaScript oracle."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.agreement import Agreement, Domain, SignedAgreement, sign_agreement
from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.merkle import (
    AGREEMENT_LEAF_TYPES,
    StandardMerkleTree,
    agreement_leaf_values,
    hash_pair,
    leaf_values_from_json,
    leaf_values_to_json,
    process_proof,
    standard_leaf_hash,
    verify,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRDROP_TYPES = ("address", "uint256")
DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")

addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
airdrop_leaves = st.tuples(addresses, st.integers(0, 2**256 - 1))
airdrop_trees = st.lists(airdrop_leaves, min_size=1, max_size=64)


def _flip(data: bytes, bit: int) -> bytes:
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


def _signed_agreement(rng: random.Random) -> SignedAgreement:
    lender = Account.from_key(rng.randbytes(32))
    borrower = Account.from_key(rng.randbytes(32))
    agreement = Agreement(
        digest=rng.randbytes(32),
        lender=lender.address,
        borrower=borrower.address,
        borrower_commitment=rng.randbytes(32),
        terms_digest=rng.randbytes(32),
        supersedes=rng.choice([bytes(32), rng.randbytes(32)]),
    )
    return SignedAgreement(
        agreement,
        sign_agreement(agreement, DOMAIN, lender.key),
        sign_agreement(agreement, DOMAIN, borrower.key),
    )


def test_single_leaf_root_is_its_leaf_hash_and_proof_is_empty() -> None:
    tree = StandardMerkleTree.of([[b"\xab" * 32]], ["bytes32"])
    assert tree.root == standard_leaf_hash(["bytes32"], [b"\xab" * 32])
    assert tree.proof(0) == []
    assert len(tree) == 1


def test_empty_tree_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="at least one leaf"):
        StandardMerkleTree.of([], ["bytes32"])


def test_root_and_proofs_match_vectors_from_the_javascript_library() -> None:
    values = [
        ("0x1111111111111111111111111111111111111111", 5 * 10**18),
        ("0x2222222222222222222222222222222222222222", 25 * 10**17),
        ("0x3333333333333333333333333333333333333333", 1),
    ]
    tree = StandardMerkleTree.of(values, AIRDROP_TYPES)
    assert to_hex(tree.root) == "0xd673f832e8ae578ea16450035956e30f27212b91d6cd26edbef07c90546302ff"
    assert [to_hex(p) for p in tree.proof(0)] == [
        "0x8d00bd8d33bd92e6ade0ba2d87958d59727515200df528502b93c99dd3fa0256"
    ]
    assert [to_hex(p) for p in tree.proof(2)] == [
        "0xb92c48e9d7abe27fd8dfd6b5dfdbfb1c9a463f80c712b66f3a5180a090cccafc",
        "0xeb02c421cfa48976e66dfb29120745909ea3a0f843456c263cf8f1253483e283",
    ]
    single = StandardMerkleTree.of([[b"\xab" * 32]], ["bytes32"])
    assert (
        to_hex(single.root) == "0xda3cbdb11b9992efff8480118052300c383f2df80454c77fa86afc1e55fd2123"
    )


@given(airdrop_leaves)
def test_leaf_hash_is_double_keccak_of_abi_encoding(value: tuple[str, int]) -> None:
    expected = keccak(keccak(encode(list(AIRDROP_TYPES), list(value))))
    assert standard_leaf_hash(AIRDROP_TYPES, value) == expected


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_hash_pair_is_keccak_of_sorted_pair(a: bytes, b: bytes) -> None:
    assert hash_pair(a, b) == hash_pair(b, a) == keccak(min(a, b) + max(a, b))


@given(airdrop_trees)
def test_every_leaf_proof_verifies(values: list[tuple[str, int]]) -> None:
    tree = StandardMerkleTree.of(values, AIRDROP_TYPES)
    for index, value in enumerate(values):
        assert tree.leaf_hash(index) == standard_leaf_hash(AIRDROP_TYPES, value)
        assert process_proof(tree.leaf_hash(index), tree.proof(index)) == tree.root
        assert verify(tree.root, AIRDROP_TYPES, value, tree.proof(index))


@given(airdrop_trees, st.data())
def test_proof_fails_when_any_bit_flipped(
    values: list[tuple[str, int]], data: st.DataObject
) -> None:
    tree = StandardMerkleTree.of(values, AIRDROP_TYPES)
    index = data.draw(st.integers(0, len(values) - 1), label="index")
    bit = data.draw(st.integers(0, 255), label="bit")
    leaf, proof = tree.leaf_hash(index), tree.proof(index)
    assert process_proof(_flip(leaf, bit), proof) != tree.root
    assert not verify(_flip(tree.root, bit), AIRDROP_TYPES, values[index], proof)
    if proof:
        which = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        tampered = [*proof[:which], _flip(proof[which], bit), *proof[which + 1 :]]
        assert not verify(tree.root, AIRDROP_TYPES, values[index], tampered)


@given(st.lists(airdrop_leaves, min_size=2, max_size=32, unique=True), st.data())
def test_proof_of_one_leaf_does_not_verify_another(
    values: list[tuple[str, int]], data: st.DataObject
) -> None:
    tree = StandardMerkleTree.of(values, AIRDROP_TYPES)
    index = data.draw(st.integers(0, len(values) - 1))
    other = data.draw(st.integers(0, len(values) - 1).filter(lambda i: i != index))
    assert not verify(tree.root, AIRDROP_TYPES, values[other], tree.proof(index))


def test_duplicate_values_each_get_a_valid_proof() -> None:
    values = [[b"\x01" * 32], [b"\x02" * 32], [b"\x01" * 32]]
    tree = StandardMerkleTree.of(values, ["bytes32"])
    assert tree.proof(0) != tree.proof(2)
    for index, value in enumerate(values):
        assert verify(tree.root, ["bytes32"], value, tree.proof(index))


@pytest.mark.parametrize("index", [-1, 3, 100])
def test_proof_index_out_of_range_is_rejected(index: int) -> None:
    tree = StandardMerkleTree.of([[b"\x01" * 32]] * 3, ["bytes32"])
    with pytest.raises(InvalidInput, match=f"leaf index {index} is out of range 0..2"):
        tree.proof(index)


def test_verify_rejects_nodes_that_are_not_32_bytes() -> None:
    tree = StandardMerkleTree.of([[b"\x01" * 32], [b"\x02" * 32]], ["bytes32"])
    with pytest.raises(InvalidInput, match=r"proof\[0\] must be a 32-byte hash"):
        verify(tree.root, ["bytes32"], [b"\x01" * 32], [tree.proof(0)[0][:31]])
    with pytest.raises(InvalidInput, match="root must be a 32-byte hash"):
        verify(tree.root + b"\x00", ["bytes32"], [b"\x01" * 32], tree.proof(0))


@pytest.mark.parametrize(
    ("values", "message"),
    [([b"\x01" * 32, 1], "needs 1 values, got 2"), (["not bytes"], "do not match types")],
)
def test_values_that_do_not_fit_the_types_are_rejected(values: list[object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        StandardMerkleTree.of([values], ["bytes32"])


def test_agreement_leaf_values_follow_the_leaf_types() -> None:
    signed = _signed_agreement(random.Random(7))
    values = agreement_leaf_values(signed)
    a = signed.agreement
    assert values == (
        a.digest,
        a.lender,
        a.borrower,
        a.borrower_commitment,
        a.terms_digest,
        a.supersedes,
        signed.lender_signature,
        signed.borrower_signature,
    )
    assert len(AGREEMENT_LEAF_TYPES) == len(values)


@given(st.integers(0, 2**32))
def test_agreement_leaf_json_round_trips(seed: int) -> None:
    rng = random.Random(seed)
    values = (
        rng.randbytes(32),
        to_checksum_address(rng.randbytes(20)),
        to_checksum_address(rng.randbytes(20)),
        rng.randbytes(32),
        rng.randbytes(32),
        bytes(32),
        rng.randbytes(65),
        rng.randbytes(rng.randrange(0, 200)),  # ERC-1271 signatures may have any length
    )
    as_json = leaf_values_to_json(values, AGREEMENT_LEAF_TYPES)
    assert json.loads(json.dumps(as_json)) == as_json
    assert as_json[1] == values[1]
    assert as_json[0] == "0x" + values[0].hex()
    assert leaf_values_from_json(as_json, AGREEMENT_LEAF_TYPES) == values


def _valid_json_leaf() -> list[str]:
    return leaf_values_to_json(
        agreement_leaf_values(_signed_agreement(random.Random(3))), AGREEMENT_LEAF_TYPES
    )


@pytest.mark.parametrize(
    ("position", "value", "message"),
    [
        (0, "0xab", r"leaf_values\[0\] must be exactly 32 bytes"),  # JS would right-pad it
        (0, 32, r"leaf_values\[0\] must be a string"),
        (1, "0x1234", r"leaf_values\[1\] must be an address of 20 bytes"),  # JS would left-pad
        (1, "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", r"leaf_values\[1\] has an invalid"),
        (6, "0xabc", r"leaf_values\[6\] must have an even number"),  # JS would prepend a 0
        (7, "0xzz", r"leaf_values\[7\] is not hex"),
    ],
)
def test_leaf_json_rejects_malformed_values(position: int, value: object, message: str) -> None:
    leaf: list[object] = list(_valid_json_leaf())
    leaf[position] = value
    with pytest.raises(InvalidInput, match=message):
        leaf_values_from_json(leaf, AGREEMENT_LEAF_TYPES)


def test_leaf_json_rejects_wrong_shape() -> None:
    with pytest.raises(InvalidInput, match="leaf_values must be a list"):
        leaf_values_from_json("0x00", AGREEMENT_LEAF_TYPES)
    with pytest.raises(InvalidInput, match="leaf_values must have 8 items, got 7"):
        leaf_values_from_json(_valid_json_leaf()[:7], AGREEMENT_LEAF_TYPES)


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("uint8", "256", "fits uint8"),
        ("uint256", "0x10", "decimal integer"),
        ("uint256", "007", "decimal integer"),
        ("uint7", "1", "unsupported leaf type uint7"),
        ("bool", "true", "unsupported leaf type bool"),
    ],
)
def test_leaf_json_rejects_bad_numbers_and_unsupported_types(
    kind: str, value: str, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        leaf_values_from_json([value], [kind])


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("bytes32", b"\x01" * 31),
        ("uint8", 256),
        ("uint256", True),
        ("string", b"x"),
        ("bytes", 1.5),
    ],
)
def test_leaf_json_refuses_to_write_values_that_do_not_fit(kind: str, value: object) -> None:
    with pytest.raises(InvalidInput):
        leaf_values_to_json([value], [kind])


# ---- The JavaScript library itself as the oracle ----------------------------------------

_ORACLE = """
const { StandardMerkleTree } = require('@openzeppelin/merkle-tree');
let input = '';
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((c) => {
    const tree = StandardMerkleTree.of(c.values, c.types);
    return {
      root: tree.root,
      proofs: c.values.map((_, i) => tree.getProof(i)),
      verified: c.receipts.map((r) =>
        StandardMerkleTree.verify(r.root, c.types, r.leafValues, r.proof)),
    };
  });
  process.stdout.write(JSON.stringify(out));
});
"""


def _node_or_skip() -> str:
    node = shutil.which("node")
    if node is None:
        missing = "`node` is not on PATH"
    elif not (
        REPO_ROOT / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"
    ).is_file():
        missing = "node_modules/@openzeppelin/merkle-tree is missing (run `npm ci`)"
    else:
        return node
    if os.environ.get("LOANTRACE_TEST_REQUIRE_NODE") == "1":
        pytest.fail(f"LOANTRACE_TEST_REQUIRE_NODE=1 but {missing}")
    pytest.skip(f"JavaScript oracle unavailable: {missing}")


Case = tuple[tuple[str, ...], list[tuple[object, ...]]]


def _oracle_cases(rng: random.Random) -> list[Case]:
    """Return agreement trees with real signatures, airdrop-style trees, and mixed types."""
    cases: list[Case] = []
    for size in (1, 2, 3, 7, 16, 33):
        signed = [_signed_agreement(rng) for _ in range(size)]
        cases.append((AGREEMENT_LEAF_TYPES, [agreement_leaf_values(s) for s in signed]))
    for size in (1, 2, 3, 4, 5, 8, 9, 31, 64, *(rng.randrange(1, 65) for _ in range(6))):
        leaves: list[tuple[object, ...]] = [
            (to_checksum_address(rng.randbytes(20)), rng.randrange(2**256)) for _ in range(size)
        ]
        cases.append((AIRDROP_TYPES, leaves))
    mixed: list[tuple[object, ...]] = [
        ("贷款 ✓", rng.randbytes(rng.randrange(0, 70)), rng.randbytes(4), rng.randrange(2**64))
        for _ in range(6)
    ]
    cases.append((("string", "bytes", "bytes4", "uint64"), [*mixed, mixed[2]]))  # a duplicate
    return cases


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_javascript_library_builds_identical_trees_and_accepts_our_receipts(seed: int) -> None:
    node = _node_or_skip()
    cases = _oracle_cases(random.Random(seed))
    trees = [StandardMerkleTree.of(values, types) for types, values in cases]
    payload = []
    for (types, values), tree in zip(cases, trees, strict=True):
        receipts = [
            {
                "root": to_hex(tree.root),
                "leafValues": leaf_values_to_json(value, types),
                "proof": [to_hex(p) for p in tree.proof(i)],
            }
            for i, value in enumerate(values)
        ]
        tampered = dict(receipts[0], root=to_hex(bytes(32)))
        payload.append(
            {
                "types": list(types),
                "values": [r["leafValues"] for r in receipts],
                "receipts": [*receipts, tampered],
            }
        )
    done = subprocess.run(
        [node, "-e", _ORACLE],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, Any]] = json.loads(done.stdout)
    for (types, values), tree, js in zip(cases, trees, results, strict=True):
        label = f"seed {seed}, {len(values)} leaves of {types}"
        assert js["root"] == to_hex(tree.root), label
        assert js["proofs"] == [[to_hex(p) for p in tree.proof(i)] for i in range(len(values))], (
            label
        )
        assert js["verified"] == [True] * len(values) + [False], label
