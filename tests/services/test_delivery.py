"""Webhook delivery against a real HTTP receiver: retries, backoff, dead letters, restarts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from eth_utils.address import to_checksum_address
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from loantrace.devtools.receiver import WebhookReceiver
from loantrace.domain.egress import AllowList
from loantrace.domain.errors import InvalidInput, NotFound
from loantrace.domain.webhooks import ReminderEvent, parse_secret
from loantrace.services.webhooks import WebhookService
from loantrace.store.db import init_schema, make_engine
from loantrace.store.models import DeliveryRow, WebhookRow
from loantrace.store.webhooks import SqlWebhookUnitOfWork

LENDER = to_checksum_address("0x" + "1f" * 20)
KEY = Fernet.generate_key()
T0 = 1_800_000_000.0


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _events(n: int, lender: str = LENDER) -> list[ReminderEvent]:
    tx = "0x" + uuid.uuid4().hex * 2
    return [
        ReminderEvent(
            31337, tx, i, 10, "0x" + "ab" * 32, lender, i, 2, "due", 1_800_000_000, 110_000, 0
        )
        for i in range(n)
    ]


_ENGINES: dict[int, Engine] = {}  # service -> the engine its unit of work opens


def _engine(service: WebhookService) -> Engine:
    return _ENGINES[id(service)]


def _service(url: str, clock: Clock, max_attempts: int = 4) -> WebhookService:
    engine = make_engine(url)
    init_schema(engine)
    service = _build(engine, clock, max_attempts)
    _ENGINES[id(service)] = engine
    return service


def _build(engine: Engine, clock: Clock, max_attempts: int) -> WebhookService:
    return WebhookService(
        uow=SqlWebhookUnitOfWork.factory(engine),
        fernet_key=KEY,
        max_attempts=max_attempts,
        backoff_seconds=2,
        backoff_max_seconds=60,
        timeout_seconds=2,
        clock=clock,
        allow=AllowList.parse(["127.0.0.1/32"]),  # the reference receiver runs on loopback
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def receiver(clock: Clock) -> Iterator[WebhookReceiver]:
    with WebhookReceiver(clock=clock) as r:
        yield r


def _register(service: WebhookService, receiver: WebhookReceiver) -> int:
    row, secret = service.register(lender=LENDER, url=receiver.url)
    receiver.secret = parse_secret(secret)
    assert row.id is not None
    return row.id


def test_each_reminder_is_delivered_signed_once(
    tmp_path: Path, clock: Clock, receiver: WebhookReceiver
) -> None:
    service = _service(f"sqlite:///{tmp_path / 'w.db'}", clock)
    hook = _register(service, receiver)
    events = _events(3)
    assert service.record_reminders(events) == 3
    assert service.record_reminders(events) == 0  # re-read from the chain: no duplicates
    assert service.deliver_due().delivered == 3
    assert service.deliver_due().delivered == 0
    assert receiver.received.rejected == 0
    assert [p["idempotency_key"] for p in receiver.received.accepted] == [
        e.idempotency_key for e in events
    ]
    log = service.deliveries(hook)
    assert [(d.status, d.attempts) for d, _ in log] == [("delivered", 1)] * 3


def test_receiver_down_then_up_gets_every_reminder_once_by_key(
    tmp_path: Path, clock: Clock
) -> None:
    service = _service(f"sqlite:///{tmp_path / 'w.db'}", clock)
    first = WebhookReceiver(clock=clock)
    port = first.port
    _register(service, first)
    secret = first.secret
    first.close()  # down: connection refused
    service.record_reminders(_events(4))
    assert service.deliver_due().retried == 4
    clock.now += 1  # backoff is 2 s: nothing is due yet
    assert service.deliver_due() == type(service.deliver_due())()
    clock.now += 1
    assert service.deliver_due().retried == 4  # second failure: next in 4 s
    with WebhookReceiver(port=port, clock=clock) as again:  # up
        again.secret = secret
        again.answer_after_processing = 500  # processes, but the acknowledgement is lost
        clock.now += 4
        assert service.deliver_due().retried == 4
        again.answer_after_processing = None
        clock.now += 8
        assert service.deliver_due().delivered == 4
        keys = [p["idempotency_key"] for p in again.received.accepted]
        assert len(keys) == len(set(keys)) == 4
        assert again.received.duplicates == 4


def test_delivery_is_dead_after_max_attempts_with_the_last_error(
    tmp_path: Path, clock: Clock, receiver: WebhookReceiver
) -> None:
    service = _service(f"sqlite:///{tmp_path / 'w.db'}", clock, max_attempts=3)
    hook = _register(service, receiver)
    receiver.secret = b"wrong secret, so every delivery is refused with 401"
    service.record_reminders(_events(1))
    outcomes = []
    for _ in range(3):
        outcomes.append(service.deliver_due())
        clock.now += 60
    assert [o.dead for o in outcomes] == [0, 0, 1]
    ((delivery, _reminder),) = service.deliveries(hook)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("dead", 3, 401)
    assert delivery.last_error == "HTTP 401"
    clock.now += 3600
    assert service.deliver_due().dead == 0  # dead stays dead


def test_pending_deliveries_survive_a_restart(
    tmp_path: Path, clock: Clock, receiver: WebhookReceiver
) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    before = _service(url, clock)
    _register(before, receiver)
    secret = receiver.secret
    receiver.secret = None  # refuses: the delivery stays pending
    before.record_reminders(_events(2))
    assert before.deliver_due().retried == 2
    after = _service(url, clock)  # a new process over the same database
    receiver.secret = secret
    clock.now += 2
    assert after.deliver_due().delivered == 2


def test_secrets_are_encrypted_at_rest(tmp_path: Path, clock: Clock) -> None:
    service = _service(f"sqlite:///{tmp_path / 'w.db'}", clock)
    _row, shown = service.register(lender=LENDER, url="https://lender.example/hook")
    secret = parse_secret(shown)
    with Session(_engine(service)) as session:
        stored = session.exec(select(WebhookRow)).one().secret_encrypted
    assert shown.removeprefix("whsec_") not in stored
    assert secret.hex() not in stored
    assert Fernet(KEY).decrypt(stored.encode()) == secret


@pytest.mark.parametrize(
    "url",
    ["ftp://x.example/h", "/relative", "https://user:pw@x.example/h", "https://" + "a" * 2050],
)
def test_bad_urls_are_refused(tmp_path: Path, clock: Clock, url: str) -> None:
    service = _service(f"sqlite:///{tmp_path / 'w.db'}", clock)
    with pytest.raises(InvalidInput):
        service.register(lender=LENDER, url=url)


def test_unknown_webhook_is_not_found(tmp_path: Path, clock: Clock) -> None:
    service = _service(f"sqlite:///{tmp_path / 'w.db'}", clock)
    with pytest.raises(NotFound):
        service.deliveries(999)


def test_only_the_lenders_own_webhooks_get_its_reminders(
    tmp_path: Path, clock: Clock, receiver: WebhookReceiver
) -> None:
    service = _service(f"sqlite:///{tmp_path / 'w.db'}", clock)
    _register(service, receiver)
    service.record_reminders(_events(2, lender="0x" + "2e" * 20))
    assert service.deliver_due().delivered == 0
    with Session(_engine(service)) as session:
        assert session.exec(select(DeliveryRow)).all() == []


@pytest.mark.postgres
def test_record_and_deliver_on_postgresql(
    postgres_url: str, clock: Clock, receiver: WebhookReceiver
) -> None:
    service = _service(postgres_url, clock)
    try:
        hook = _register(service, receiver)
        events = _events(3)
        assert service.record_reminders(events) == 3
        assert service.record_reminders(events) == 0
        assert service.deliver_due().delivered == 3
        assert len(service.deliveries(hook)) == 3
    finally:
        with _engine(service).begin() as conn:
            conn.execute(
                text("DELETE FROM deliveries; DELETE FROM reminders; DELETE FROM webhooks")
            )
