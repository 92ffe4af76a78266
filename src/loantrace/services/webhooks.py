"""Deliver reminders to lenders' webhooks: signed, retried with backoff, at least once."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from cryptography.fernet import Fernet
from eth_utils.address import to_checksum_address

from loantrace.domain.egress import AllowList, refused
from loantrace.domain.errors import InvalidInput, NotFound
from loantrace.domain.hexcodec import parse_address
from loantrace.domain.webhooks import (
    ReminderEvent,
    backoff_delay,
    new_secret,
    show_secret,
    signature_headers,
)
from loantrace.ports.webhooks import (
    Attempt,
    Delivery,
    Reminder,
    Secrets,
    Webhook,
    WebhookUnitOfWork,
)

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2048


@dataclass(frozen=True)
class DeliveryStats:
    """Outcome counts of one delivery pass."""

    delivered: int = 0
    retried: int = 0
    dead: int = 0


class WebhookService:
    """Register webhooks, record reminders, and deliver them with retries.

    Storage is reached only through a unit of work (`uow()` opens one transaction), so the
    use cases run the same on SQL and on an in-memory fake.
    """

    def __init__(
        self,
        *,
        uow: Callable[[], WebhookUnitOfWork],
        fernet_key: bytes,
        max_attempts: int,
        backoff_seconds: float,
        backoff_max_seconds: float,
        timeout_seconds: float,
        client: httpx.Client | None = None,
        clock: Callable[[], float] = time.time,
        allow: AllowList = AllowList(),
        resolve: Callable[[str], list[str]] | None = None,
        rotation_seconds: float = 86_400.0,
    ) -> None:
        self._uow = uow
        self._allow = allow
        self._resolve = resolve or _resolve
        self._rotation = timedelta(seconds=rotation_seconds)
        self._fernet = Fernet(fernet_key)
        self._max_attempts = max_attempts
        self._backoff = backoff_seconds
        self._backoff_max = backoff_max_seconds
        self._client = client or httpx.Client(timeout=timeout_seconds, follow_redirects=False)
        self._clock = clock

    def register(self, *, lender: str, url: str) -> tuple[Webhook, str]:
        """Register `url` for `lender`; return the webhook and its secret (shown this once)."""
        lender = parse_address(lender, field="lender")
        _check_url(url)
        reason = self._refused(url, unresolved_ok=True)  # checked again at each delivery
        if reason is not None:
            raise InvalidInput(f"url refused: {reason}")
        secret = new_secret()
        with self._uow() as uow:
            hook = uow.webhooks.add_webhook(
                lender=lender,
                url=url,
                secret_encrypted=self._fernet.encrypt(secret).decode(),
                at=self._now(),
            )
        log.info("webhook %s registered for lender %s", hook.id, lender)
        return hook, show_secret(secret)

    def get(self, webhook_id: int) -> Webhook:
        """Return a webhook, or raise NotFound."""
        with self._uow() as uow:
            hook = uow.webhooks.webhook(webhook_id)
        if hook is None:
            raise NotFound(f"no webhook {webhook_id}")
        return hook

    def webhooks_of(self, lender: str) -> list[Webhook]:
        """Return a lender's active webhooks."""
        with self._uow() as uow:
            return uow.webhooks.webhooks_of(parse_address(lender, field="lender"))

    def delete(self, webhook_id: int) -> Webhook:
        """Stop deliveries to a webhook; its delivery log stays readable."""
        with self._uow() as uow:
            hook = uow.webhooks.webhook(webhook_id)
            if hook is None:
                raise NotFound(f"no webhook {webhook_id}")
            uow.webhooks.deactivate(webhook_id)
        log.info("webhook %s deleted", webhook_id)
        return hook

    def rotate_secret(self, webhook_id: int) -> tuple[Webhook, str, datetime]:
        """Give a webhook a new secret (shown once); the old one also signs until the
        returned time, so the lender can switch its receiver without losing a delivery."""
        secret = new_secret()
        until = self._now() + self._rotation
        with self._uow() as uow:
            hook = uow.webhooks.webhook(webhook_id)
            if hook is None or not hook.active:
                raise NotFound(f"no webhook {webhook_id}")
            old = uow.webhooks.secrets_of(webhook_id)
            fresh = Secrets(self._fernet.encrypt(secret).decode(), old.current, until)
            uow.webhooks.rotate(webhook_id, fresh)
        log.info("webhook %s secret rotated; the previous one signs until %s", webhook_id, until)
        return hook, show_secret(secret), until

    def record_reminders(self, events: Sequence[ReminderEvent]) -> int:
        """Record new reminders and queue a delivery per active webhook; skip known ones.

        All of it is one unit of work: the reminders and their deliveries commit together.
        """
        if not events:
            return 0
        new = 0
        with self._uow() as uow:
            known = uow.webhooks.known_reminders([e.idempotency_key for e in events])
            hooks: dict[str, list[Webhook]] = {}
            for event in events:
                if event.idempotency_key in known:
                    continue
                known.add(event.idempotency_key)
                reminder_id = uow.webhooks.add_reminder(_reminder(event), self._now())
                lender = to_checksum_address(event.lender)
                if lender not in hooks:
                    hooks[lender] = uow.webhooks.active_webhooks(lender)
                for hook in hooks[lender]:
                    uow.webhooks.add_delivery(
                        webhook_id=hook.id,
                        reminder_id=reminder_id,
                        idempotency_key=event.idempotency_key,
                        at=self._now(),
                    )
                new += 1
        return new

    def deliver_due(self, *, limit: int = 100) -> DeliveryStats:
        """Attempt the pending deliveries that are due (no transaction is held over HTTP)."""
        with self._uow() as uow:
            due = uow.webhooks.due(self._now(), limit)
        delivered = retried = dead = 0
        for delivery, reminder, hook in due:
            outcome = self._attempt(delivery, reminder, hook)
            delivered += outcome == "delivered"
            retried += outcome == "pending"
            dead += outcome == "dead"
        return DeliveryStats(delivered, retried, dead)

    def deliveries(
        self, webhook_id: int, *, limit: int = 100, offset: int = 0
    ) -> list[tuple[Delivery, Reminder]]:
        """Return the delivery log of a webhook, oldest first."""
        self.get(webhook_id)
        with self._uow() as uow:
            return uow.webhooks.deliveries(webhook_id, limit=limit, offset=offset)

    def reminders_of(self, loan_id: str) -> list[Reminder]:
        """Return every reminder recorded for a loan, in chain order."""
        with self._uow() as uow:
            return uow.webhooks.reminders_of(loan_id)

    def _attempt(self, delivery: Delivery, reminder: Reminder, hook: Webhook) -> str:
        body = reminder.payload_json.encode()
        with self._uow() as uow:
            stored = uow.webhooks.secrets_of(hook.id)
        keys = [self._fernet.decrypt(stored.current.encode())]
        previous, until = stored.previous, stored.previous_until
        if previous is not None and until is not None and _aware(until) > self._now():
            keys.append(self._fernet.decrypt(previous.encode()))  # a rotation: both sign
        headers = {
            "Content-Type": "application/json",
            **signature_headers(keys, reminder.idempotency_key, int(self._clock()), body),
            "Idempotency-Key": reminder.idempotency_key,
            "Loantrace-Event": "reminder.raised",
            "User-Agent": "loantrace-webhooks/1",
        }
        status_code: int | None = None
        error = self._refused(hook.url)  # resolved again now: DNS may have changed
        if error is None:
            try:
                response = self._client.post(hook.url, content=body, headers=headers)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
        else:
            error = f"refused: {error}"[:500]
        attempts = delivery.attempts + 1
        now, retry_at = self._now(), None
        if error is None:
            outcome = "delivered"
        elif attempts >= self._max_attempts:
            outcome = "dead"
        else:
            outcome = "pending"
            delay = backoff_delay(attempts, base=self._backoff, cap=self._backoff_max)
            retry_at = now + timedelta(seconds=delay)
        with self._uow() as uow:
            uow.webhooks.save_attempt(
                delivery.id, Attempt(outcome, status_code, error, now, retry_at)
            )
        log.info(
            "delivery %s to webhook %s: %s (attempt %s)%s",
            delivery.id,
            hook.id,
            outcome,
            attempts,
            f", {error}" if error else "",
        )
        return outcome

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    def _refused(self, url: str, *, unresolved_ok: bool = False) -> str | None:
        """Return why `url`'s host may not be called (after resolving it), or None."""
        host = urlsplit(url).hostname or ""
        if self._allow.allows_host(host):
            return None
        try:
            addresses = self._resolve(host)
        except OSError as exc:
            return None if unresolved_ok else f"{host} does not resolve ({exc})"
        return refused(host, addresses, self._allow)


def _resolve(host: str) -> list[str]:
    """Return every address `host` resolves to (an IP literal resolves to itself)."""
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _reminder(event: ReminderEvent) -> Reminder:
    return Reminder(
        id=0,  # assigned when stored
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
    )


def _check_url(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url must be at most {MAX_URL_LENGTH} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an absolute http(s) URL with a host")
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials; the signature authenticates us")
