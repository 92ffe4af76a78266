"""Loans over HTTP: register, disburse, repay, read, and every bad input as problem+json."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.terms import LoanTerms
from tests.api.conftest import assert_problem, form_of
from tests.conftest import SAMPLE_TERMS, SubmissionFactory

TERMS = replace(
    SAMPLE_TERMS,
    apr_bps=1_200,
    principal=1_000_000,
    instalments=3,
    repayment_method="equal_principal",
)
ACCOUNT = "0x" + "ac" * 32


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _notarised(client: TestClient, make: SubmissionFactory, terms: LoanTerms = TERMS) -> str:
    signed = make(_runtime(client), terms=terms)
    response = client.post("/v1/agreements", data=form_of(signed))
    assert response.status_code == 201, response.text
    return to_hex(signed.submission.digest)


def _loan(client: TestClient, make: SubmissionFactory) -> dict[str, Any]:
    response = client.post("/v1/loans", json={"digest": _notarised(client, make)})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _move(client: TestClient, loan_id: str, kind: str, amount: object, ref: str) -> Any:
    account = "to_account" if kind == "disbursements" else "from_account"
    return client.post(
        f"/v1/loans/{loan_id}/{kind}",
        json={"amount": amount, account: ACCOUNT, "external_ref": ref},
    )


def test_register_computes_schedule_and_reads_back_from_chain(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    loan = _loan(client, make_submission)
    assert loan["status"] == "registered"
    assert [i["principal"] for i in loan["schedule"]] == [333_334, 333_333, 333_333]
    # actual/365, rounded down: 1,000,000 × 12 % × 31/365; 666,666 × 12 % × 31/365;
    # 333,333 × 12 % × 28/365 (from the start on 2026-12-15)
    assert [i["interest"] for i in loan["schedule"]] == [10_191, 6_794, 3_068]
    assert [i["due_date"] for i in loan["schedule"]] == ["2027-01-15", "2027-02-15", "2027-03-15"]
    assert loan["outstanding"] == 1_000_000 + 20_053
    assert (loan["days_past_due"], loan["bucket_label"]) == (0, "current")
    assert (loan["apr_bps"], loan["rate_cap_bps"]) == (1_200, 1_200)
    assert 1_190 <= loan["annual_cost_bps"] <= 1_200
    assert loan["actual_cost_bps"] is None  # nothing disbursed yet
    on_chain = _runtime(client).ledger.loan_of(bytes.fromhex(loan["loan_id"][2:]))
    assert on_chain is not None
    assert on_chain.scheduled_total == 1_020_053
    assert client.get(f"/v1/loans/{loan['loan_id']}").json() == loan
    assert client.get(f"/v1/loans/{loan['digest']}").json() == loan  # by document digest too


def test_disburse_repay_and_retry_never_double_counts(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    loan_id = _loan(client, make_submission)["loan_id"]
    first = _move(client, loan_id, "disbursements", 1_000_000, "BANK-TX-1")
    assert first.status_code == 201, first.text
    retry = _move(client, loan_id, "disbursements", 1_000_000, "BANK-TX-1")
    assert retry.status_code == 200
    assert retry.json() == first.json()
    assert _move(client, loan_id, "repayments", 343_525, "BANK-TX-2").status_code == 201
    loan = client.get(f"/v1/loans/{loan_id}").json()
    assert (loan["status"], loan["disbursed"], loan["repaid"]) == ("active", 1_000_000, 343_525)
    assert [i["status"] for i in loan["schedule"]] == ["paid", "upcoming", "upcoming"]
    assert loan["outstanding"] == 1_020_053 - 343_525
    assert loan["actual_cost_bps"] is not None
    assert [m["external_ref"] for m in loan["movements"]] == ["BANK-TX-1", "BANK-TX-2"]
    conflict = _move(client, loan_id, "repayments", 5, "BANK-TX-1")
    assert_problem(conflict, 409)


def test_bad_amounts_are_422_and_write_nothing(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    loan_id = _loan(client, make_submission)["loan_id"]
    head = rt.node.head()
    for amount in (0, -5, 1.5, "100", None, 2**60):
        assert_problem(_move(client, loan_id, "disbursements", amount, f"R{amount}"), 422)
    assert_problem(_move(client, loan_id, "disbursements", 1_000_001, "OVER"), 422)
    assert_problem(_move(client, loan_id, "repayments", 10, "EARLY"), 409)  # not disbursed yet
    assert rt.node.head() == head
    assert client.get(f"/v1/loans/{loan_id}").json()["movements"] == []


def test_repayment_over_outstanding_is_422(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    loan_id = _loan(client, make_submission)["loan_id"]
    _move(client, loan_id, "disbursements", 1_000_000, "D1")
    body = assert_problem(_move(client, loan_id, "repayments", 1_020_054, "R1"), 422)
    assert "outstanding" in body["detail"]


def test_unknown_loan_and_bad_ids(client: TestClient) -> None:
    unknown = "0x" + "42" * 32
    assert_problem(client.get(f"/v1/loans/{unknown}"), 404)
    assert_problem(_move(client, unknown, "repayments", 5, "X"), 404)
    assert_problem(client.get("/v1/loans/0x12"), 422)
    assert_problem(client.post("/v1/loans", json={"digest": unknown}), 404)
    assert_problem(client.post("/v1/loans", json={"digest": "nothex"}), 422)
    assert_problem(client.post("/v1/loans", json={}), 422)


def test_apr_over_the_cap_is_422_and_nothing_is_written(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    digest = _notarised(client, make_submission, replace(TERMS, apr_bps=1_201))
    head = rt.node.head()
    body = assert_problem(client.post("/v1/loans", json={"digest": digest}), 422)
    assert "declared APR 1201 bps is above the rate cap of 1200 bps" in body["detail"]
    assert_problem(client.get(f"/v1/loans/{digest}"), 404)
    assert rt.node.head() == head
    at_cap = _notarised(client, make_submission, replace(TERMS, apr_bps=1_200))
    assert client.post("/v1/loans", json={"digest": at_cap}).status_code == 201


def test_fees_over_the_cap_in_one_instalment_are_422_naming_it(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    # 12 % on 1,000,000 leaves no room for a fee of 1 in the first period at the cap.
    over = replace(TERMS, fee_per_instalment=1)
    digest = _notarised(client, make_submission, over)
    head = rt.node.head()
    body = assert_problem(client.post("/v1/loans", json={"digest": digest}), 422)
    assert "instalment 1 charges" in body["detail"]
    assert rt.node.head() == head


def test_schedule_in_the_past_is_422(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    digest = _notarised(
        client,
        make_submission,
        replace(TERMS, start_date="2019-12-15", first_due_date="2020-01-15"),
    )
    body = assert_problem(client.post("/v1/loans", json={"digest": digest}), 422)
    assert "past" in body["detail"]


def test_registering_twice_or_for_revoked_agreement_is_409(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    digest = _notarised(client, make_submission)
    assert client.post("/v1/loans", json={"digest": digest}).status_code == 201
    assert_problem(client.post("/v1/loans", json={"digest": digest}), 409)
    revoked = _notarised(client, make_submission)
    client.post(f"/v1/agreements/{revoked}/revoke", json={"reason": 1})
    assert_problem(client.post("/v1/loans", json={"digest": revoked}), 409)


@pytest.mark.parametrize("field", ["to_account", "external_ref"])
def test_malformed_movement_fields_are_422(
    client: TestClient, make_submission: SubmissionFactory, field: str
) -> None:
    loan_id = _loan(client, make_submission)["loan_id"]
    body = {"amount": 10, "to_account": ACCOUNT, "external_ref": "R"} | {field: "0x" * 80}
    assert_problem(client.post(f"/v1/loans/{loan_id}/disbursements", json=body), 422)


def test_an_agreement_backing_an_open_loan_is_revoked_only_with_the_borrowers_consent(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt, terms=TERMS)
    assert client.post("/v1/agreements", data=form_of(signed)).status_code == 201
    digest = to_hex(signed.submission.digest)
    assert client.post("/v1/loans", json={"digest": digest}).status_code == 201
    alone = assert_problem(client.post(f"/v1/agreements/{digest}/revoke", json={"reason": 4}), 403)
    assert "borrower's signed consent" in alone["detail"]
    typed = client.get(f"/v1/agreements/{digest}/revocation-typed-data", params={"reason": 4})
    assert typed.status_code == 200, typed.text
    document = typed.json()
    document.pop("disclosure", None)
    consent = Account.sign_typed_data(signed.borrower.key, full_message=document).signature
    body = {"reason": 4, "borrower_signature": to_hex(bytes(consent))}
    revoked = client.post(f"/v1/agreements/{digest}/revoke", json=body)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["status"] == "revoked"
    verdict = client.post("/v1/verify", data={"digest": digest}).json()
    assert (verdict["verdict"], verdict["revoke_reason"]) == ("revoked", 4)
