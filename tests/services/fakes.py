"""In-memory fakes of the storage ports, so a use case can be tested without a database."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Self

from loantrace.ports.webhooks import Attempt, Delivery, Reminder, Webhook


@dataclass
class WebhookTables:
    """The committed state of the fake store."""

    webhooks: dict[int, tuple[Webhook, str]] = field(default_factory=dict)
    reminders: dict[int, Reminder] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    next_id: int = 1


class FakeWebhookRepository:
    """The repository over a working copy of the tables."""

    def __init__(self, tables: WebhookTables, fail_on: str | None = None) -> None:
        self.tables = tables
        self._fail_on = fail_on

    def _id(self) -> int:
        self.tables.next_id += 1
        return self.tables.next_id - 1

    def add_webhook(self, *, lender: str, url: str, secret_encrypted: str, at: datetime) -> Webhook:
        hook = Webhook(self._id(), lender, url, True, at)
        self.tables.webhooks[hook.id] = (hook, secret_encrypted)
        return hook

    def webhook(self, webhook_id: int) -> Webhook | None:
        found = self.tables.webhooks.get(webhook_id)
        return None if found is None else found[0]

    def secret_of(self, webhook_id: int) -> str:
        return self.tables.webhooks[webhook_id][1]

    def active_webhooks(self, lender: str) -> list[Webhook]:
        return [h for h, _ in self.tables.webhooks.values() if h.lender == lender and h.active]

    def known_reminders(self, keys: Sequence[str]) -> set[str]:
        recorded = {r.idempotency_key for r in self.tables.reminders.values()}
        return recorded & set(keys)

    def add_reminder(self, reminder: Reminder, at: datetime) -> int:
        stored = replace(reminder, id=self._id())
        self.tables.reminders[stored.id] = stored
        return stored.id

    def add_delivery(
        self, *, webhook_id: int, reminder_id: int, idempotency_key: str, at: datetime
    ) -> None:
        if self._fail_on == "add_delivery":
            raise OSError("the store failed half-way")
        delivery = Delivery(
            self._id(), webhook_id, reminder_id, idempotency_key, "pending", 0, at, None, None, None
        )
        self.tables.deliveries[delivery.id] = delivery

    def due(self, now: datetime, limit: int) -> list[tuple[Delivery, Reminder, Webhook]]:
        pending = sorted(
            (d for d in self.tables.deliveries.values() if d.status == "pending"),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        return [
            (d, self.tables.reminders[d.reminder_id], self.tables.webhooks[d.webhook_id][0])
            for d in pending
            if d.next_attempt_at <= now
        ][:limit]

    def save_attempt(self, delivery_id: int, attempt: Attempt) -> Delivery:
        old = self.tables.deliveries[delivery_id]
        new = replace(
            old,
            attempts=old.attempts + 1,
            status=attempt.status,
            last_status_code=attempt.status_code,
            last_error=attempt.error,
            delivered_at=attempt.at if attempt.status == "delivered" else old.delivered_at,
            next_attempt_at=attempt.next_attempt_at or old.next_attempt_at,
        )
        self.tables.deliveries[delivery_id] = new
        return new

    def deliveries(
        self, webhook_id: int, *, limit: int, offset: int
    ) -> list[tuple[Delivery, Reminder]]:
        mine = [d for d in sorted(self.tables.deliveries.values(), key=lambda d: d.id)]
        picked = [d for d in mine if d.webhook_id == webhook_id][offset : offset + limit]
        return [(d, self.tables.reminders[d.reminder_id]) for d in picked]

    def reminders_of(self, loan_id: str) -> list[Reminder]:
        found = [r for r in self.tables.reminders.values() if r.loan_id == loan_id]
        return sorted(found, key=lambda r: (r.block_number, r.log_index))


class FakeWebhookUnitOfWork:
    """Works on a copy of the tables; commits by swapping it in, so a failure changes nothing."""

    def __init__(self, store: FakeStore) -> None:
        self._store = store
        self._repository: FakeWebhookRepository | None = None

    @property
    def webhooks(self) -> FakeWebhookRepository:
        assert self._repository is not None
        return self._repository

    def __enter__(self) -> Self:
        working = copy.deepcopy(self._store.tables)
        self._repository = FakeWebhookRepository(working, self._store.fail_on)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and self._repository is not None:
            self._store.tables = self._repository.tables
            self._store.commits += 1
        self._repository = None


@dataclass
class FakeStore:
    """The fake database: its tables, a commit counter and an optional injected failure."""

    tables: WebhookTables = field(default_factory=WebhookTables)
    commits: int = 0
    fail_on: str | None = None

    def uow(self) -> FakeWebhookUnitOfWork:
        return FakeWebhookUnitOfWork(self)
