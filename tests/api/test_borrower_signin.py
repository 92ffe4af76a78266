"""Borrowers sign in with Ethereum (EIP-4361) as the address that signed the agreement, and
read only what names that address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain import siwe
from loantrace.domain.hexcodec import to_hex
from tests.api.conftest import assert_problem, bearer
from tests.conftest import SubmissionFactory


def _message(challenge: dict[str, Any], account: LocalAccount, **changes: Any) -> str:
    fields: dict[str, Any] = {
        "domain": challenge["domain"],
        "address": account.address,
        "statement": challenge["statement"],
        "uri": challenge["uri"],
        "version": "1",
        "chain_id": challenge["chain_id"],
        "nonce": challenge["nonce"],
        "issued_at": datetime.now(UTC),
        "expiration_time": datetime.now(UTC) + timedelta(minutes=10),
    }
    return siwe.render(siwe.SiweMessage(**(fields | changes)))


def _sign(message: str, account: LocalAccount) -> str:
    return to_hex(bytes(Account.sign_message(encode_defunct(text=message), account.key).signature))


def sign_in(client: TestClient, account: LocalAccount, **changes: Any) -> Any:
    """Run the whole sign-in as a wallet would; return the sign-in response."""
    challenge = client.post("/v1/auth/siwe/nonce", headers={"Authorization": ""})
    assert challenge.status_code == 200, challenge.text
    message = _message(challenge.json(), account, **changes)
    body = {"message": message, "signature": _sign(message, account)}
    return client.post("/v1/auth/siwe", json=body, headers={"Authorization": ""})


def _borrower_with_loan(rt: Runtime, make: SubmissionFactory) -> tuple[LocalAccount, str, str]:
    borrower: LocalAccount = Account.create()
    terms = terms_at(rt.node.now(), principal=30_000, instalments=2)
    digest = rt.notary.notarise(make(rt, borrower=borrower, terms=terms).submission).digest
    loan_id = rt.loans.register(bytes.fromhex(digest[2:])).loan_id
    return borrower, digest, loan_id


def test_a_borrower_signs_in_and_reads_only_its_own_agreements_and_loans(
    client: TestClient, embedded_runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    rt = embedded_runtime
    alice, alice_digest, alice_loan = _borrower_with_loan(rt, make_submission)
    bob, bob_digest, _ = _borrower_with_loan(rt, make_submission)
    signed_in = sign_in(client, alice)
    assert signed_in.status_code == 201, signed_in.text
    session = {"Authorization": f"Bearer {signed_in.json()['token']}"}
    assert signed_in.json()["address"] == alice.address
    me = client.get("/v1/me", headers=session)
    assert me.json() == {"role": "borrower", "address": alice.address}
    agreements = client.get("/v1/me/agreements", headers=session).json()
    assert [a["digest"] for a in agreements] == [alice_digest]
    loans = client.get("/v1/me/loans", headers=session).json()
    assert [entry["loan"]["loan_id"] for entry in loans] == [alice_loan]
    assert len(loans[0]["loan"]["schedule"]) == 2
    assert loans[0]["loan"]["annual_cost_bps"] is not None  # the disclosed cost
    assert bob_digest not in str(agreements) + str(loans)
    # the lender's routes stay closed to a borrower
    assert client.get(f"/v1/agreements/{alice_digest}", headers=session).status_code == 403
    assert client.get("/v1/keys", headers=session).status_code == 403
    del bob


def test_a_sign_in_message_is_good_once_for_this_service_chain_and_signer(
    client: TestClient, embedded_runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    rt = embedded_runtime
    alice, _, _ = _borrower_with_loan(rt, make_submission)
    challenge = client.post("/v1/auth/siwe/nonce").json()
    message = _message(challenge, alice)
    body = {"message": message, "signature": _sign(message, alice)}
    assert client.post("/v1/auth/siwe", json=body).status_code == 201
    assert_problem(client.post("/v1/auth/siwe", json=body), 401)  # the nonce is spent
    refusals = {
        "another domain": {"domain": "phish.example"},
        "another chain": {"chain_id": challenge["chain_id"] + 1},
        "a made-up nonce": {"nonce": "abcdefgh12345678"},
        "expired": {"expiration_time": datetime.now(UTC) - timedelta(seconds=1)},
    }
    for why, change in refusals.items():
        response = sign_in(client, alice, **change)
        assert response.status_code == 401, why
    stranger: LocalAccount = Account.create()  # signed nothing here
    assert_problem(sign_in(client, stranger), 401)
    fresh = client.post("/v1/auth/siwe/nonce").json()
    forged = _message(fresh, alice)
    body = {"message": forged, "signature": _sign(forged, stranger)}
    assert_problem(client.post("/v1/auth/siwe", json=body), 401)
    garbled = {"message": "hello", "signature": _sign("hello", alice)}
    assert_problem(client.post("/v1/auth/siwe", json=garbled), 422)


def test_a_borrower_session_is_listed_and_revocable_like_any_key(
    client: TestClient, embedded_runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    rt = embedded_runtime
    alice, _, _ = _borrower_with_loan(rt, make_submission)
    token = sign_in(client, alice).json()["token"]
    admin = bearer(rt, "admin")
    listed = client.get("/v1/keys", headers=admin).json()
    session = next(k for k in listed if k["role"] == "borrower")
    assert client.delete(f"/v1/keys/{session['id']}", headers=admin).status_code == 200
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
