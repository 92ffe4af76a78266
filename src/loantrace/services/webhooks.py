"""Deliver reminders to lenders' webhooks: signed, retried with backoff, at least once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet
from eth_utils.address import to_checksum_address
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loantrace.domain.errors import InvalidInput, NotFound
from loantrace.domain.hexcodec import parse_address
from loantrace.domain.webhooks import (
    ReminderEvent,
    backoff_delay,
    new_secret,
    show_secret,
    sign,
)
from loantrace.store.db import session_scope
from loantrace.store.models import DeliveryRow, ReminderRow, WebhookRow, utcnow

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class DeliveryStats:
    """Outcome counts of one delivery pass."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0


class WebhookService:
    """Register webhooks, record reminders, and deliver them with retries."""

    def __init__(
        self,
        *,
        engine: Engine,
        fernet_key: bytes,
        max_attempts: int,
        backoff_seconds: float,
        backoff_max_seconds: float,
        timeout_seconds: float,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._engine = engine
        self._fernet = Fernet(fernet_key)
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._backoff_max = backoff_max_seconds
        self._client = client or httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._clock = clock

    def register(self, *, lender: str, url: str) -> tuple[WebhookRow, str]:
        """Register `url` for `lender`; return the row and the secret (shown this once)."""
        lender = parse_address(lender, field="lender")
        _check_url(url)
        secret = new_secret()
        row = WebhookRow(
            lender=lender,
            url=url,
            secret_encrypted=self._fernet.encrypt(secret).decode(),
            created_at=self._now(),
        )
        with session_scope(self._engine) as session:
            session.add(row)
            session.flush()
            session.refresh(row)
        log.info("webhook %s registered for lender %s", row.id, lender)
        return row, show_secret(secret)

    def get(self, webhook_id: int) -> WebhookRow:
        """Return a webhook, or raise NotFound."""
        with Session(self._engine) as session:
            row = session.get(WebhookRow, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        return row

    def record_reminders(self, events: Sequence[ReminderEvent]) -> int:
        """Record new reminders and queue a delivery per active webhook; skip known ones."""
        if not events:
            return 0
        new = 0
        with session_scope(self._engine) as session:
            keys = [e.idempotency_key for e in events]
            known = set(
                session.exec(
                    select(ReminderRow.idempotency_key).where(
                        col(ReminderRow.idempotency_key).in_(keys)
                    )
                ).all()
            )
            hooks: dict[str, list[WebhookRow]] = {}
            for event in events:
                if event.idempotency_key in known:
                    continue
                known.add(event.idempotency_key)
                reminder = _reminder_row(event)
                session.add(reminder)
                session.flush()
                assert reminder.id is not None
                lender = to_checksum_address(event.lender)
                if lender not in hooks:
                    hooks[lender] = list(
                        session.exec(
                            select(WebhookRow).where(
                                WebhookRow.lender == lender, col(WebhookRow.active)
                            )
                        ).all()
                    )
                for hook in hooks[lender]:
                    assert hook.id is not None
                    session.add(
                        DeliveryRow(
                            webhook_id=hook.id,
                            reminder_id=reminder.id,
                            idempotency_key=event.idempotency_key,
                            next_attempt_at=self._now(),
                        )
                    )
                new += 1
        return new

    def deliver_due(self, *, limit: int = 100) -> DeliveryStats:
        """Attempt the pending deliveries that are due (no transaction is held over HTTP)."""
        with Session(self._engine) as session:
            due = session.exec(
                select(DeliveryRow, ReminderRow, WebhookRow)
                .join(ReminderRow, col(DeliveryRow.reminder_id) == col(ReminderRow.id))
                .join(WebhookRow, col(DeliveryRow.webhook_id) == col(WebhookRow.id))
                .where(DeliveryRow.status == "pending")
                .where(col(DeliveryRow.next_attempt_at) <= self._now())
                .order_by(col(DeliveryRow.next_attempt_at), col(DeliveryRow.id))
                .limit(limit)
            ).all()
        delivered = retried = dead = 0
        for delivery, reminder, hook in due:
            outcome = self._attempt(delivery, reminder, hook)
            delivered += outcome == "delivered"
            retried += outcome == "pending"
            dead += outcome == "dead"
        return DeliveryStats(delivered, retried, dead)

    def deliveries(
        self, webhook_id: int, *, limit: int = 100, offset: int = 0
    ) -> list[tuple[DeliveryRow, ReminderRow]]:
        """Return the delivery log of a webhook, oldest first."""
        self.get(webhook_id)
        with Session(self._engine) as session:
            rows = session.exec(
                select(DeliveryRow, ReminderRow)
                .join(ReminderRow, col(DeliveryRow.reminder_id) == col(ReminderRow.id))
                .where(DeliveryRow.webhook_id == webhook_id)
                .order_by(col(DeliveryRow.id))
                .offset(offset)
                .limit(limit)
            ).all()
        return [(d, r) for d, r in rows]

    def reminders_of(self, loan_id: str) -> list[ReminderRow]:
        """Return every reminder recorded for a loan, in chain order."""
        with Session(self._engine) as session:
            return list(
                session.exec(
                    select(ReminderRow)
                    .where(ReminderRow.loan_id == loan_id)
                    .order_by(col(ReminderRow.block_number), col(ReminderRow.log_index))
                ).all()
            )

    def _attempt(self, delivery: DeliveryRow, reminder: ReminderRow, hook: WebhookRow) -> str:
        body = reminder.payload_json.encode()
        secret = self._fernet.decrypt(hook.secret_encrypted.encode())
        headers = {
            "Content-Type": "application/json",
            "Loantrace-Signature": sign(secret, int(self._clock()), body),
            "Idempotency-Key": reminder.idempotency_key,
            "Loantrace-Event": "reminder.raised",
            "User-Agent": "loantrace-webhooks/1",
        }
        status_code: int | None = None
        error: str | None = None
        try:
            response = self._client.post(hook.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        with session_scope(self._engine) as session:
            row = session.get(DeliveryRow, delivery.id)
            assert row is not None
            row.attempts += 1
            row.last_status_code = status_code
            row.last_error = error
            row.updated_at = self._now()
            if error is None:
                row.status = "delivered"
                row.delivered_at = self._now()
            elif row.attempts >= self._max_attempts:
                row.status = "dead"
            else:
                delay = backoff_delay(row.attempts, base=self._backoff, cap=self._backoff_max)
                row.next_attempt_at = self._now() + timedelta(seconds=delay)
            session.add(row)
            outcome = row.status
        log.info(
            "delivery %s to webhook %s: %s (attempt %s)%s",
            delivery.id,
            hook.id,
            outcome,
            delivery.attempts + 1,
            f", {error}" if error else "",
        )
        return outcome

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


def _reminder_row(event: ReminderEvent) -> ReminderRow:
    return ReminderRow(
        chain_id=event.chain_id,
        tx_hash=event.tx_hash.lower(),
        log_index=event.log_index,
        block_number=event.block_number,
        loan_id=event.loan_id.lower(),
        lender=event.lender,
        instalment=event.instalment,
        stage=event.stage,
        stage_name=event.stage_name,
        due_at=event.due_at,
        amount_due=event.amount_due,
        days_past_due=event.days_past_due,
        idempotency_key=event.idempotency_key,
        payload_json=json.dumps(event.to_payload(), sort_keys=True, separators=(",", ":")),
        created_at=utcnow(),
    )


def _check_url(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url must be at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http(s) URL with a host")
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials; the signature authenticates us")
