"""One service, two lenders with their own keystore keys, and the regulator's key: over HTTP,
each lender's writes are signed and sent by its own account, and neither sees the other's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.chain.signers import write_keystore
from loantrace.devtools.sample_terms import terms_at
from tests.api.conftest import bearer, form_of
from tests.conftest import BoundChain, SubmissionFactory, bound_runtime

PASSWORD = "two lenders, one service"


@pytest.fixture
def two_lenders(embedded_chain: BoundChain, tmp_path: Path) -> Iterator[Runtime]:
    """A runtime holding two lenders' keystores (and the dev regulator's key)."""
    for name in ("a", "b"):
        write_keystore(Account.create().key, PASSWORD, tmp_path / f"{name}.json")
    rt = bound_runtime(embedded_chain, keystore_dir=tmp_path, keystore_password=PASSWORD)
    yield rt
    rt.close()


def _sender(rt: Runtime, tx_hash: str) -> str:
    return str(rt.node.w3.eth.get_transaction(tx_hash)["from"])  # type: ignore[arg-type]


def test_each_lender_signs_with_its_own_key_and_sees_only_its_own(
    two_lenders: Runtime, make_submission: SubmissionFactory
) -> None:
    rt = two_lenders
    lender_a, lender_b = (desk.signer.address for desk in rt.desks.values())
    a, b = bearer(rt, "lender", lender_a), bearer(rt, "lender", lender_b)
    terms = terms_at(rt.node.now(), principal=40_000, instalments=2)
    with TestClient(create_app(rt)) as client:
        made = make_submission(rt, terms=terms, lender=lender_a)
        notarised = client.post("/v1/agreements", data=form_of(made), headers=a)
        assert notarised.status_code == 201, notarised.text
        assert _sender(rt, notarised.json()["tx_hash"]) == lender_a
        digest = notarised.json()["digest"]
        theirs = make_submission(rt, terms=terms, lender=lender_b)
        response = client.post("/v1/agreements", data=form_of(theirs), headers=b)
        assert response.status_code == 201, response.text
        assert _sender(rt, response.json()["tx_hash"]) == lender_b
        # B may neither see nor touch A's agreement and loan
        assert client.get(f"/v1/agreements/{digest}", headers=b).status_code == 404
        revoke = client.post(f"/v1/agreements/{digest}/revoke", json={"reason": 1}, headers=b)
        assert revoke.status_code == 404
        assert client.post("/v1/loans", json={"digest": digest}, headers=b).status_code == 404
        loan = client.post("/v1/loans", json={"digest": digest}, headers=a)
        assert loan.status_code == 201, loan.text
        assert _sender(rt, loan.json()["registered_tx"]) == lender_a
        # A cannot notarise in B's name: the agreement names the lender whose key signs
        forged = make_submission(rt, terms=terms, lender=lender_b)
        assert client.post("/v1/agreements", data=form_of(forged), headers=a).status_code == 422
        # the regulator's label is sent from the regulator's account
        regulator = bearer(rt, "regulator")
        label = client.post(
            f"/v1/accounts/{'0x' + 'ab' * 32}/label",
            json={"category": "SECURITIES"},
            headers=regulator,
        )
        assert label.status_code == 200, label.text
        assert rt.regulator is not None
        assert _sender(rt, label.json()["tx_hash"]) == rt.regulator.signer.address
