"""POST /v1/agreements with batch anchoring: 202 Accepted with a status URL, the receipt once
the batch is anchored; idempotent repeats, conflicts, `Prefer: respond-async`, the default
setting, tenancy, the OpenAPI contract, and acceptance-to-anchoring latency on anvil."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from sqlalchemy import text

from loantrace.api.app import create_app
from loantrace.api.queued import accept_all, look_up_all
from loantrace.bootstrap import Runtime
from loantrace.domain.hexcodec import to_hex
from tests.api.conftest import assert_problem, authorised, bearer, form_of
from tests.conftest import BoundChain, Signed, SubmissionFactory, bound_runtime, make_signed
from tests.services.test_batcher import Desk

BATCH = {"anchoring": "batch"}


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def _anchor_all(rt: Runtime) -> None:
    """Close every queued batch now, as the batcher does once the window has passed."""
    time.sleep(rt.settings.queue_window_ms / 1000)
    rt.batchers[0].run_once()


def _queue(client: TestClient, signed: Signed, **headers: str) -> dict[str, Any]:
    response = client.post("/v1/agreements", data=form_of(signed) | BATCH, headers=headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def batch_client(embedded_chain: BoundChain) -> Iterator[TestClient]:
    """An API client whose queued batches close after 50 ms."""
    rt = bound_runtime(embedded_chain, queue_window_ms=50)
    with TestClient(create_app(rt)) as test_client:
        yield authorised(test_client, rt)
    rt.close()


def test_batch_anchoring_answers_202_then_the_receipt_at_the_status_url(
    batch_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(batch_client)
    signed = make_submission(rt)
    digest = to_hex(signed.submission.digest)
    response = batch_client.post("/v1/agreements", data=form_of(signed) | BATCH)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/agreements/{digest}" == body["status_url"]
    assert "preference-applied" not in response.headers
    assert body["digest"] == digest
    assert (body["status"], body["mode"], body["lender"]) == ("queued", "batch", rt.notary.lender)
    datetime.fromisoformat(body["accepted_at"])
    queued = batch_client.get(body["status_url"])
    assert queued.status_code == 200
    assert queued.json() == body  # no chain fields yet: nothing is anchored
    _anchor_all(rt)
    receipt = batch_client.get(body["status_url"]).json()
    assert (receipt["status"], receipt["mode"]) == ("notarised", "batch")
    assert receipt["merkle"]["leaf_values"][0] == digest
    assert receipt["block_number"] > 0
    assert receipt["tx_hash"].startswith("0x")
    verdict = batch_client.post(
        "/v1/verify", data={"digest": digest, "merkle": json.dumps(receipt["merkle"])}
    ).json()
    assert (verdict["verdict"], verdict["merkle_proof_valid"]) == ("valid", True)
    assert rt.verifier.verify(signed.submission.digest).verdict == "valid"


def test_a_repeat_keeps_its_acceptance_then_answers_with_the_receipt(
    batch_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(batch_client)
    signed = make_submission(rt)
    first = _queue(batch_client, signed)
    again = _queue(batch_client, signed)
    assert again == first  # the same accepted_at
    single = batch_client.post("/v1/agreements", data=form_of(signed) | {"anchoring": "single"})
    assert single.status_code == 202  # queued already: not anchored a second time
    assert single.json() == first
    _anchor_all(rt)
    after = batch_client.post("/v1/agreements", data=form_of(signed) | BATCH)
    assert after.status_code == 200, after.text
    assert after.json() == batch_client.get(first["status_url"]).json()
    assert after.json()["mode"] == "batch"
    with rt.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM batches")).scalar() == 1


def test_the_same_document_with_other_parties_is_a_conflict(
    batch_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(batch_client)
    signed = make_submission(rt, b"one document")
    other = make_submission(rt, b"one document")  # another borrower and commitment
    _queue(batch_client, signed)
    conflict = batch_client.post("/v1/agreements", data=form_of(other) | BATCH)
    assert_problem(conflict, 409, "already-notarised")
    _anchor_all(rt)
    assert_problem(
        batch_client.post("/v1/agreements", data=form_of(other) | BATCH), 409, "already-notarised"
    )


def test_concurrent_submissions_each_get_their_own_answer(
    batch_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(batch_client)
    distinct = [make_submission(rt, f"concurrent {i}".encode()) for i in range(16)]
    rival = make_submission(rt, b"concurrent 0")  # the first document, another borrower
    forged = make_submission(rt, b"concurrent forged", signer=Account.create())
    sent = [*distinct, distinct[3], distinct[3], rival, forged]
    with ThreadPoolExecutor(max_workers=len(sent)) as pool:
        answers = list(
            pool.map(lambda s: batch_client.post("/v1/agreements", data=form_of(s) | BATCH), sent)
        )
    by_digest: dict[str, set[str]] = {}
    for signed, answer in zip(sent, answers, strict=True):
        if signed is forged:
            assert_problem(answer, 422, "signature-mismatch")
        else:  # the first document and its rival: one wins, whichever came first
            assert answer.status_code in (202, 409), answer.text
            if answer.status_code == 202:
                body = answer.json()
                assert body["digest"] == to_hex(signed.submission.digest)
                by_digest.setdefault(body["digest"], set()).add(body["accepted_at"])
    conflicts = [a for s, a in zip(sent, answers, strict=True) if a.status_code == 409]
    assert len(conflicts) == 1  # of the first document and its rival, exactly one lost
    assert all(len(times) == 1 for times in by_digest.values())  # a repeat: the same answer
    assert len(by_digest) == 16
    assert rt.intake.queued(forged.submission.digest) is None
    _anchor_all(rt)
    for digest in by_digest:
        status = batch_client.get(f"/v1/agreements/{digest}")
        assert status.status_code == 200, status.text
        assert status.json()["mode"] == "batch"


def test_a_bad_signature_is_refused_before_anything_is_queued(
    batch_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(batch_client)
    forged = make_submission(rt, signer=Account.create())
    response = batch_client.post("/v1/agreements", data=form_of(forged) | BATCH)
    assert_problem(response, 422, "signature-mismatch")
    assert rt.intake.queued(forged.submission.digest) is None


def test_prefer_respond_async_queues_unless_single_is_asked(
    batch_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(batch_client)
    prefer = {"Prefer": "wait=5, respond-async"}
    response = batch_client.post(
        "/v1/agreements", data=form_of(make_submission(rt)), headers=prefer
    )
    assert response.status_code == 202, response.text
    assert response.headers["preference-applied"] == "respond-async"
    single = batch_client.post(
        "/v1/agreements",
        data=form_of(make_submission(rt)) | {"anchoring": "single"},
        headers=prefer,
    )
    assert single.status_code == 201, single.text
    assert single.json()["mode"] == "single"
    plain = batch_client.post("/v1/agreements", data=form_of(make_submission(rt)))
    assert plain.status_code == 201  # LOANTRACE_DEFAULT_ANCHORING is single


def test_the_default_can_be_batch_but_amendments_stay_single(
    embedded_chain: BoundChain,
) -> None:
    rt = bound_runtime(embedded_chain, default_anchoring="batch", queue_window_ms=50)
    try:
        with TestClient(create_app(rt)) as client:
            authorised(client, rt)
            original = make_signed(rt)
            assert client.post("/v1/agreements", data=form_of(original)).status_code == 202
            _anchor_all(rt)
            amendment = make_signed(rt, supersedes=original.submission.digest)
            response = client.post("/v1/agreements", data=form_of(amendment))
            assert response.status_code == 201, response.text
            assert response.json()["mode"] == "single"
            explicit = make_signed(rt, supersedes=original.submission.digest)
            refused = client.post("/v1/agreements", data=form_of(explicit) | BATCH)
            assert_problem(refused, 422, "invalid-input")
    finally:
        rt.close()


def test_a_queued_agreement_is_hidden_from_other_lenders_not_from_auditors(
    batch_client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(batch_client)
    body = _queue(batch_client, make_submission(rt))
    stranger = bearer(rt, "lender", lender=Account.create().address)
    assert_problem(batch_client.get(body["status_url"], headers=stranger), 404, "not-found")
    auditor = batch_client.get(body["status_url"], headers=bearer(rt, "auditor"))
    assert auditor.status_code == 200
    assert auditor.json()["status"] == "queued"


def test_openapi_documents_the_202_and_the_queued_shape(batch_client: TestClient) -> None:
    spec = batch_client.get("/openapi.json").json()
    post = spec["paths"]["/v1/agreements"]["post"]
    assert set(post["responses"]) >= {"200", "201", "202"}
    accepted = post["responses"]["202"]
    assert "Location" in accepted["headers"]
    shapes = accepted["content"]["application/json"]["schema"]["oneOf"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in shapes} == {"QueuedOut", "PendingOut"}
    form = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    form_schema = spec["components"]["schemas"][form["$ref"].rsplit("/", 1)[1]]
    assert "anchoring" in form_schema["properties"]
    assert any(p["name"] == "prefer" for p in post["parameters"])
    get = spec["paths"]["/v1/agreements/{digest}"]["get"]["responses"]["200"]
    schema = get["content"]["application/json"]["schema"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in schema["oneOf"]} == {"ReceiptOut", "QueuedOut"}
    queued = spec["components"]["schemas"]["QueuedOut"]
    assert "tx_hash" not in queued["properties"]


@pytest.mark.anvil
def test_accepted_agreements_are_anchored_within_two_seconds_p99(
    anvil_chain: BoundChain, tmp_path: Path
) -> None:
    """Four clients send for about two seconds while the batcher runs as `serve` runs it
    (window 200 ms): the time from acceptance to the recorded anchor stays under 2 s."""
    database = f"sqlite:///{tmp_path / 'latency.db'}"
    rt = bound_runtime(anvil_chain, database, queue_window_ms=200, queue_batch_size=64)
    stop = threading.Event()
    batcher = threading.Thread(target=rt.batchers[0].run_forever, args=(stop,), daemon=True)
    batcher.start()
    try:
        signed = [make_signed(rt) for _ in range(160)]
        accepted: list[tuple[str, str]] = []
        with TestClient(create_app(rt)) as client:
            authorised(client, rt)

            def send(items: list[Signed]) -> None:
                for item in items:
                    response = client.post("/v1/agreements", data=form_of(item) | BATCH)
                    assert response.status_code == 202, response.text
                    accepted.append((response.json()["digest"], response.json()["accepted_at"]))
                    time.sleep(0.04)

            senders = [threading.Thread(target=send, args=(signed[i::4],)) for i in range(4)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join()
        deadline = time.monotonic() + 10
        while _recorded(rt) < len(accepted) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(accepted) == _recorded(rt) == 160
        with rt.engine.connect() as conn:
            rows = conn.execute(text("SELECT digest, created_at FROM agreements")).all()
        recorded: dict[str, object] = {str(digest): at for digest, at in rows}
        waits = sorted(
            (_utc(recorded[digest]) - datetime.fromisoformat(at)).total_seconds()
            for digest, at in accepted
        )
        p50, p99 = waits[len(waits) // 2], waits[int(len(waits) * 0.99) - 1]
        assert waits[0] > 0
        assert p99 < 2.0, f"p50 {p50:.2f}s p99 {p99:.2f}s"
    finally:
        stop.set()
        rt.batchers[0].wake()
        batcher.join(timeout=10)
        rt.close()


def _recorded(rt: Runtime) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM agreements")).scalar() or 0)


def _utc(value: object) -> datetime:
    """A stored timestamp (SQLite keeps UTC without an offset) as an aware UTC datetime."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def test_concurrent_requests_of_two_lenders_are_answered_in_their_order() -> None:
    first, second = Desk(), Desk()
    keys = [
        (first.intake, first.submission("one")),
        (second.intake, second.submission("two")),
        (first.intake, first.submission("three")),
    ]
    answers = accept_all(keys)
    assert [a.digest for a in answers if not isinstance(a, Exception)] == [
        to_hex(submission.digest) for _intake, submission in keys
    ]
    assert len(first.store.tables.queued) == 2
    assert len(second.store.tables.queued) == 1
    lookups = [(intake, submission.digest) for intake, submission in reversed(keys)]
    assert look_up_all(lookups) == list(reversed(answers))
    assert look_up_all([(second.intake, keys[0][1].digest)]) == [None]  # not that lender's
