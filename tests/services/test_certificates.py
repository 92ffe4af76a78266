"""Evidence certificates: issued by the service, checked against the chain alone.

Each certificate is checked after the service's database is deleted, by our Python checker
and by the independent JavaScript verifier (scripts/verify_certificate.mjs); any one field
altered makes both fail with the same, right reason.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from loantrace.bootstrap import Runtime
from loantrace.chain.evidence import ChainEvidence
from loantrace.domain.certificate import certificate_id, seal
from loantrace.domain.hexcodec import to_hex
from loantrace.services.certificates import check_certificate
from tests.conftest import BoundChain, Signed, bound_runtime, make_signed

ROOT = Path(__file__).resolve().parents[2]
JS_VERIFIER = ROOT / "scripts" / "verify_certificate.mjs"
pytestmark = pytest.mark.anvil


@pytest.fixture
def issued(anvil_chain: BoundChain, tmp_path: Path) -> dict[str, Any]:
    """A single and a batched certificate, a revoked one; then the database is deleted."""
    db = tmp_path / "service.db"
    rt = bound_runtime(anvil_chain, f"sqlite:///{db}")
    single = make_signed(rt)
    rt.notary.notarise(single.submission)
    batch = [make_signed(rt) for _ in range(3)]
    rt.notary.notarise_batch([s.submission for s in batch])
    revoked = make_signed(rt)
    rt.notary.notarise(revoked.submission)
    rt.notary.revoke(revoked.submission.digest, reason=4)
    certs = {
        "single": _issue(rt, single),
        "batch": _issue(rt, batch[1]),
        "revoked": _issue(rt, revoked),
    }
    documents = {"single": single.document, "batch": batch[1].document}
    rpc = anvil_chain.node.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    rt.close()
    db.unlink()  # from here on, only the chain and the certificates
    return {"certs": certs, "documents": documents, "rpc": rpc}


def _issue(rt: Runtime, signed: Signed) -> dict[str, Any]:
    return rt.certificates.issue(rt.certificates.record(signed.submission.digest))


def _python(cert: object, rpc: str, document: bytes | None = None) -> dict[str, Any]:
    w3 = Web3(Web3.HTTPProvider(rpc))

    def reader(address: str) -> ChainEvidence:
        return ChainEvidence(w3, address)

    return check_certificate(cert, reader, document=document).to_json()


def _js(cert: object, rpc: str, tmp: Path, document: bytes | None = None) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None or not JS_VERIFIER.is_file():
        if os.environ.get("LOANTRACE_TEST_REQUIRE_NODE") == "1":
            pytest.fail("node and scripts/verify_certificate.mjs are required")
        pytest.skip("node or the JavaScript verifier is missing")
    path = tmp / "cert.json"
    path.write_text(json.dumps(cert))
    args = [node, str(JS_VERIFIER), str(path), "--rpc", rpc, "--json"]
    if document is not None:
        (tmp / "document").write_bytes(document)
        args += ["--document", str(tmp / "document")]
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=60, check=False)
    assert done.returncode in (0, 1), done.stderr
    verdict: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if verdict["result"] == "valid" else 1)
    return verdict


def _both(cert: object, rpc: str, tmp: Path, document: bytes | None = None) -> str:
    """Check with both verifiers; they must agree on the result and the failing check."""
    ours = _python(cert, rpc, document)
    if os.environ.get("SKIP_JS") == "1":
        return str(ours["result"])
    theirs = _js(cert, rpc, tmp, document)
    assert ours["result"] == theirs["result"], (ours, theirs)
    assert [c["name"] for c in ours["checks"]] == [c["name"] for c in theirs["checks"]]
    return str(ours["result"])


def test_certificates_verify_after_the_database_is_deleted(
    issued: dict[str, Any], tmp_path: Path
) -> None:
    certs, docs, rpc = issued["certs"], issued["documents"], issued["rpc"]
    for mode in ("single", "batch"):
        cert = certs[mode]
        assert cert["anchor"]["mode"] == mode
        assert cert["certificate_id"] == certificate_id(cert)
        assert cert["status_at_issue"]["status"] == "valid"
        assert _both(cert, rpc, tmp_path, docs[mode]) == "valid"
        assert _both(cert, rpc, tmp_path) == "valid"
        assert _both(cert, rpc, tmp_path, docs[mode] + b" ") == "wrong_document"
    assert certs["batch"]["merkle"]["manifest_hash"] != to_hex(bytes(32))
    revoked = certs["revoked"]
    assert revoked["status_at_issue"] == {
        "status": "revoked",
        "block_number": revoked["status_at_issue"]["block_number"],
        "superseded_by": None,
        "revoke_reason": 4,
    }
    assert _both(revoked, rpc, tmp_path) == "revoked"


def _flip_hex(value: str) -> str:
    last = value[-1]
    return value[:-1] + ("1" if last == "0" else "0")


def _set(path: str, change: Callable[[Any], Any]) -> Callable[[dict[str, Any]], None]:
    keys = path.split(".")

    def apply(cert: dict[str, Any]) -> None:
        target = cert
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last: Any = int(keys[-1]) if isinstance(target, list) else keys[-1]
        target[last] = change(target[last])

    return apply


OTHER = "0x" + "ab" * 20
# field -> (mode, expected result); the id is kept stale, except where re-sealing is the attack
FIELDS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "format": ("single", _set("format", lambda v: "loantrace-certificate/2"), "malformed"),
    "document.digest": ("single", _set("document.digest", _flip_hex), "wrong_document"),
    "chain.chain_id": ("single", _set("chain.chain_id", lambda v: v + 1), "wrong_chain"),
    "chain.genesis_hash": ("single", _set("chain.genesis_hash", _flip_hex), "wrong_chain"),
    "chain.contract_address": (
        "single",
        _set("chain.contract_address", lambda v: Web3.to_checksum_address(OTHER)),
        "wrong_chain",
    ),
    "anchor.block_number": (
        "single",
        _set("anchor.block_number", lambda v: v - 1),
        "anchor_mismatch",
    ),
    "anchor.block_hash": ("single", _set("anchor.block_hash", _flip_hex), "anchor_mismatch"),
    "anchor.block_timestamp": (
        "single",
        _set("anchor.block_timestamp", lambda v: v + 1),
        "anchor_mismatch",
    ),
    "anchor.tx_hash": ("single", _set("anchor.tx_hash", _flip_hex), "anchor_mismatch"),
    "agreement.agreement_id": (
        "single",
        _set("agreement.agreement_id", _flip_hex),
        "anchor_mismatch",
    ),
    "agreement.borrower": (
        "single",
        _set("agreement.borrower", lambda v: Web3.to_checksum_address(OTHER)),
        "bad_signature",
    ),
    "agreement.terms_digest": (
        "single",
        _set("agreement.terms_digest", _flip_hex),
        "bad_signature",
    ),
    "agreement.borrower_signature": (
        "single",
        _set(
            "agreement.borrower_signature",
            lambda v: v[:-2] + "1c" if v[-2:] == "1b" else v[:-2] + "1b",
        ),
        "bad_signature",
    ),
    "agreement.lender_signature": (
        "batch",
        _set("agreement.lender_signature", lambda v: v[:10] + _flip_hex(v[10:76]) + v[76:]),
        "bad_signature",
    ),
    "agreement.borrower_commitment (batch)": (
        "batch",
        _set("agreement.borrower_commitment", _flip_hex),
        "bad_signature",
    ),
    "merkle.proof": ("batch", _set("merkle.proof.0", _flip_hex), "proof_mismatch"),
    "merkle.leaf_values": ("batch", _set("merkle.leaf_values.3", _flip_hex), "proof_mismatch"),
    "merkle.root": ("batch", _set("merkle.root", _flip_hex), "anchor_mismatch"),
    "merkle.manifest_hash": ("batch", _set("merkle.manifest_hash", _flip_hex), "anchor_mismatch"),
    "chain.eip712_domain": (
        "single",
        _set("chain.eip712_domain", lambda v: dict(v, version="3")),
        "wrong_chain",
    ),
    "merkle.leaf_types": (
        "batch",
        _set("merkle.leaf_types.0", lambda v: "bytes31"),
        "proof_mismatch",
    ),
    "merkle.leaf_values (length)": (
        "batch",
        _set("merkle.leaf_values", lambda v: v[:-1]),
        "proof_mismatch",
    ),
    "issuer (a float)": ("single", _set("issuer", lambda v: dict(v, x=1.5)), "malformed"),
    "anchor.mode": ("batch", _set("anchor.mode", lambda v: "single"), "malformed"),
    "issued_at": (
        "single",
        _set("issued_at", lambda v: "2020-01-01T00:00:00Z"),
        "altered_certificate",
    ),
    "status_at_issue.status": (
        "batch",
        _set("status_at_issue.status", lambda v: "revoked"),
        "altered_certificate",
    ),
    "verify_url": (
        "single",
        _set("verify_url", lambda v: "https://evil.example/"),
        "altered_certificate",
    ),
    "steps": ("batch", _set("steps.0", lambda v: "trust us"), "altered_certificate"),
    "certificate_id": ("single", _set("certificate_id", _flip_hex), "altered_certificate"),
}


@pytest.mark.parametrize("field", list(FIELDS))
def test_any_one_field_altered_fails_with_the_right_reason(
    issued: dict[str, Any], field: str, tmp_path: Path
) -> None:
    mode, alter, expected = FIELDS[field]
    cert = copy.deepcopy(issued["certs"][mode])
    alter(cert)
    assert _both(cert, issued["rpc"], tmp_path) == expected
    if expected != "altered_certificate" and field != "format":
        resealed = seal(cert)  # a forger recomputes the id: the chain still says no
        assert _both(resealed, issued["rpc"], tmp_path) == expected


def test_a_certificate_of_another_chain_says_so(
    issued: dict[str, Any], anvil_chain: BoundChain, tmp_path: Path
) -> None:
    cert = issued["certs"]["single"]
    assert _python("not json at all", issued["rpc"])["result"] == "malformed"
    other = dict(cert, chain=dict(cert["chain"], genesis_hash="0x" + "77" * 32))
    verdict = _python(seal(other), issued["rpc"])
    assert verdict["result"] == "wrong_chain"
    assert verdict["checks"][-1]["detail"] == "the node's genesis block is not the certified one"
