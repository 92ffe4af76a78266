"""SQL implementation of the webhook repository and its unit of work."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loantrace.ports.webhooks import Attempt, Delivery, Reminder, Secrets, Webhook
from loantrace.store.models import DeliveryRow, ReminderRow, WebhookRow
from loantrace.store.records import record_of
from loantrace.store.uow import SqlUnitOfWork, outside


class SqlWebhookRepository:
    """Webhooks, reminders and deliveries in the service's database."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add_webhook(self, *, lender: str, url: str, secret_encrypted: str, at: datetime) -> Webhook:
        """Insert a webhook and return it with its id."""
        row = WebhookRow(lender=lender, url=url, secret_encrypted=secret_encrypted, created_at=at)
        self._session.add(row)
        self._session.flush()
        return record_of(Webhook, row)

    def webhook(self, webhook_id: int) -> Webhook | None:
        """Return a webhook by id."""
        row = self._session.get(WebhookRow, webhook_id)
        return None if row is None else record_of(Webhook, row)

    def secret_of(self, webhook_id: int) -> str:
        """Return a webhook's encrypted secret."""
        row = self._session.get(WebhookRow, webhook_id)
        if row is None:
            raise KeyError(webhook_id)
        return row.secret_encrypted

    def secrets_of(self, webhook_id: int) -> Secrets:
        """Return a webhook's encrypted secrets."""
        row = self._session.get(WebhookRow, webhook_id)
        if row is None:
            raise KeyError(webhook_id)
        return Secrets(row.secret_encrypted, row.previous_secret_encrypted, row.previous_until)

    def rotate(self, webhook_id: int, secrets: Secrets) -> None:
        """Store a new current secret and the previous one with its end."""
        row = self._session.get(WebhookRow, webhook_id)
        if row is None:
            raise KeyError(webhook_id)
        row.secret_encrypted = secrets.current
        row.previous_secret_encrypted = secrets.previous
        row.previous_until = secrets.previous_until
        self._session.add(row)
        self._session.flush()

    def deactivate(self, webhook_id: int) -> None:
        """Stop deliveries to a webhook (its delivery log stays)."""
        row = self._session.get(WebhookRow, webhook_id)
        if row is not None and row.active:
            row.active = False
            self._session.add(row)
            self._session.flush()

    def webhooks_of(self, lender: str) -> list[Webhook]:
        """Return a lender's active webhooks, oldest first."""
        query = (
            select(WebhookRow)
            .where(WebhookRow.lender == lender, col(WebhookRow.active))
            .order_by(col(WebhookRow.id))
        )
        return [record_of(Webhook, r) for r in self._session.exec(query).all()]

    def active_webhooks(self, lender: str) -> list[Webhook]:
        """Return a lender's active webhooks."""
        query = select(WebhookRow).where(WebhookRow.lender == lender, col(WebhookRow.active))
        return [record_of(Webhook, r) for r in self._session.exec(query).all()]

    def known_reminders(self, keys: Sequence[str]) -> set[str]:
        """Return which of `keys` are recorded already."""
        query = select(ReminderRow.idempotency_key).where(
            col(ReminderRow.idempotency_key).in_(list(keys))
        )
        return set(self._session.exec(query).all())

    def add_reminder(self, reminder: Reminder, at: datetime) -> int:
        """Insert a reminder; return its id."""
        fields = {k: v for k, v in vars(reminder).items() if k != "id"}
        row = ReminderRow(**fields, created_at=at)
        self._session.add(row)
        self._session.flush()
        assert row.id is not None
        return row.id

    def add_delivery(
        self, *, webhook_id: int, reminder_id: int, idempotency_key: str, at: datetime
    ) -> None:
        """Queue one delivery, due at `at`."""
        self._session.add(
            DeliveryRow(
                webhook_id=webhook_id,
                reminder_id=reminder_id,
                idempotency_key=idempotency_key,
                next_attempt_at=at,
            )
        )

    def due(self, now: datetime, limit: int) -> list[tuple[Delivery, Reminder, Webhook]]:
        """Return pending deliveries due by `now`, oldest first."""
        rows = self._session.exec(
            select(DeliveryRow, ReminderRow, WebhookRow)
            .join(ReminderRow, col(DeliveryRow.reminder_id) == col(ReminderRow.id))
            .join(WebhookRow, col(DeliveryRow.webhook_id) == col(WebhookRow.id))
            .where(DeliveryRow.status == "pending")
            .where(col(DeliveryRow.next_attempt_at) <= now)
            .order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id))
            .limit(limit)
        ).all()
        return [
            (record_of(Delivery, d), record_of(Reminder, r), record_of(Webhook, w))
            for d, r, w in rows
        ]

    def save_attempt(self, delivery_id: int, attempt: Attempt) -> Delivery:
        """Count an attempt and store its outcome."""
        row = self._session.get(DeliveryRow, delivery_id)
        if row is None:
            raise KeyError(delivery_id)
        row.attempts += 1
        row.status = attempt.status
        row.last_status_code = attempt.status_code
        row.last_error = attempt.error
        row.updated_at = attempt.at
        if attempt.status == "delivered":
            row.delivered_at = attempt.at
        if attempt.next_attempt_at is not None:
            row.next_attempt_at = attempt.next_attempt_at
        self._session.add(row)
        self._session.flush()
        return record_of(Delivery, row)

    def deliveries(
        self, webhook_id: int, *, limit: int, offset: int
    ) -> list[tuple[Delivery, Reminder]]:
        """Return a webhook's delivery log, oldest first."""
        rows = self._session.exec(
            select(DeliveryRow, ReminderRow)
            .join(ReminderRow, col(DeliveryRow.reminder_id) == col(ReminderRow.id))
            .where(DeliveryRow.webhook_id == webhook_id)
            .order_by(col(DeliveryRow.id))
            .offset(offset)
            .limit(limit)
        ).all()
        return [(record_of(Delivery, d), record_of(Reminder, r)) for d, r in rows]

    def reminders_of(self, loan_id: str) -> list[Reminder]:
        """Return a loan's reminders in chain order."""
        rows = self._session.exec(
            select(ReminderRow)
            .where(ReminderRow.loan_id == loan_id)
            .order_by(col(ReminderRow.block_number), col(ReminderRow.log_index))
        ).all()
        return [record_of(Reminder, r) for r in rows]


class SqlWebhookUnitOfWork(SqlUnitOfWork):
    """One database transaction around a webhook repository: commit on success."""

    _repository: SqlWebhookRepository | None = None

    @classmethod
    def factory(cls, engine: Engine) -> Callable[[], SqlWebhookUnitOfWork]:
        """Return a function that opens a fresh unit of work on `engine`."""
        return lambda: cls(engine)

    @property
    def webhooks(self) -> SqlWebhookRepository:
        """The repository of the open transaction."""
        if self._repository is None:
            raise outside("webhooks")
        return self._repository

    def _open(self, session: Session) -> None:
        self._repository = SqlWebhookRepository(session)

    def _close(self) -> None:
        self._repository = None
