"""POST/GET /v1/agreements: notarise singly, read back, and every error path."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from loantrace.domain.agreement import Domain, sign_agreement
from loantrace.domain.hexcodec import to_hex
from tests.api.conftest import assert_problem, form_of
from tests.conftest import SubmissionFactory, signed_for


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def test_upload_is_notarised_and_digest_equals_sha256sum(
    client: TestClient, make_submission: SubmissionFactory, tmp_path: object
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt, b"%PDF-1.7 loan agreement bytes\n")
    response = client.post(
        "/v1/agreements",
        data=form_of(signed, with_digest=False),
        files={"document": ("loan.pdf", signed.document, "application/pdf")},
    )
    assert response.status_code == 201, response.text
    receipt = response.json()
    path = tmp_path / "loan.pdf"  # type: ignore[operator]
    path.write_bytes(signed.document)
    sha256sum = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True)
    assert receipt["digest"] == "0x" + sha256sum.stdout.split()[0]
    assert receipt["chain_id"] == rt.node.chain_id
    assert receipt["contract_address"] == rt.registry.address
    assert receipt["status"] == "notarised"
    assert receipt["mode"] == "single"
    assert receipt["agreement_id"] == to_hex(
        rt.registry.agreement_id(rt.notary.agreement_of(signed.submission))
    )
    record = rt.registry.record_of(bytes.fromhex(receipt["agreement_id"][2:]))
    assert record is not None
    assert record.block_number == receipt["block_number"]
    assert record.timestamp == receipt["block_timestamp"]
    fetched = client.get(f"/v1/agreements/{receipt['digest']}")
    assert fetched.status_code == 200
    assert fetched.json() == receipt


def test_digest_form_is_notarised(client: TestClient, make_submission: SubmissionFactory) -> None:
    signed = make_submission(_runtime(client))
    response = client.post("/v1/agreements", data=form_of(signed))
    assert response.status_code == 201, response.text
    assert response.json()["digest"] == to_hex(signed.submission.digest)


def test_a_repeat_returns_the_first_receipt_and_another_version_is_409(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt)
    first = client.post("/v1/agreements", data=form_of(signed))
    assert first.status_code == 201
    repeat = client.post("/v1/agreements", data=form_of(signed))
    assert repeat.status_code == 200
    assert repeat.json() == first.json()
    other = make_submission(rt, signed.document)  # same document, another borrower
    assert_problem(client.post("/v1/agreements", data=form_of(other)), 409, "already-notarised")


def test_retry_after_lost_database_write_adopts_the_chain_record(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt)
    mined = rt.registry.notarise(signed_for(rt, signed))  # mined, then the process died
    assert mined is not None
    response = client.post("/v1/agreements", data=form_of(signed))
    assert response.status_code == 201, response.text
    assert response.json()["tx_hash"] == mined.tx_hash
    assert response.json()["block_number"] == mined.block_number
    retry = client.post("/v1/agreements", data=form_of(signed))
    assert retry.status_code == 200
    assert retry.json() == response.json()


def test_another_signed_version_of_a_document_is_a_record_of_its_own(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    # Records are keyed by the agreement (parties and terms), not the document digest alone:
    # an earlier anchoring of the same bytes by other parties blocks nothing.
    rt = _runtime(client)
    document = b"same document, other borrower"
    rt.registry.notarise(signed_for(rt, make_submission(rt, document)))
    other = make_submission(rt, document)  # same digest, different borrower and signature
    response = client.post("/v1/agreements", data=form_of(other))
    assert response.status_code == 201, response.text
    again = client.post("/v1/agreements", data=form_of(other))
    assert again.status_code == 200  # a retry: the first receipt, nothing sent
    assert again.json() == response.json()
    report = client.post("/v1/verify", data={"digest": to_hex(other.submission.digest)}).json()
    assert report["verdict"] == "valid"
    assert report["agreement_id"] == response.json()["agreement_id"]


def test_batch_retry_after_lost_database_write_adopts_the_anchored_root(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    from loantrace.domain.manifest import build_manifest
    from loantrace.domain.merkle import agreement_leaf_values
    from tests.api.conftest import json_item

    rt = _runtime(client)
    made = [make_submission(rt) for _ in range(3)]
    signed = [signed_for(rt, m) for m in made]
    manifest = build_manifest([agreement_leaf_values(s) for s in signed])
    tree = manifest.tree
    # mined, then the process died before recording it
    anchored = rt.registry.anchor_batch(tree.root, 3, manifest.sha256)
    assert anchored is not None
    response = client.post(
        "/v1/agreements/batch", json={"agreements": [json_item(m) for m in made]}
    )
    assert response.status_code == 201, response.text
    assert response.json()["root"] == to_hex(tree.root)
    assert {r["tx_hash"] for r in response.json()["receipts"]} == {anchored.tx_hash}
    published = client.get(f"/v1/manifests/{to_hex(manifest.sha256)}")
    assert published.status_code == 200
    assert published.content == manifest.body


def test_wrong_signer_is_rejected_and_nothing_written(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt, signer=Account.create())
    head = rt.node.head()
    body = assert_problem(client.post("/v1/agreements", data=form_of(signed)), 422)
    assert "borrower" in body["detail"]
    assert rt.node.head() == head
    assert_problem(client.get(f"/v1/agreements/{to_hex(signed.submission.digest)}"), 404)


@pytest.mark.parametrize("where", ["chain_id", "contract"])
def test_signature_replayed_from_another_domain_is_rejected(
    client: TestClient, make_submission: SubmissionFactory, where: str
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt)
    agreement = signed_for(rt, signed).agreement
    domain = rt.registry.domain
    other = (
        Domain(domain.chain_id + 1, domain.verifying_contract)
        if where == "chain_id"
        else Domain(domain.chain_id, "0x" + "ab" * 20)
    )
    form = form_of(signed)
    form["borrower_signature"] = to_hex(sign_agreement(agreement, other, signed.borrower.key))
    assert_problem(client.post("/v1/agreements", data=form), 422, "signature-mismatch")
    form = form_of(signed)
    form["lender_signature"] = to_hex(sign_agreement(agreement, other, rt.account.key))
    assert_problem(client.post("/v1/agreements", data=form), 422, "signature-mismatch")


def test_signature_of_another_agreement_is_rejected(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    first, second = make_submission(rt), make_submission(rt)
    form = form_of(second)
    form["borrower_signature"] = to_hex(first.submission.borrower_signature)
    form["borrower"] = first.submission.borrower
    assert_problem(client.post("/v1/agreements", data=form), 422, "signature-mismatch")


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("digest", "0xzz" + "00" * 31, "digest"),
        ("digest", "0x" + "ab" * 31, "digest"),
        ("borrower", "0x1234", "borrower"),
        ("borrower_commitment", "nothex", "borrower_commitment"),
        ("borrower_signature", "0x" + "11" * 64, "borrower_signature"),
        ("lender_signature", "0x12", "lender_signature"),
        ("supersedes", "0x" + "ab" * 33, "supersedes"),
        ("terms", "{not json", "terms"),
        ("terms", json.dumps({"principal": 1}), "terms"),
        ("terms", json.dumps({"principal": 1.5}), "terms"),
    ],
)
def test_malformed_fields_are_422_problems_naming_the_field(
    client: TestClient, make_submission: SubmissionFactory, field: str, value: str, needle: str
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt)
    form = form_of(signed) | {field: value}
    head = rt.node.head()
    body = assert_problem(client.post("/v1/agreements", data=form), 422)
    assert needle in body["detail"]
    assert rt.node.head() == head


def test_terms_with_negative_principal_are_rejected(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    signed = make_submission(_runtime(client))
    terms = json.loads(form_of(signed)["terms"]) | {"principal": -5}
    body = assert_problem(
        client.post("/v1/agreements", data=form_of(signed) | {"terms": json.dumps(terms)}), 422
    )
    assert "principal" in body["detail"]


def test_document_and_digest_together_or_neither_is_422(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    signed = make_submission(_runtime(client))
    files = {"document": ("a.txt", signed.document, "text/plain")}
    assert_problem(client.post("/v1/agreements", data=form_of(signed), files=files), 422)
    assert_problem(client.post("/v1/agreements", data=form_of(signed, with_digest=False)), 422)


def test_missing_form_field_is_422_problem(client: TestClient) -> None:
    body = assert_problem(client.post("/v1/agreements", data={"digest": "0x" + "00" * 32}), 422)
    assert "borrower" in body["detail"]


def test_upload_over_limit_is_413_problem(
    small_upload_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(small_upload_client)
    big = b"x" * (2048 + 70 * 1024)
    signed = make_submission(rt, big)
    response = small_upload_client.post(
        "/v1/agreements",
        data=form_of(signed, with_digest=False),
        files={"document": ("big.pdf", big, "application/pdf")},
    )
    assert_problem(response, 413, "payload-too-large")


def test_upload_between_limit_and_framing_allowance_is_413(
    small_upload_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(small_upload_client)
    doc = b"y" * 2048
    signed = make_submission(rt, doc)
    response = small_upload_client.post(
        "/v1/agreements",
        data=form_of(signed, with_digest=False),
        files={"document": ("doc.pdf", doc, "application/pdf")},
    )
    assert_problem(response, 413, "payload-too-large")
    assert_problem(
        small_upload_client.get(f"/v1/agreements/{to_hex(signed.submission.digest)}"), 404
    )


def test_unknown_digest_is_404_and_bad_digest_is_422(client: TestClient) -> None:
    assert_problem(client.get("/v1/agreements/0x" + "12" * 32), 404, "not-found")
    assert_problem(client.get("/v1/agreements/0x12"), 422)


def test_unknown_route_and_wrong_method_are_problems(client: TestClient) -> None:
    assert_problem(client.get("/v1/nothing-here"), 404)
    assert_problem(client.delete("/v1/agreements/batch"), 405)


def test_sha256_of_uploaded_bytes_is_what_is_anchored(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    document = bytes(range(256)) * 10
    signed = make_submission(_runtime(client), document)
    response = client.post(
        "/v1/agreements",
        data=form_of(signed, with_digest=False),
        files={"document": ("bin", document, "application/octet-stream")},
    )
    assert response.json()["digest"] == "0x" + hashlib.sha256(document).hexdigest()


def test_openapi_is_served(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    for path in ("/v1/agreements", "/v1/agreements/batch", "/v1/verify", "/readyz"):
        assert path in spec["paths"]
