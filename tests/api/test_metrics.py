"""GET /metrics: each figure says what the service did, read back with Prometheus' parser."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.exc import OperationalError
from web3.types import RPCEndpoint

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.chain.localnode import free_port
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.delinquency import SECONDS_PER_DAY
from loantrace.store.db import session_scope
from loantrace.store.models import OutboxRow, utcnow
from tests.api.conftest import bearer, form_of, json_item
from tests.conftest import BoundChain, SubmissionFactory, bound_runtime

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    """Return every sample of /metrics, keyed by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """Return one sample's value; fail if it is missing."""
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}"
    return samples[key]


def requests_of(samples: Samples, route: str, method: str, status: str) -> float:
    """Return how many requests the latency histogram counted for one route."""
    labels = {"route": route, "method": method, "status": status}
    return value(samples, "loantrace_http_request_duration_seconds_count", **labels)


def _rpc(rt: Runtime, method: str, *params: Any) -> Any:
    return rt.node.w3.provider.make_request(RPCEndpoint(method), list(params))["result"]


@pytest.mark.anvil
@pytest.mark.postgres
def test_metrics_report_requests_batches_webhooks_indexer_and_outbox(
    anvil_chain: BoundChain, fresh_postgres: str, make_submission: SubmissionFactory
) -> None:
    rt = bound_runtime(
        anvil_chain, fresh_postgres, webhook_max_attempts=2, webhook_backoff_seconds=0.01
    )
    client = TestClient(create_app(rt))
    client.headers.update(bearer(rt))
    terms = terms_at(rt.node.now(), principal=40_000, instalments=1, first_in_days=10)
    notarised = client.post("/v1/agreements", data=form_of(make_submission(rt, terms=terms)))
    assert notarised.status_code == 201, notarised.text
    digest = notarised.json()["digest"]
    batch = [json_item(make_submission(rt)) for _ in range(3)]
    anchored = client.post("/v1/agreements/batch", json={"agreements": batch})
    assert anchored.status_code == 201, anchored.text
    assert client.get("/v1/agreements/0x" + "12" * 32).status_code == 404
    nobody_listens = f"http://127.0.0.1:{free_port()}/hooks"
    assert client.post("/v1/webhooks", json={"url": nobody_listens}).status_code == 201
    loan = client.post("/v1/loans", json={"digest": digest})
    assert loan.status_code == 201, loan.text
    paid = {"amount": terms.principal, "to_account": "0x" + "11" * 32, "external_ref": "D-1"}
    assert client.post(f"/v1/loans/{digest}/disbursements", json=paid).status_code == 201
    due_at = loan.json()["schedule"][0]["due_at"]
    rt.node.advance_time(due_at - 2 * SECONDS_PER_DAY - rt.node.now())
    round_one = rt.keeper.run_once()  # raises the due-soon reminder; its delivery fails
    assert (round_one.reminders_recorded, round_one.deliveries.retried) == (1, 1)

    samples = scrape(client)
    assert value(samples, "loantrace_chain_up") == 1
    assert value(samples, "loantrace_database_up") == 1
    head = rt.node.head()
    assert value(samples, "loantrace_chain_head_block") == head
    assert value(samples, "loantrace_indexer_cursor_block") == head  # the keeper indexed
    assert value(samples, "loantrace_indexer_lag_blocks") == 0
    assert requests_of(samples, "/v1/agreements", "POST", "2xx") == 1
    assert requests_of(samples, "/v1/agreements/batch", "POST", "2xx") == 1
    assert requests_of(samples, "/v1/agreements/{digest}", "GET", "4xx") == 1
    assert requests_of(samples, "/v1/webhooks", "POST", "2xx") == 1
    assert not any("0x1212" in str(labels) for _name, labels in samples)  # templates only
    assert value(samples, "loantrace_batch_agreements_count") == 1
    assert value(samples, "loantrace_batch_agreements_sum") == 3
    assert value(samples, "loantrace_batch_agreements_bucket", le="2.0") == 0
    assert value(samples, "loantrace_batch_agreements_bucket", le="4.0") == 1
    assert value(samples, "loantrace_reminders_raised_total", stage="due_soon") == 1
    assert value(samples, "loantrace_reminders_raised_total", stage="due") == 0
    assert value(samples, "loantrace_webhook_deliveries", status="pending") == 1
    assert value(samples, "loantrace_webhook_deliveries", status="delivered") == 0
    assert value(samples, "loantrace_webhook_deliveries", status="dead") == 0
    assert value(samples, "loantrace_webhook_delivery_failures_total") == 1
    assert value(samples, "loantrace_outbox_pending_transactions") == 0
    assert value(samples, "loantrace_outbox_oldest_pending_age_seconds") == 0
    assert value(samples, "loantrace_indexer_reorgs_repaired_total") == 0

    time.sleep(0.05)  # past the retry's backoff
    assert rt.webhooks.deliver_due().dead == 1  # the second and last attempt fails too
    for _ in range(4):
        _rpc(rt, "evm_mine")
    samples = scrape(client)
    assert value(samples, "loantrace_webhook_deliveries", status="pending") == 0
    assert value(samples, "loantrace_webhook_deliveries", status="dead") == 1
    assert value(samples, "loantrace_webhook_delivery_failures_total") == 2
    assert value(samples, "loantrace_indexer_lag_blocks") == 4
    assert requests_of(samples, "/metrics", "GET", "2xx") == 1

    rt.indexer.run_once()
    before = _rpc(rt, "evm_snapshot")
    _rpc(rt, "evm_mine")
    rt.indexer.run_once()  # stores the newest block's hash
    assert _rpc(rt, "evm_revert", before)
    _rpc(rt, "evm_increaseTime", 13)  # the same height, another timestamp: another hash
    _rpc(rt, "evm_mine")
    _rpc(rt, "evm_mine")
    assert rt.indexer.run_once().reorged_from is not None
    with session_scope(rt.engine) as session:  # a transaction sent 90 s ago, not yet mined
        session.add(
            OutboxRow(
                tx_hash="0x" + "ab" * 32,
                chain_id=rt.node.chain_id,
                sender=rt.notary.lender,
                nonce=10**6,
                raw="00",
                data="",
                status="pending",
                created_at=utcnow() - timedelta(seconds=90),
            )
        )
    samples = scrape(client)
    assert value(samples, "loantrace_indexer_reorgs_repaired_total") == 1
    assert value(samples, "loantrace_indexer_lag_blocks") == 0
    assert value(samples, "loantrace_outbox_pending_transactions") == 1
    assert 90 <= value(samples, "loantrace_outbox_oldest_pending_age_seconds") < 600
    rt.close()


def test_a_dependency_down_reads_zero_and_the_scrape_still_answers(
    embedded_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(create_app(embedded_runtime))
    samples = scrape(client)
    assert value(samples, "loantrace_chain_up") == value(samples, "loantrace_database_up") == 1

    def unreachable(*_args: Any, **_kwargs: Any) -> Any:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError())

    monkeypatch.setattr(embedded_runtime.node, "head", unreachable)
    monkeypatch.setattr(embedded_runtime.indexer, "indexed_to", unreachable)
    samples = scrape(client)
    assert value(samples, "loantrace_chain_up") == 0
    assert value(samples, "loantrace_database_up") == 0
    names = {name for name, _labels in samples}
    assert "loantrace_indexer_lag_blocks" not in names
    assert "loantrace_webhook_deliveries" not in names
    assert value(samples, "loantrace_indexer_reorgs_repaired_total") == 0  # counters stay
