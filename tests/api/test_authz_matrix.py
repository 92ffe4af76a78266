"""The authorisation matrix: every route x every caller x own or other tenant, exact status.

Each route has a builder that makes a valid request against an object of this service's
lender (built fresh through the use cases, so a successful write never spoils the next
case), and a row of expected statuses per caller. A route without a declared access rule,
or without a row here, fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.api.auth import api_routes, rule_of
from loantrace.api.portal_routes import build
from loantrace.bootstrap import Runtime
from loantrace.chain.node import connect
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain import siwe
from loantrace.domain.personal import PersonalData
from loantrace.services.loans import Movement
from tests.api.conftest import bearer, form_of, json_item
from tests.conftest import SubmissionFactory, make_signed, start_runtime

CALLERS = ("anonymous", "bad_token", "admin", "lender", "other_lender", "auditor", "regulator")
CALLERS += ("borrower",)
ACCOUNT = "0x" + "5a" * 32
BORROWER = Account.create()


@dataclass
class Ctx:
    """What a request builder may use."""

    rt: Runtime
    make: SubmissionFactory

    def submission(self) -> Any:
        terms = terms_at(self.rt.node.now(), principal=40_000, instalments=2)
        return self.make(self.rt, terms=terms)

    def agreement(self) -> str:
        return self.rt.notary.notarise(self.submission().submission).digest

    def loan(self, *, disbursed: bool = False) -> str:
        digest = self.agreement()
        loan_id = self.rt.loans.register(bytes.fromhex(digest[2:])).loan_id
        if disbursed:
            ref = f"d-{uuid.uuid4().hex}"
            self.rt.loans.disburse(
                bytes.fromhex(loan_id[2:]), Movement(40_000, bytes.fromhex(ACCOUNT[2:]), ref)
            )
        return loan_id

    def borrower_data(self) -> str:
        data = PersonalData(
            name="Li Lei",
            id_number=f"ID{uuid.uuid4().hex[:12]}",
            phone="+86 138 0000 0000",
            bank_account="6222020200112233445",
        )
        return self.rt.personal.enrol(self.rt.notary.lender, data).borrower_commitment

    def siwe(self) -> dict[str, str]:
        challenge = self.rt.signin.challenge()
        message = siwe.render(
            siwe.SiweMessage(
                domain=challenge.domain,
                address=BORROWER.address,
                uri=challenge.uri,
                chain_id=challenge.chain_id,
                nonce=challenge.nonce,
                issued_at=challenge.issued_at,
            )
        )
        signature = Account.sign_message(encode_defunct(text=message), BORROWER.key).signature
        return {"message": message, "signature": "0x" + bytes(signature).hex()}

    def manifest(self) -> str:
        receipts = self.rt.notary.notarise_batch([self.submission().submission])
        issued = self.rt.certificates.issue(
            self.rt.certificates.record(bytes.fromhex(receipts[0].digest[2:]))
        )
        return str(issued["merkle"]["manifest_hash"])

    def webhook(self) -> int:
        hook, _ = self.rt.webhooks.register(
            lender=self.rt.notary.lender, url="https://lender.example/hook"
        )
        return hook.id


Request = tuple[str, str, dict[str, Any]]
Builder = Callable[[Ctx], Request]

READ = {"lender": 200, "other_lender": 404, "auditor": 200, "regulator": 200}
TRACE = {"lender": 200, "other_lender": 404, "regulator": 200}


def _ref() -> str:
    return f"r-{uuid.uuid4().hex}"


MATRIX: dict[tuple[str, str], tuple[Builder, dict[str, int]]] = {
    ("POST", "/v1/agreements"): (
        lambda c: ("POST", "/v1/agreements", {"data": form_of(c.submission())}),
        {"lender": 201, "other_lender": 403},
    ),
    ("POST", "/v1/agreements/batch"): (
        lambda c: (
            "POST",
            "/v1/agreements/batch",
            {"json": {"agreements": [json_item(c.submission())]}},
        ),
        {"lender": 201, "other_lender": 403},
    ),
    ("GET", "/v1/agreements/typed-data"): (
        lambda c: (
            "GET",
            "/v1/agreements/typed-data",
            {
                "params": {
                    k: v
                    for k, v in form_of(c.submission()).items()
                    if k in ("digest", "borrower", "borrower_commitment", "terms")
                }
            },
        ),
        {caller: 200 for caller in CALLERS},
    ),
    ("GET", "/v1/agreements/{digest}"): (
        lambda c: ("GET", f"/v1/agreements/{c.agreement()}", {}),
        READ,
    ),
    ("GET", "/v1/agreements/{digest}/revocation-typed-data"): (
        lambda c: (
            "GET",
            f"/v1/agreements/{c.agreement()}/revocation-typed-data",
            {"params": {"reason": 1}},
        ),
        {"lender": 200, "other_lender": 404},
    ),
    ("POST", "/v1/agreements/{digest}/revoke"): (
        lambda c: ("POST", f"/v1/agreements/{c.agreement()}/revoke", {"json": {"reason": 1}}),
        {"lender": 200, "other_lender": 404},
    ),
    ("GET", "/v1/agreements/{digest}/certificate"): (
        lambda c: ("GET", f"/v1/agreements/{c.agreement()}/certificate", {}),
        {"lender": 200, "other_lender": 404, "borrower": 404},  # its own: test_certificate_routes
    ),
    ("GET", "/v1/manifests/{sha256}"): (
        lambda c: ("GET", f"/v1/manifests/{c.manifest()}", {}),
        {caller: 200 for caller in CALLERS},
    ),
    ("POST", "/v1/verify"): (
        lambda c: ("POST", "/v1/verify", {"data": {"digest": "0x" + "11" * 32}}),
        {caller: 200 for caller in CALLERS},
    ),
    ("GET", "/v1/integrity"): (
        lambda c: ("GET", "/v1/integrity", {}),
        {caller: 200 for caller in CALLERS},
    ),
    **{
        ("GET", path): (lambda c, p=path: ("GET", p, {}), {caller: 200 for caller in CALLERS})
        for path in ("/", "/lender", "/regulator", "/borrower", "/docs", "/portal/meta.json")
    },
    ("GET", "/static/{version}/{path:path}"): (
        lambda c: ("GET", f"/static/{build()}/js/verify.js", {}),
        {caller: 200 for caller in CALLERS},
    ),
    ("GET", "/healthz"): (lambda c: ("GET", "/healthz", {}), {caller: 200 for caller in CALLERS}),
    ("GET", "/readyz"): (lambda c: ("GET", "/readyz", {}), {caller: 200 for caller in CALLERS}),
    ("GET", "/metrics"): (lambda c: ("GET", "/metrics", {}), {caller: 200 for caller in CALLERS}),
    ("GET", "/v1/transactions/{tx_hash}"): (
        lambda c: (
            "GET",
            f"/v1/transactions/{c.rt.notary.receipt(bytes.fromhex(c.agreement()[2:])).tx_hash}",
            {},
        ),
        {"lender": 200, "other_lender": 200, "regulator": 200, "admin": 200},
    ),
    ("POST", "/v1/loans"): (
        lambda c: ("POST", "/v1/loans", {"json": {"digest": c.agreement()}}),
        {"lender": 201, "other_lender": 404},
    ),
    ("POST", "/v1/loans/{loan_id}/disbursements"): (
        lambda c: (
            "POST",
            f"/v1/loans/{c.loan()}/disbursements",
            {"json": {"amount": 100, "to_account": ACCOUNT, "external_ref": _ref()}},
        ),
        {"lender": 201, "other_lender": 404},
    ),
    ("POST", "/v1/loans/{loan_id}/repayments"): (
        lambda c: (
            "POST",
            f"/v1/loans/{c.loan(disbursed=True)}/repayments",
            {"json": {"amount": 100, "from_account": ACCOUNT, "external_ref": _ref()}},
        ),
        {"lender": 201, "other_lender": 404},
    ),
    ("GET", "/v1/loans/{loan_id}"): (lambda c: ("GET", f"/v1/loans/{c.loan()}", {}), READ),
    ("POST", "/v1/loans/{loan_id}/transfers"): (
        lambda c: (
            "POST",
            f"/v1/loans/{c.loan(disbursed=True)}/transfers",
            {
                "json": {
                    "from_account": ACCOUNT,
                    "to_account": "0x" + "6b" * 32,
                    "amount": 100,
                    "purpose": "CONSUMPTION",
                    "external_ref": _ref(),
                }
            },
        ),
        {"lender": 201, "other_lender": 404},
    ),
    ("POST", "/v1/accounts/{commitment}/label"): (
        lambda c: ("POST", f"/v1/accounts/{ACCOUNT}/label", {"json": {"category": "SECURITIES"}}),
        {"regulator": 200},
    ),
    ("GET", "/v1/loans/{loan_id}/flows"): (
        lambda c: ("GET", f"/v1/loans/{c.loan()}/flows", {}),
        TRACE,
    ),
    ("GET", "/v1/loans/{loan_id}/audit"): (
        lambda c: ("GET", f"/v1/loans/{c.loan()}/audit", {}),
        TRACE,
    ),
    ("GET", "/v1/audit/findings"): (
        lambda c: ("GET", "/v1/audit/findings", {}),
        {"lender": 200, "other_lender": 200, "regulator": 200},  # a lender: its own only
    ),
    ("GET", "/v1/accounts/{commitment}/flows"): (
        lambda c: ("GET", f"/v1/accounts/{c.loan(disbursed=True) and ACCOUNT}/flows", {}),
        {"regulator": 200},
    ),
    ("POST", "/v1/webhooks"): (
        lambda c: ("POST", "/v1/webhooks", {"json": {"url": "https://lender.example/h"}}),
        {"lender": 201, "other_lender": 201},  # each registers for its own lender
    ),
    ("GET", "/v1/webhooks"): (
        lambda c: ("GET", "/v1/webhooks", {}),
        {"lender": 200, "other_lender": 200},  # each sees its own
    ),
    ("DELETE", "/v1/webhooks/{webhook_id}"): (
        lambda c: ("DELETE", f"/v1/webhooks/{c.webhook()}", {}),
        {"lender": 200, "other_lender": 404},
    ),
    ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"): (
        lambda c: ("POST", f"/v1/webhooks/{c.webhook()}/rotate-secret", {}),
        {"lender": 200, "other_lender": 404},
    ),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): (
        lambda c: ("GET", f"/v1/webhooks/{c.webhook()}/deliveries", {}),
        {"lender": 200, "other_lender": 404},
    ),
    ("GET", "/v1/loans/{loan_id}/reminders"): (
        lambda c: ("GET", f"/v1/loans/{c.loan()}/reminders", {}),
        READ,
    ),
    ("POST", "/v1/keys"): (
        lambda c: ("POST", "/v1/keys", {"json": {"role": "auditor", "name": "x"}}),
        {"admin": 201},
    ),
    ("GET", "/v1/keys"): (lambda c: ("GET", "/v1/keys", {}), {"admin": 200}),
    ("DELETE", "/v1/keys/{key_id}"): (
        lambda c: (
            "DELETE",
            f"/v1/keys/{c.rt.access.create_key(by='t', role='auditor', name='x')[0].id}",
            {},
        ),
        {"admin": 200},
    ),
    ("GET", "/v1/audit-log"): (
        lambda c: ("GET", "/v1/audit-log", {}),
        {"regulator": 200, "admin": 200},
    ),
    ("POST", "/v1/borrowers"): (
        lambda c: (
            "POST",
            "/v1/borrowers",
            {
                "json": {
                    "name": "Han Meimei",
                    "id_number": f"ID{uuid.uuid4().hex[:12]}",
                    "phone": "13900000000",
                    "bank_account": "6222020200112233445",
                }
            },
        ),
        {"lender": 201, "other_lender": 201},  # each enrols its own borrowers
    ),
    ("GET", "/v1/borrowers/{commitment}/personal-data"): (
        lambda c: ("GET", f"/v1/borrowers/{c.borrower_data()}/personal-data", {}),
        {"lender": 200, "other_lender": 404, "regulator": 200},
    ),
    ("DELETE", "/v1/borrowers/{commitment}/personal-data"): (
        lambda c: ("DELETE", f"/v1/borrowers/{c.borrower_data()}/personal-data", {}),
        {"lender": 200, "other_lender": 404, "admin": 200},
    ),
    ("POST", "/v1/auth/siwe/nonce"): (
        lambda c: ("POST", "/v1/auth/siwe/nonce", {}),
        {caller: 200 for caller in CALLERS},
    ),
    ("POST", "/v1/auth/siwe"): (
        lambda c: ("POST", "/v1/auth/siwe", {"json": c.siwe()}),
        {caller: 201 for caller in CALLERS},  # signing in needs no other credential
    ),
    ("GET", "/v1/me"): (lambda c: ("GET", "/v1/me", {}), {"borrower": 200}),
    ("GET", "/v1/me/agreements"): (lambda c: ("GET", "/v1/me/agreements", {}), {"borrower": 200}),
    ("GET", "/v1/me/loans"): (lambda c: ("GET", "/v1/me/loans", {}), {"borrower": 200}),
    ("GET", "/v1/audit-log/verify"): (
        lambda c: ("GET", "/v1/audit-log/verify", {}),
        {"regulator": 200, "admin": 200},
    ),
}


def _expected(row: dict[str, int], caller: str, public: bool) -> int:
    if caller in row:
        return row[caller]
    if caller in ("anonymous", "bad_token"):
        return 200 if public else 401
    return 403


@pytest.fixture(scope="module")
def world() -> Iterator[tuple[Runtime, TestClient, dict[str, dict[str, str]]]]:
    rt = start_runtime(connect(None))
    headers = {
        "anonymous": {},
        "bad_token": {"Authorization": "Bearer lt_0000000000000000_" + "A" * 43},
        "admin": bearer(rt, "admin"),
        "lender": bearer(rt, "lender"),
        "other_lender": bearer(rt, "lender", lender=Account.create().address),
        "auditor": bearer(rt, "auditor"),
        "regulator": bearer(rt, "regulator"),
        "borrower": _borrower_session(rt),
    }
    with TestClient(create_app(rt)) as client:
        yield rt, client, headers
    rt.close()


def _borrower_session(rt: Runtime) -> dict[str, str]:
    """Sign BORROWER in (EIP-4361) after an agreement naming it is notarised."""
    rt.notary.notarise(make_signed(rt, borrower=BORROWER).submission)
    body = Ctx(rt, make_signed).siwe()
    session = rt.signin.sign_in(body["message"], bytes.fromhex(body["signature"][2:]))
    return {"Authorization": f"Bearer {session.token}"}


def _routes() -> list[Any]:
    """Every API route of the app as served (included routers flattened)."""
    rt = start_runtime(connect(None))
    try:
        return api_routes(create_app(rt))
    finally:
        rt.close()


ROUTES = _routes()


def test_every_route_declares_an_access_rule_and_has_a_matrix_row() -> None:
    undeclared = [f"{sorted(r.methods)} {r.path}" for r in ROUTES if rule_of(r.dependant) is None]
    assert undeclared == []
    listed = {(m, r.path) for r in ROUTES for m in r.methods}
    assert listed - set(MATRIX) == set(), "add the new route to MATRIX"
    assert set(MATRIX) - listed == set(), "MATRIX names a route that no longer exists"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_by_caller(
    world: tuple[Runtime, TestClient, dict[str, dict[str, str]]],
    make_submission: SubmissionFactory,
    route: tuple[str, str],
    caller: str,
) -> None:
    rt, client, headers = world
    builder, row = MATRIX[route]
    public = next(
        rule_of(r.dependant).roles == ()  # type: ignore[union-attr]
        for r in ROUTES
        if r.path == route[1] and route[0] in r.methods
    )
    method, url, kwargs = builder(Ctx(rt, make_submission))
    response = client.request(method, url, headers=headers[caller], **kwargs)
    expected = _expected(row, caller, public)
    assert response.status_code == expected, f"{caller} {method} {url}: {response.text[:300]}"
    if expected >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        if expected == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")


def test_matrix_size() -> None:
    print(f"authorisation matrix: {len(MATRIX)} routes x {len(CALLERS)} callers")
    assert len(MATRIX) * len(CALLERS) >= 150
