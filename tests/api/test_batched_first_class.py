"""Batched agreements are first-class: a loan on one, and an amendment superseding one."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from loantrace.devtools.sample_terms import terms_at
from tests.api.conftest import form_of, json_item
from tests.conftest import SubmissionFactory

ACCOUNT = "0x" + "ab" * 32


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _batch(client: TestClient, make: SubmissionFactory) -> list[str]:
    rt = _runtime(client)
    terms = terms_at(rt.node.now(), principal=300_000, instalments=3, method="equal_principal")
    items = [json_item(make(rt, terms=terms)) for _ in range(3)]
    response = client.post("/v1/agreements/batch", json={"agreements": items})
    assert response.status_code == 201, response.text
    return [str(item["digest"]) for item in items]


def test_a_loan_on_a_batched_agreement_is_registered_disbursed_and_repaid(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    digest = _batch(client, make_submission)[1]
    loan = client.post("/v1/loans", json={"digest": digest})
    assert loan.status_code == 201, loan.text
    loan_id = loan.json()["loan_id"]
    body = {"amount": 300_000, "to_account": ACCOUNT, "external_ref": "B-D"}
    assert client.post(f"/v1/loans/{loan_id}/disbursements", json=body).status_code == 201
    outstanding = client.get(f"/v1/loans/{loan_id}").json()["outstanding"]
    repay = {"amount": outstanding, "from_account": ACCOUNT, "external_ref": "B-R"}
    assert client.post(f"/v1/loans/{loan_id}/repayments", json=repay).status_code == 201
    view = client.get(f"/v1/loans/{digest}").json()
    assert (view["status"], view["outstanding"], view["repaid"]) == ("repaid", 0, outstanding)
    on_chain = _runtime(client).ledger.loan_of(bytes.fromhex(loan_id[2:]))
    assert on_chain is not None
    assert on_chain.principal == 300_000


def test_an_amendment_supersedes_a_batched_agreement(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    digests = _batch(client, make_submission)
    amendment = make_submission(rt, supersedes=bytes.fromhex(digests[0][2:]))
    response = client.post("/v1/agreements", data=form_of(amendment) | {"supersedes": digests[0]})
    assert response.status_code == 201, response.text
    old = client.post("/v1/verify", data={"digest": digests[0]}).json()
    assert old["verdict"] == "superseded"
    assert old["superseded_by"] == response.json()["agreement_id"]
    assert client.get(f"/v1/agreements/{digests[0]}").json()["status"] == "superseded"
    assert client.post("/v1/verify", data={"digest": digests[1]}).json()["verdict"] == "valid"
    new = client.post("/v1/verify", data={"digest": response.json()["digest"]}).json()
    assert new["verdict"] == "valid"
