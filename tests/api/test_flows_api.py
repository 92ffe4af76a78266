"""Fund flows over HTTP: transfers, labels, traces, audits, CSV, and bad input."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from tests.api.conftest import assert_problem, bearer, form_of
from tests.conftest import SAMPLE_TERMS, SubmissionFactory

BORROWER = "0x" + "b1" * 32
BROKER = "0x" + "5e" * 32
GROCER = "0x" + "60" * 32


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _loan(client: TestClient, make: SubmissionFactory, account: str = BORROWER) -> str:
    rt = _runtime(client)
    first_due = datetime.fromtimestamp(rt.node.now(), UTC).date() + timedelta(days=30)
    terms = replace(
        SAMPLE_TERMS,
        apr_bps=1_000,
        principal=100_000,
        instalments=1,
        start_date=(first_due - timedelta(days=30)).isoformat(),
        first_due_date=first_due.isoformat(),
    )
    digest = client.post("/v1/agreements", data=form_of(make(rt, terms=terms))).json()["digest"]
    registered = client.post("/v1/loans", json={"digest": digest})
    assert registered.status_code == 201
    loan_id = registered.json()["loan_id"]
    body = {"amount": 100_000, "to_account": account, "external_ref": f"D-{digest}"}
    assert client.post(f"/v1/loans/{loan_id}/disbursements", json=body).status_code == 201
    return str(loan_id)


def _transfer(client: TestClient, loan: str, src: str, dst: str, amount: int, ref: str) -> Any:
    body = {
        "from_account": src,
        "to_account": dst,
        "amount": amount,
        "purpose": "CONSUMPTION",
        "external_ref": ref,
    }
    return client.post(f"/v1/loans/{loan}/transfers", json=body)


def _regulator(client: TestClient) -> dict[str, str]:
    """The Authorization header of a regulator key on the client's service."""
    return bearer(client.app.state.runtime, "regulator")  # type: ignore[attr-defined]


def _label(client: TestClient, account: str, category: str) -> None:
    response = client.post(
        f"/v1/accounts/{account}/label", json={"category": category}, headers=_regulator(client)
    )
    assert response.status_code == 200, response.text


def test_trace_follows_money_into_a_securities_account_under_each_policy(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    _label(client, BROKER, "SECURITIES")
    loan = _loan(client, make_submission)
    assert _transfer(client, loan, BORROWER, BROKER, 70_000, "T1").status_code == 201
    for policy in ("poison", "haircut", "fifo"):
        graph = client.get(f"/v1/loans/{loan}/flows", params={"policy": policy}).json()
        to_broker = [e for e in graph["edges"] if e["to_account"] == BROKER]
        assert [(e["amount"], e["tainted"], e["hop"]) for e in to_broker] == [(70_000, 70_000, 2)]
        held = {d["account"]: (d["category"], d["tainted"]) for d in graph["destinations"]}
        assert held[BROKER] == ("SECURITIES", 70_000)
        assert held[BORROWER] == (None, 30_000)
    findings = client.get(f"/v1/loans/{loan}/audit").json()
    assert [(f["rule"], f["severity"], f["amount"]) for f in findings] == [
        ("prohibited_use", "high", 70_000)
    ]
    assert findings[0]["evidence"][0]["tx_hash"].startswith("0x")
    account = client.get(f"/v1/accounts/{BROKER}/flows", headers=_regulator(client)).json()
    assert account["category"] == "SECURITIES"
    assert [m["amount"] for m in account["movements"]] == [70_000]


def test_clean_loan_has_no_findings_and_portfolio_filters_and_exports(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    _label(client, GROCER, "CONSUMPTION")
    _label(client, BROKER, "SECURITIES")
    clean = _loan(client, make_submission, "0x" + "c1" * 32)
    _transfer(client, clean, "0x" + "c1" * 32, GROCER, 40_000, "C1")
    dirty = _loan(client, make_submission, "0x" + "d1" * 32)
    _transfer(client, dirty, "0x" + "d1" * 32, BROKER, 10_000, "D1")
    assert client.get(f"/v1/loans/{clean}/audit").json() == []
    page = client.get("/v1/audit/findings", params={"severity": "high"}).json()
    assert page["total"] == 1
    assert page["findings"][0]["loan_id"] == dirty
    assert client.get("/v1/audit/findings", params={"rule": "round_trip"}).json()["total"] == 0
    lender = _runtime(client).notary.lender
    assert client.get("/v1/audit/findings", params={"lender": lender}).json()["total"] == 1
    other = client.get(
        "/v1/audit/findings", params={"lender": "0x" + "99" * 20}, headers=_regulator(client)
    ).json()
    assert other["total"] == 0
    exported = client.get("/v1/audit/findings", params={"format": "csv"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["rule"], r["loan_id"]) for r in rows] == [("prohibited_use", dirty)]


def test_transfer_errors_are_problems_and_write_nothing(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    loan = _loan(client, make_submission)
    assert _transfer(client, loan, BORROWER, GROCER, 1, "DUP").status_code == 201
    assert_problem(_transfer(client, loan, BORROWER, GROCER, 1, "DUP"), 409)
    assert_problem(_transfer(client, loan, BORROWER, BORROWER, 1, "SAME"), 422)
    assert_problem(_transfer(client, loan, BORROWER, GROCER, 0, "ZERO"), 422)
    assert_problem(_transfer(client, loan, BORROWER, "0x12", 5, "BAD"), 422)
    assert_problem(_transfer(client, "0x" + "77" * 32, BORROWER, GROCER, 5, "NOLOAN"), 404)
    assert_problem(
        client.post(
            f"/v1/accounts/{GROCER}/label",
            json={"category": "lower"},
            headers=_regulator(client),
        ),
        422,
    )


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("flows", {"max_hops": 0}),
        ("flows", {"max_hops": 13}),
        ("flows", {"policy": "magic"}),
        ("flows", {"max_hops": "many"}),
    ],
)
def test_trace_parameters_out_of_range_are_422(
    client: TestClient, make_submission: SubmissionFactory, path: str, params: dict[str, Any]
) -> None:
    loan = _loan(client, make_submission)
    assert_problem(client.get(f"/v1/loans/{loan}/{path}", params=params), 422)


def test_unknown_loans_accounts_and_huge_pages_are_problems(client: TestClient) -> None:
    unknown = "0x" + "42" * 32
    assert_problem(client.get(f"/v1/loans/{unknown}/flows"), 404)
    assert_problem(client.get(f"/v1/loans/{unknown}/audit"), 404)
    assert_problem(client.get(f"/v1/accounts/{unknown}/flows", headers=_regulator(client)), 404)
    assert_problem(client.get("/v1/accounts/0x12/flows", headers=_regulator(client)), 422)
    assert_problem(client.get("/v1/audit/findings", params={"limit": 100_000}), 422)
    assert_problem(client.get("/v1/audit/findings", params={"severity": "extreme"}), 422)
    assert_problem(client.get("/v1/audit/findings", params={"format": "xml"}), 422)
