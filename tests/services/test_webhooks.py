"""Webhook delivery details the delivery tests leave open: headers, redirects, timeouts,
the backoff schedule to its cap, and no secret or payload in errors and logs."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from eth_utils.address import to_checksum_address
from standardwebhooks.webhooks import Webhook

from loantrace.devtools.anvil import free_port
from loantrace.domain.egress import AllowList
from loantrace.domain.webhooks import ReminderEvent
from loantrace.ports.webhooks import Delivery
from loantrace.services.webhooks import DeliveryStats, WebhookService
from loantrace.store.db import init_schema, make_engine
from loantrace.store.webhooks import SqlWebhookUnitOfWork

LENDER = to_checksum_address("0x" + "3c" * 20)
T0 = 1_800_000_000.0
LOOPBACK = AllowList.parse(["127.0.0.1/32"])  # the test endpoint runs there


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now

    def at(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


@dataclass
class Hit:
    """One request the endpoint saw."""

    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Endpoint:
    """A loopback server whose answer depends on the path: /ok, /fail, /redirect, /hang."""

    url: str
    hits: list[Hit] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    endpoint: Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.endpoint.hits.append(Hit(self.path, dict(self.headers.items()), body))
        if self.path == "/hang":
            time.sleep(1.0)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok")
        else:
            self.send_response(500 if self.path == "/fail" else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    port = free_port()
    seen = Endpoint(url=f"http://127.0.0.1:{port}")

    class Handler(_Handler):
        endpoint = seen

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield seen
    server.shutdown()
    server.server_close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _service(tmp_path: Path, clock: Clock, **overrides: Any) -> WebhookService:
    engine = make_engine(f"sqlite:///{tmp_path / 'hooks.db'}")
    init_schema(engine)
    options: dict[str, Any] = {
        "allow": LOOPBACK,
        "max_attempts": 4,
        "backoff_seconds": 2.0,
        "backoff_max_seconds": 60.0,
        "timeout_seconds": 2.0,
    } | overrides
    return WebhookService(
        uow=SqlWebhookUnitOfWork.factory(engine),
        fernet_key=Fernet.generate_key(),
        clock=clock,
        **options,
    )


def _event(log_index: int = 0) -> ReminderEvent:
    return ReminderEvent(
        chain_id=31337,
        tx_hash="0x" + uuid.uuid4().hex * 2,
        log_index=log_index,
        block_number=42,
        loan_id="0x" + "ab" * 32,
        lender=LENDER,
        instalment=1,
        stage=3,
        stage_name="bucket_1_30",
        due_at=1_799_000_000,
        amount_due=2**40,  # beyond 32 bits on purpose
        days_past_due=5,
    )


def _only_delivery(service: WebhookService, webhook_id: int) -> Delivery:
    ((delivery, _reminder),) = service.deliveries(webhook_id)
    return delivery


def test_delivery_posts_the_signed_payload_with_the_documented_headers(
    tmp_path: Path, clock: Clock, endpoint: Endpoint
) -> None:
    service = _service(tmp_path, clock)
    _row, shown = service.register(lender=LENDER, url=endpoint.url + "/ok")
    event = _event()
    service.record_reminders([event])
    assert service.deliver_due() == DeliveryStats(delivered=1)
    (hit,) = endpoint.hits
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.headers["Idempotency-Key"] == event.idempotency_key
    assert hit.headers["Loantrace-Event"] == "reminder.raised"
    assert hit.headers["User-Agent"] == "loantrace-webhooks/1"
    assert hit.headers["webhook-id"] == event.idempotency_key
    assert hit.headers["webhook-timestamp"] == str(int(T0))
    moment = datetime.fromtimestamp(T0, UTC)
    expected = Webhook(shown).sign(event.idempotency_key, moment, hit.body.decode())
    assert hit.headers["webhook-signature"] == expected  # the Standard Webhooks library agrees
    assert json.loads(hit.body) == event.to_payload()


def test_redirects_are_not_followed_and_count_as_failures(
    tmp_path: Path, clock: Clock, endpoint: Endpoint
) -> None:
    service = _service(tmp_path, clock)
    row, _shown = service.register(lender=LENDER, url=endpoint.url + "/redirect")
    assert row.id is not None
    service.record_reminders([_event()])
    assert service.deliver_due() == DeliveryStats(retried=1)
    assert [hit.path for hit in endpoint.hits] == ["/redirect"]
    delivery = _only_delivery(service, row.id)
    assert (delivery.status, delivery.last_status_code) == ("pending", 302)


def test_a_hanging_receiver_times_out_and_is_retried(
    tmp_path: Path, clock: Clock, endpoint: Endpoint
) -> None:
    service = _service(tmp_path, clock, timeout_seconds=0.2)
    row, _shown = service.register(lender=LENDER, url=endpoint.url + "/hang")
    assert row.id is not None
    service.record_reminders([_event()])
    started = time.monotonic()
    assert service.deliver_due() == DeliveryStats(retried=1)
    assert time.monotonic() - started < 0.9
    delivery = _only_delivery(service, row.id)
    assert delivery.last_status_code is None
    assert delivery.last_error is not None
    assert "Timeout" in delivery.last_error


def test_backoff_doubles_per_attempt_up_to_the_cap_then_the_delivery_dies(
    tmp_path: Path, clock: Clock, endpoint: Endpoint
) -> None:
    service = _service(tmp_path, clock, max_attempts=6, backoff_seconds=2, backoff_max_seconds=10)
    row, _shown = service.register(lender=LENDER, url=endpoint.url + "/fail")
    assert row.id is not None
    service.record_reminders([_event()])
    for delay in (2, 4, 8, 10, 10):
        assert service.deliver_due() == DeliveryStats(retried=1)
        assert _only_delivery(service, row.id).next_attempt_at == clock.at() + timedelta(
            seconds=delay
        )
        clock.now += delay - 1
        assert service.deliver_due() == DeliveryStats()  # one second early: not yet due
        clock.now += 1
    assert service.deliver_due() == DeliveryStats(dead=1)
    delivery = _only_delivery(service, row.id)
    assert (delivery.status, delivery.attempts) == ("dead", 6)
    assert (delivery.last_status_code, delivery.last_error) == (500, "HTTP 500")
    assert len(endpoint.hits) == 6


def test_errors_and_logs_carry_neither_the_secret_nor_the_payload(
    tmp_path: Path, clock: Clock, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    service = _service(tmp_path, clock, max_attempts=1, timeout_seconds=0.2)
    refused = f"http://127.0.0.1:{free_port()}/refused"  # nothing listens there
    urls = [endpoint.url + p for p in ("/ok", "/fail", "/redirect", "/hang")] + [refused]
    registered = [service.register(lender=LENDER, url=url) for url in urls]
    event = _event()
    service.record_reminders([event])
    with caplog.at_level(logging.DEBUG, logger="loantrace"):
        assert service.deliver_due() == DeliveryStats(delivered=1, dead=4)
    errors = " ".join(
        delivery.last_error or ""
        for row, _shown in registered
        for delivery, _reminder in service.deliveries(row.id or 0)
    )
    assert "HTTP 500" in errors
    assert "ConnectError" in errors
    assert caplog.text.count("delivery") == len(urls)
    for text in (errors, caplog.text):
        for _row, shown in registered:
            assert shown.removeprefix("whsec_") not in text
        assert str(event.amount_due) not in text
        assert event.loan_id not in text
