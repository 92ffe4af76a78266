"""Batches, typed data, verification, supersede and revoke through the API."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from loantrace.domain.hexcodec import to_hex
from tests.api.conftest import assert_problem, form_of, json_item
from tests.conftest import SAMPLE_TERMS, SubmissionFactory

ROOT = Path(__file__).resolve().parents[2]


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _oz_verify(merkles: list[dict[str, Any]]) -> list[bool]:
    """Check proofs with OpenZeppelin's JavaScript StandardMerkleTree.verify (no code of ours)."""
    if (
        shutil.which("node") is None
        or not (ROOT / "node_modules/@openzeppelin/merkle-tree").is_dir()
    ):
        if os.environ.get("LOANTRACE_TEST_REQUIRE_NODE") == "1":
            pytest.fail("node and @openzeppelin/merkle-tree are required")
        pytest.skip("node or @openzeppelin/merkle-tree not installed")
    script = (
        "const {StandardMerkleTree} = require('@openzeppelin/merkle-tree');"
        "const items = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "console.log(JSON.stringify(items.map(m => "
        "StandardMerkleTree.verify(m.root, m.leaf_types, m.leaf_values, m.proof))));"
    )
    out = subprocess.run(
        ["node", "-e", script],
        input=json.dumps(merkles),
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    result: list[bool] = json.loads(out.stdout)
    return result


def test_batch_receipts_carry_proofs_openzeppelin_accepts(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = [make_submission(rt) for _ in range(5)]
    response = client.post(
        "/v1/agreements/batch", json={"agreements": [json_item(s) for s in signed]}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["count"] == 5
    receipts = body["receipts"]
    assert [r["digest"] for r in receipts] == [to_hex(s.submission.digest) for s in signed]
    assert {r["merkle"]["root"] for r in receipts} == {body["root"]}
    assert all(r["mode"] == "batch" and r["status"] == "notarised" for r in receipts)
    assert _oz_verify([r["merkle"] for r in receipts]) == [True] * 5
    tampered = dict(receipts[0]["merkle"])
    tampered["leaf_values"] = [receipts[1]["digest"], *tampered["leaf_values"][1:]]
    assert _oz_verify([tampered]) == [False]
    batch = rt.registry.batch_of(bytes.fromhex(body["root"][2:]))
    assert batch is not None
    assert batch.block_number == receipts[0]["block_number"]


def test_batch_with_one_bad_signature_writes_nothing(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    good = make_submission(rt)
    bad = make_submission(rt, signer=Account.create())
    head = rt.node.head()
    body = assert_problem(
        client.post("/v1/agreements/batch", json={"agreements": [json_item(good), json_item(bad)]}),
        422,
        "signature-mismatch",
    )
    assert "borrower" in body["detail"]
    assert rt.node.head() == head
    assert_problem(client.get(f"/v1/agreements/{to_hex(good.submission.digest)}"), 404)


def test_batch_rejects_repeats_known_digests_empty_and_bad_items(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    item = json_item(make_submission(rt))
    assert_problem(client.post("/v1/agreements/batch", json={"agreements": [item, item]}), 422)
    assert client.post("/v1/agreements/batch", json={"agreements": [item]}).status_code == 201
    other = json_item(make_submission(rt))
    assert_problem(client.post("/v1/agreements/batch", json={"agreements": [other, item]}), 409)
    assert_problem(client.get(f"/v1/agreements/{other['digest']}"), 404)
    assert_problem(client.post("/v1/agreements/batch", json={"agreements": []}), 422)
    broken = other | {"digest": "0x1234"}
    body = assert_problem(client.post("/v1/agreements/batch", json={"agreements": [broken]}), 422)
    assert "agreements[0].digest" in body["detail"]
    assert_problem(client.post("/v1/agreements/batch", content=b"not json"), 422)


def test_typed_data_signed_by_a_wallet_is_accepted(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    made = make_submission(rt)
    wallet = Account.create()
    form = form_of(made)
    params = {
        "digest": form["digest"],
        "borrower": wallet.address,
        "borrower_commitment": form["borrower_commitment"],
        "terms": form["terms"],
    }
    typed = client.get("/v1/agreements/typed-data", params=params)
    assert typed.status_code == 200, typed.text
    document = typed.json()
    assert document["primaryType"] == "Agreement"
    assert document["domain"]["chainId"] == rt.node.chain_id
    assert document["domain"]["verifyingContract"] == rt.registry.address
    signature = Account.sign_typed_data(wallet.key, full_message=document).signature
    form |= {"borrower": wallet.address, "borrower_signature": to_hex(bytes(signature))}
    assert client.post("/v1/agreements", data=form).status_code == 201


def test_typed_data_needs_the_terms_and_shows_the_full_schedule(client: TestClient) -> None:
    params = {
        "digest": "0x" + "11" * 32,
        "borrower": "0x" + "22" * 20,
        "borrower_commitment": "0x" + "33" * 32,
    }
    assert_problem(client.get("/v1/agreements/typed-data", params=params), 422)
    bad = params | {"terms": "{}"}
    assert_problem(client.get("/v1/agreements/typed-data", params=bad), 422)
    terms = json.dumps(SAMPLE_TERMS.to_json())
    ok = client.get("/v1/agreements/typed-data", params=params | {"terms": terms})
    assert ok.status_code == 200
    message = ok.json()["message"]
    assert len(message["terms"]["schedule"]) == SAMPLE_TERMS.instalments
    assert message["terms"]["principal"] == SAMPLE_TERMS.principal
    disclosure = ok.json()["disclosure"]
    assert disclosure["rate_cap_bps"] == 1_200
    assert disclosure["apr_bps"] == SAMPLE_TERMS.apr_bps
    assert disclosure["within_cap"] is False  # 14.50 % is above 4 × LPR
    assert SAMPLE_TERMS.apr_bps - 20 <= disclosure["annual_cost_bps"] <= SAMPLE_TERMS.apr_bps


def test_verify_reports_valid_from_the_chain_and_tampered_is_not_found(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt, b"the exact agreement text")
    receipt = client.post("/v1/agreements", data=form_of(signed)).json()
    files = {"document": ("a.txt", signed.document, "text/plain")}
    report = client.post("/v1/verify", files=files).json()
    assert report["verdict"] == "valid"
    assert report["mode"] == "single"
    assert report["tx_hash"] == receipt["tx_hash"]
    assert report["lender"] == report["recovered_lender"] == rt.notary.lender
    assert report["borrower"] == report["recovered_borrower"] == signed.borrower.address
    assert report["signatures_match"] is True
    assert report["confirmations"] >= 1
    assert report["block_number"] == receipt["block_number"]
    tampered = {"document": ("a.txt", b"the exact agreement text!", "text/plain")}
    assert client.post("/v1/verify", files=tampered).json()["verdict"] == "not_found"


def test_verify_batched_with_receipt_merkle_works_without_database(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = [make_submission(rt) for _ in range(3)]
    receipts = client.post(
        "/v1/agreements/batch", json={"agreements": [json_item(s) for s in signed]}
    ).json()["receipts"]
    stored = client.post("/v1/verify", data={"digest": receipts[1]["digest"]}).json()
    assert stored["verdict"] == "valid"
    assert stored["merkle_proof_valid"] is True
    assert stored["recovered_borrower"] == signed[1].borrower.address
    assert stored["tx_hash"] == receipts[1]["tx_hash"]
    with rt.engine.begin() as conn:  # an auditor's view: our database knows nothing
        conn.exec_driver_sql("DELETE FROM agreements")
    assert (
        client.post("/v1/verify", data={"digest": receipts[1]["digest"]}).json()["verdict"]
        == "not_found"
    )
    merkle = json.dumps(receipts[1]["merkle"])
    report = client.post("/v1/verify", data={"digest": receipts[1]["digest"], "merkle": merkle})
    assert report.json()["verdict"] == "valid"
    assert report.json()["tx_hash"] == receipts[1]["tx_hash"]
    assert report.json()["block_number"] == receipts[1]["block_number"]
    bad = dict(receipts[1]["merkle"])
    bad["proof"] = list(reversed(bad["proof"])) if len(bad["proof"]) > 1 else ["0x" + "00" * 32]
    report = client.post(
        "/v1/verify", data={"digest": receipts[1]["digest"], "merkle": json.dumps(bad)}
    ).json()
    assert (report["verdict"], report["merkle_proof_valid"]) == ("not_found", False)
    other = client.post("/v1/verify", data={"digest": receipts[0]["digest"], "merkle": merkle})
    assert_problem(other, 422)


@pytest.mark.parametrize(
    "merkle",
    ["{bad json", "[]", json.dumps({"root": "0x12"}), json.dumps({"leaf_types": ["bytes32"]})],
)
def test_verify_rejects_malformed_merkle_evidence(client: TestClient, merkle: str) -> None:
    assert_problem(
        client.post("/v1/verify", data={"digest": "0x" + "11" * 32, "merkle": merkle}), 422
    )


def test_verify_needs_document_or_digest(client: TestClient) -> None:
    assert_problem(client.post("/v1/verify", data={}), 422)
    assert_problem(client.post("/v1/verify", data={"digest": "0x1"}), 422)


def test_supersede_and_revoke_change_the_verdict(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    first = make_submission(rt)
    client.post("/v1/agreements", data=form_of(first))
    amendment = make_submission(rt, supersedes=first.submission.digest)
    response = client.post("/v1/agreements", data=form_of(amendment))
    assert response.status_code == 201, response.text
    old = client.post("/v1/verify", data={"digest": to_hex(first.submission.digest)}).json()
    assert old["verdict"] == "superseded"
    assert old["superseded_by"] == response.json()["agreement_id"]  # the chain names the id
    assert client.get(f"/v1/agreements/{to_hex(first.submission.digest)}").json()["status"] == (
        "superseded"
    )
    assert_problem(
        client.post(
            "/v1/agreements", data=form_of(make_submission(rt, supersedes=first.submission.digest))
        ),
        409,
        "not-active",
    )
    digest = to_hex(amendment.submission.digest)
    revoked = client.post(f"/v1/agreements/{digest}/revoke", json={"reason": 7})
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    report = client.post("/v1/verify", data={"digest": digest}).json()
    assert (report["verdict"], report["revoke_reason"]) == ("revoked", 7)
    assert_problem(client.post(f"/v1/agreements/{digest}/revoke", json={"reason": 7}), 409)


def test_revoke_batched_agreement_changes_its_verdict(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    items = [json_item(make_submission(rt)) for _ in range(4)]
    client.post("/v1/agreements/batch", json={"agreements": items})
    digest = items[2]["digest"]
    assert client.post(f"/v1/agreements/{digest}/revoke", json={"reason": 1}).status_code == 200
    assert client.post("/v1/verify", data={"digest": digest}).json()["verdict"] == "revoked"
    assert (
        client.post("/v1/verify", data={"digest": items[1]["digest"]}).json()["verdict"] == "valid"
    )


def test_revoke_errors_are_problems(client: TestClient) -> None:
    unknown = "0x" + "55" * 32
    assert_problem(client.post(f"/v1/agreements/{unknown}/revoke", json={"reason": 1}), 404)
    assert_problem(client.post(f"/v1/agreements/{unknown}/revoke", json={"reason": 0}), 422)
    assert_problem(client.post(f"/v1/agreements/{unknown}/revoke", json={"reason": "1"}), 422)
    assert_problem(client.post(f"/v1/agreements/{unknown}/revoke", json={}), 422)


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"]["database"] == "ok"
