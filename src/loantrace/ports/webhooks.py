"""What the webhook use cases need from storage: plain records, a repository, a unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from loantrace.ports import UnitOfWork


@dataclass(frozen=True)
class Webhook:
    """A lender's endpoint for reminder deliveries (the secret stays in storage, encrypted)."""

    id: int
    lender: str
    url: str
    active: bool
    created_at: datetime


@dataclass(frozen=True)
class Secrets:
    """A webhook's encrypted signing secret, and the previous one while a rotation lasts."""

    current: str
    previous: str | None = None
    previous_until: datetime | None = None


@dataclass(frozen=True)
class Reminder:
    """A `ReminderRaised` event recorded once, with the payload delivered for it."""

    id: int
    chain_id: int
    tx_hash: str
    log_index: int
    block_number: int
    loan_id: str
    lender: str
    instalment: int
    stage: int
    stage_name: str
    due_at: int
    amount_due: int
    days_past_due: int
    idempotency_key: str
    payload_json: str


@dataclass(frozen=True)
class Delivery:
    """One reminder to one webhook: pending until delivered, or dead after N failures."""

    id: int
    webhook_id: int
    reminder_id: int
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


@dataclass(frozen=True)
class Attempt:
    """The outcome of one delivery attempt, to be saved."""

    status: str
    status_code: int | None
    error: str | None
    at: datetime
    next_attempt_at: datetime | None


class WebhookRepository(Protocol):
    """Webhooks, reminders and deliveries, read and written inside one unit of work."""

    def add_webhook(
        self, *, lender: str, url: str, secret_encrypted: str, at: datetime
    ) -> Webhook: ...

    def webhook(self, webhook_id: int) -> Webhook | None: ...

    def secret_of(self, webhook_id: int) -> str: ...

    def secrets_of(self, webhook_id: int) -> Secrets: ...

    def rotate(self, webhook_id: int, secrets: Secrets) -> None: ...

    def deactivate(self, webhook_id: int) -> None: ...

    def webhooks_of(self, lender: str) -> list[Webhook]: ...

    def active_webhooks(self, lender: str) -> list[Webhook]: ...

    def known_reminders(self, keys: Sequence[str]) -> set[str]: ...

    def add_reminder(self, reminder: Reminder, at: datetime) -> int: ...

    def add_delivery(
        self, *, webhook_id: int, reminder_id: int, idempotency_key: str, at: datetime
    ) -> None: ...

    def due(self, now: datetime, limit: int) -> list[tuple[Delivery, Reminder, Webhook]]: ...

    def save_attempt(self, delivery_id: int, attempt: Attempt) -> Delivery: ...

    def deliveries(
        self, webhook_id: int, *, limit: int, offset: int
    ) -> list[tuple[Delivery, Reminder]]: ...

    def reminders_of(self, loan_id: str) -> list[Reminder]: ...


class WebhookUnitOfWork(UnitOfWork, Protocol):
    """One transaction: everything done through `webhooks` commits together or not at all."""

    @property
    def webhooks(self) -> WebhookRepository:
        """The repository bound to this unit of work's transaction."""
        ...
