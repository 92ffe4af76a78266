"""Webhook and reminder routes: register, delivery log, a loan's reminders, and errors."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from loantrace.devtools.receiver import WebhookReceiver
from loantrace.domain.delinquency import SECONDS_PER_DAY
from loantrace.domain.webhooks import parse_secret
from tests.api.conftest import assert_problem, form_of
from tests.conftest import SAMPLE_TERMS, SubmissionFactory


def _runtime(client: TestClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


def test_register_webhook_returns_secret_once_and_logs_deliveries(
    client: TestClient, make_submission: SubmissionFactory
) -> None:
    rt = _runtime(client)
    with WebhookReceiver() as receiver:
        created = client.post("/v1/webhooks", json={"url": receiver.url})
        assert created.status_code == 201, created.text
        hook = created.json()
        assert hook["lender"] == rt.notary.lender
        receiver.secret = parse_secret(hook["secret"])
        terms = replace(SAMPLE_TERMS, apr_bps=1_000, instalments=1)
        signed = make_submission(rt, terms=terms)
        digest = client.post("/v1/agreements", data=form_of(signed)).json()["digest"]
        loan = client.post("/v1/loans", json={"digest": digest}).json()
        client.post(
            f"/v1/loans/{digest}/disbursements",
            json={"amount": terms.principal, "to_account": "0x" + "11" * 32, "external_ref": "D"},
        )
        due_at = loan["schedule"][0]["due_at"]
        rt.node.advance_time(due_at + 2 * SECONDS_PER_DAY - rt.node.now())
        rt.keeper.run_once()
        log = client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()
        assert [d["status"] for d in log["deliveries"]] == ["delivered"] * 3
        assert "secret" not in str(log)
        reminders = client.get(f"/v1/loans/{digest}/reminders").json()
        assert [r["stage_name"] for r in reminders] == ["due_soon", "due", "bucket_1_30"]
        assert all(r["tx_hash"].startswith("0x") and r["block_number"] > 0 for r in reminders)
        assert len(receiver.received.accepted) == 3


def test_webhook_errors_are_problems(client: TestClient) -> None:
    assert_problem(client.post("/v1/webhooks", json={"url": "ftp://x.example"}), 422)
    assert_problem(client.post("/v1/webhooks", json={"url": "https://u:p@x.example/h"}), 422)
    assert_problem(client.post("/v1/webhooks", json={"url": "https://x.example", "x": 1}), 422)
    assert_problem(
        client.post("/v1/webhooks", json={"url": "https://x.example", "lender": "0x12"}), 422
    )
    assert_problem(client.get("/v1/webhooks/999/deliveries"), 404)
    assert_problem(client.get("/v1/webhooks/abc/deliveries"), 422)
    hook = client.post("/v1/webhooks", json={"url": "https://x.example/h"}).json()
    assert_problem(client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=0"), 422)
    assert_problem(client.get(f"/v1/webhooks/{hook['id']}/deliveries?limit=100000"), 422)
    assert_problem(client.get("/v1/loans/0x" + "12" * 32 + "/reminders"), 404)
