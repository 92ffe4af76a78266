"""The webhook use cases over in-memory fakes of their storage port: no database needed."""

from __future__ import annotations

import httpx
import pytest
from cryptography.fernet import Fernet

from loantrace.domain.errors import InvalidInput, NotFound
from loantrace.domain.webhooks import ReminderEvent
from loantrace.services.webhooks import DeliveryStats, WebhookService
from tests.services.fakes import FakeStore

LENDER = "0x" + "1d" * 20


def _event(n: int) -> ReminderEvent:
    return ReminderEvent(
        chain_id=31337,
        tx_hash="0x" + f"{n:064x}",
        log_index=n,
        block_number=10 + n,
        loan_id="0x" + "ab" * 32,
        lender=LENDER,
        instalment=n,
        stage=2,
        stage_name="due",
        due_at=1_800_000_000,
        amount_due=12_345,
        days_past_due=0,
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _service(store: FakeStore, clock: Clock, replies: list[int]) -> WebhookService:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(replies.pop(0) if replies else 200)

    return WebhookService(
        uow=store.uow,
        fernet_key=Fernet.generate_key(),
        max_attempts=3,
        backoff_seconds=2,
        backoff_max_seconds=60,
        timeout_seconds=1,
        client=httpx.Client(transport=httpx.MockTransport(answer)),
        clock=clock,
        resolve=lambda host: ["93.184.216.34"],  # a public address, without DNS
    )


def test_reminders_are_recorded_once_and_retried_until_delivered() -> None:
    store, clock = FakeStore(), Clock()
    service = _service(store, clock, replies=[500, 503])
    hook, _secret = service.register(lender=LENDER, url="https://lender.example/hook")
    assert service.record_reminders([_event(1), _event(2)]) == 2
    assert service.record_reminders([_event(1)]) == 0  # the same event again: nothing new
    assert service.deliver_due() == DeliveryStats(delivered=0, retried=2)
    assert service.deliver_due() == DeliveryStats()  # backing off: nothing due yet
    clock.now += 60
    assert service.deliver_due() == DeliveryStats(delivered=2)
    log = service.deliveries(hook.id)
    assert [(d.status, d.attempts) for d, _ in log] == [("delivered", 2), ("delivered", 2)]
    assert [r.idempotency_key for r in service.reminders_of("0x" + "ab" * 32)] == [
        _event(1).idempotency_key,
        _event(2).idempotency_key,
    ]


def test_a_delivery_that_keeps_failing_is_dead_after_max_attempts() -> None:
    store, clock = FakeStore(), Clock()
    service = _service(store, clock, replies=[500, 500, 500])
    hook, _ = service.register(lender=LENDER, url="https://lender.example/hook")
    service.record_reminders([_event(1)])
    for _ in range(3):
        service.deliver_due()
        clock.now += 120
    ((delivery, _),) = service.deliveries(hook.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("dead", 3, 500)


def test_a_store_failure_half_way_records_nothing() -> None:
    store, clock = FakeStore(), Clock()
    service = _service(store, clock, replies=[])
    service.register(lender=LENDER, url="https://lender.example/hook")
    store.fail_on = "add_delivery"
    with pytest.raises(OSError, match="half-way"):
        service.record_reminders([_event(1)])
    assert store.tables.reminders == {}  # the reminder and its deliveries commit together
    store.fail_on = None
    assert service.record_reminders([_event(1)]) == 1


def test_a_host_that_resolves_to_a_private_address_is_refused_at_registration_and_delivery() -> (
    None
):
    store, clock, addresses = FakeStore(), Clock(), ["93.184.216.34"]
    service = _service(store, clock, replies=[])
    service._resolve = lambda host: list(addresses)  # DNS, as the test wants it
    hook, _ = service.register(lender=LENDER, url="https://rebind.example/hook")
    addresses[:] = ["169.254.169.254"]  # the name now points at cloud metadata
    with pytest.raises(InvalidInput, match="link-local"):
        service.register(lender=LENDER, url="https://rebind.example/other")
    service.record_reminders([_event(1)])
    assert service.deliver_due() == DeliveryStats(retried=1)  # refused, never sent
    ((delivery, _),) = service.deliveries(hook.id)
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("refused: rebind.example resolves to 169.254.169.254")


def test_after_a_rotation_both_secrets_sign_until_the_window_ends() -> None:
    store, clock, seen = FakeStore(), Clock(), []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["webhook-signature"].split(" "))
        return httpx.Response(200)

    service = WebhookService(
        uow=store.uow,
        fernet_key=Fernet.generate_key(),
        max_attempts=3,
        backoff_seconds=2,
        backoff_max_seconds=60,
        timeout_seconds=1,
        client=httpx.Client(transport=httpx.MockTransport(answer)),
        clock=clock,
        resolve=lambda host: ["93.184.216.34"],
        rotation_seconds=3600,
    )
    hook, first = service.register(lender=LENDER, url="https://lender.example/hook")
    _hook, second, until = service.rotate_secret(hook.id)
    assert second != first
    assert until.timestamp() == clock.now + 3600
    service.record_reminders([_event(1)])
    service.deliver_due()
    clock.now += 3601
    service.record_reminders([_event(2)])
    service.deliver_due()
    assert [len(signatures) for signatures in seen] == [2, 1]
    with pytest.raises(NotFound):
        service.rotate_secret(999)
    service.delete(hook.id)
    assert service.webhooks_of(LENDER) == []
    with pytest.raises(NotFound):
        service.rotate_secret(hook.id)
