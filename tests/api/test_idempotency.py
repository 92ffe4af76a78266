"""Every write is sent once: retries, lost database writes, concurrent duplicates, 202."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, delete, select
from web3.types import RPCEndpoint

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.hexcodec import to_hex
from loantrace.outbox import TxStatus
from loantrace.store.models import AgreementRow, MovementRow, OutboxRow
from tests.api.conftest import assert_problem, authorised, form_of
from tests.conftest import SAMPLE_TERMS, SubmissionFactory, start_runtime

ACCOUNT = "0x" + "ac" * 32


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _sent(rt: Runtime) -> int:
    """How many transactions the service has recorded in its outbox."""
    with Session(rt.engine) as session:
        return len(session.exec(select(OutboxRow)).all())


def _loan(client: TestClient, make: SubmissionFactory) -> str:
    rt = _runtime(client)
    terms = terms_at(rt.node.now(), principal=200_000, instalments=2, method="equal_principal")
    signed = make(rt, terms=terms)
    assert client.post("/v1/agreements", data=form_of(signed)).status_code == 201
    loan = client.post("/v1/loans", json={"digest": to_hex(signed.submission.digest)})
    assert loan.status_code == 201, loan.text
    return str(loan.json()["loan_id"])


def test_a_retry_after_a_lost_database_write_adopts_the_mined_transaction(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    loan_id = _loan(client, make_submission)
    body = {"amount": 200_000, "to_account": ACCOUNT, "external_ref": "BANK-LOST"}
    first = client.post(f"/v1/loans/{loan_id}/disbursements", json=body)
    assert first.status_code == 201, first.text
    with Session(rt.engine) as session:  # the database write is lost after the chain write
        session.exec(delete(MovementRow))  # type: ignore[call-overload]
        session.commit()
    sent = _sent(rt)
    retry = client.post(f"/v1/loans/{loan_id}/disbursements", json=body)
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == first.json()["tx_hash"]
    assert _sent(rt) == sent  # nothing sent again
    on_chain = rt.ledger.loan_of(bytes.fromhex(loan_id[2:]))
    assert on_chain is not None
    assert on_chain.disbursed == 200_000  # counted once
    conflicting = body | {"amount": 100_000}
    with Session(rt.engine) as session:
        session.exec(delete(MovementRow))  # type: ignore[call-overload]
        session.commit()
    assert_problem(client.post(f"/v1/loans/{loan_id}/disbursements", json=conflicting), 409)


def test_a_notarisation_retried_after_a_lost_database_write_is_not_sent_again(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    signed = make_submission(rt)
    first = client.post("/v1/agreements", data=form_of(signed))
    assert first.status_code == 201
    with Session(rt.engine) as session:
        session.exec(delete(AgreementRow))  # type: ignore[call-overload]
        session.commit()
    sent = _sent(rt)
    retry = client.post("/v1/agreements", data=form_of(signed))
    assert retry.status_code == 201, retry.text
    assert retry.json()["tx_hash"] == first.json()["tx_hash"]
    assert _sent(rt) == sent
    again = client.post("/v1/agreements", data=form_of(signed))
    assert again.status_code == 200  # a plain retry: the first receipt
    assert again.json() == retry.json()


@pytest.fixture
def file_client(tmp_path: Path, anvil: Anvil) -> Iterator[TestClient]:
    """An API client on anvil with a file database (threads share it as replicas would)."""
    rt = start_runtime(connect(anvil.url), database_url=f"sqlite:///{tmp_path / 'api.db'}")
    with TestClient(create_app(rt)) as test_client:
        authorised(test_client, rt)
        yield test_client
    rt.close()


@pytest.mark.anvil
def test_concurrent_duplicates_resolve_to_one_transaction(
    file_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(file_client)
    signed = make_submission(rt)
    form = form_of(signed)
    sent = _sent(rt)

    def submit(_: int) -> Any:
        return file_client.post("/v1/agreements", data=form)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(submit, range(20)))
    codes = Counter(r.status_code for r in responses)
    print(f"20 concurrent submissions of one agreement: {dict(codes)}")
    assert codes == Counter({201: codes[201], 200: 20 - codes[201]})
    assert codes[201] >= 1
    assert len({r.json()["tx_hash"] for r in responses}) == 1
    assert _sent(rt) == sent + 1  # one transaction


@pytest.mark.anvil
def test_a_write_not_mined_in_time_is_202_with_a_status_url(
    tmp_path: Path, make_submission: SubmissionFactory
) -> None:
    with Anvil(chain_id=31_339) as node:
        rt = start_runtime(connect(node.url), receipt_timeout_seconds=0.3)
        with TestClient(create_app(rt)) as client:
            authorised(client, rt)
            signed = make_submission(rt, terms=replace(SAMPLE_TERMS))
            rt.node.w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [False])
            accepted = client.post("/v1/agreements", data=form_of(signed))
            assert accepted.status_code == 202, accepted.text
            body = accepted.json()
            assert body["status"] == "pending"
            assert accepted.headers["location"] == body["status_url"]
            status = client.get(body["status_url"]).json()
            assert (status["status"], status["block_number"]) == ("pending", None)
            retry = client.post("/v1/agreements", data=form_of(signed))
            assert retry.status_code == 202
            assert retry.json()["tx_hash"] == body["tx_hash"]  # not sent twice
            rt.node.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
            mined = client.get(body["status_url"]).json()
            assert mined["status"] == TxStatus.MINED.value
            assert mined["block_number"] > 0
            rt.node.w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [True])
            done = client.post("/v1/agreements", data=form_of(signed))
            assert done.status_code == 201, done.text
            assert done.json()["tx_hash"] == body["tx_hash"]
            assert_problem(client.get("/v1/transactions/0x" + "99" * 32), 404)
        rt.close()
