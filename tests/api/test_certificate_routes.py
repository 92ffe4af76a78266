"""GET /v1/agreements/{digest}/certificate and GET /v1/manifests/{sha256} over HTTP."""

from __future__ import annotations

import hashlib

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from loantrace.chain.evidence import ChainEvidence
from loantrace.domain import siwe
from loantrace.domain.manifest import parse_manifest
from loantrace.services.certificates import check_certificate
from tests.api.conftest import assert_problem, bearer
from tests.conftest import SubmissionFactory


def _rt(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _borrower_session(rt: Runtime, borrower: Account) -> dict[str, str]:
    challenge = rt.signin.challenge()
    message = siwe.render(
        siwe.SiweMessage(
            domain=challenge.domain,
            address=borrower.address,
            uri=challenge.uri,
            chain_id=challenge.chain_id,
            nonce=challenge.nonce,
            issued_at=challenge.issued_at,
        )
    )
    signature = Account.sign_message(encode_defunct(text=message), borrower.key).signature
    session = rt.signin.sign_in(message, bytes(signature))
    return {"Authorization": f"Bearer {session.token}"}


def test_the_lender_and_the_borrower_get_the_certificate_others_do_not(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _rt(client)
    borrower = Account.create()
    signed = make_submission(rt, borrower=borrower)
    digest = rt.notary.notarise(signed.submission).digest
    url = f"/v1/agreements/{digest}/certificate"
    as_lender = client.get(url)
    assert as_lender.status_code == 200
    assert as_lender.headers["content-type"].startswith("application/json")
    cert = as_lender.json()
    assert cert["document"]["digest"] == digest
    assert cert["agreement"]["borrower"] == borrower.address
    verdict = check_certificate(cert, ChainEvidence(rt.node.w3, cert["chain"]["contract_address"]))
    assert verdict.result == "valid", verdict.to_json()
    as_borrower = client.get(url, headers=_borrower_session(rt, borrower))
    assert as_borrower.status_code == 200
    assert as_borrower.json()["agreement"] == cert["agreement"]
    stranger = _borrower_session(rt, _other_borrower_with_an_agreement(rt, make_submission))
    assert_problem(client.get(url, headers=stranger), 404)
    rival = bearer(rt, "lender", lender=Account.create().address)
    assert_problem(client.get(url, headers=rival), 404)
    assert_problem(client.get(url, headers=bearer(rt, "regulator")), 403)
    assert_problem(client.get(url, headers={"Authorization": ""}), 401)


def _other_borrower_with_an_agreement(rt: Runtime, make: SubmissionFactory) -> Account:
    other = Account.create()
    rt.notary.notarise(make(rt, borrower=other).submission)
    return other


def test_an_unknown_agreement_or_manifest_is_404_and_bad_hex_422(client: TestClient) -> None:
    assert_problem(client.get(f"/v1/agreements/0x{'ab' * 32}/certificate"), 404)
    assert_problem(client.get("/v1/agreements/0x12/certificate"), 422)
    assert_problem(client.get(f"/v1/manifests/0x{'cd' * 32}"), 404)
    assert_problem(client.get("/v1/manifests/not-hex"), 422)


def test_a_batch_manifest_is_public_immutable_and_checks_against_its_hash(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _rt(client)
    receipts = rt.notary.notarise_batch([make_submission(rt).submission for _ in range(4)])
    cert = client.get(f"/v1/agreements/{receipts[2].digest}/certificate").json()
    sha = cert["merkle"]["manifest_hash"]
    response = client.get(f"/v1/manifests/{sha}", headers={"Authorization": ""})
    assert response.status_code == 200
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert hashlib.sha256(response.content).hexdigest() == sha[2:]
    manifest = parse_manifest(response.content, bytes.fromhex(sha[2:]))
    assert "0x" + manifest.root.hex() == cert["merkle"]["root"]


@pytest.mark.parametrize(
    ("accept", "pdf"),
    [
        ("application/pdf", True),
        ("application/json", False),
        ("application/pdf;q=0.5, application/json", False),
        ("application/json;q=0.1, application/pdf", True),
        ("*/*", False),
        ("", False),
    ],
)
def test_accept_chooses_pdf_or_json(
    client: TestClient, make_submission: SubmissionFactory, accept: str, pdf: bool
) -> None:
    rt = _rt(client)
    digest = rt.notary.notarise(make_submission(rt).submission).digest
    response = client.get(f"/v1/agreements/{digest}/certificate", headers={"Accept": accept})
    assert response.status_code == 200, response.text
    kind = response.headers["content-type"]
    assert kind.startswith("application/pdf" if pdf else "application/json")
    if pdf:
        assert response.content.startswith(b"%PDF-")


def test_the_pdf_is_signed_by_the_service_and_carries_the_certificate(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    import io
    import json

    from cryptography import x509
    from pypdf import PdfReader

    from loantrace.bootstrap_pdf import dev_identity_dir
    from loantrace.pdf import validate_signed_pdf

    rt = _rt(client)
    digest = rt.notary.notarise(make_submission(rt).submission).digest
    url = f"/v1/agreements/{digest}/certificate"
    cert = client.get(url).json()
    pdf = client.get(url, headers={"Accept": "application/pdf"}).content
    root = x509.load_pem_x509_certificate(
        (dev_identity_dir(rt.settings) / "pdf-signing-cert.pem").read_bytes()
    )
    check = validate_signed_pdf(pdf, [root])
    assert check.ok, check.detail
    attached = PdfReader(io.BytesIO(pdf)).attachments["certificate.json"][0]
    assert json.loads(attached)["agreement"] == cert["agreement"]
    tampered = bytearray(pdf)
    tampered[200] ^= 0x01  # a byte early in the file, inside the signed range
    assert not validate_signed_pdf(bytes(tampered), [root]).ok
