"""Webhook payloads, signatures and retry timing (pure; no I/O).

Deliveries are signed per the Standard Webhooks specification (`webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`) with its maintained
library, so a lender verifies them with any Standard Webhooks client. The message id is the
reminder's idempotency key: retries and re-deliveries keep it, receivers process it once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from standardwebhooks.webhooks import Webhook

from loantrace.domain.errors import InvalidInput

SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret


@dataclass(frozen=True)
class ReminderEvent:
    """A `ReminderRaised` event of the ledger, as delivered to a lender's webhook."""

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

    @property
    def idempotency_key(self) -> str:
        """Return the key identifying this reminder wherever it is delivered.

        A stage is raised once per instalment, so the key names (chain, loan, instalment,
        stage): the same reminder mined again after a reorganisation keeps its key.
        """
        return idempotency_key(self.chain_id, self.loan_id, self.instalment, self.stage)

    def to_payload(self) -> dict[str, Any]:
        """Return the JSON body of the delivery (no personal data exists in it)."""
        return {"event": "reminder.raised", "idempotency_key": self.idempotency_key} | asdict(self)


def idempotency_key(chain_id: int, loan_id: str, instalment: int, stage: int) -> str:
    """Return hex SHA-256 of "<chain id>:<loan id>:<instalment>:<stage>"."""
    return hashlib.sha256(f"{chain_id}:{loan_id.lower()}:{instalment}:{stage}".encode()).hexdigest()


def new_secret() -> bytes:
    """Return a fresh 32-byte signing secret."""
    return secrets.token_bytes(32)


def show_secret(secret: bytes) -> str:
    """Return the secret as the lender sees it once: "whsec_<base64>" (Standard Webhooks)."""
    return SECRET_PREFIX + base64.b64encode(secret).decode()


def parse_secret(text: str) -> bytes:
    """Return the bytes of a "whsec_<base64>" secret."""
    try:
        secret = base64.b64decode(text.removeprefix(SECRET_PREFIX), validate=True)
    except (ValueError, binascii.Error):
        raise InvalidInput("a webhook secret looks like whsec_<base64>") from None
    if len(secret) < 24:
        raise InvalidInput("a webhook secret holds at least 24 bytes")
    return secret


def signature_headers(
    secrets_in_force: Sequence[bytes], message_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    """Return the Standard Webhooks headers signing `body` with every secret in force.

    During a secret rotation two secrets are in force; `webhook-signature` then carries one
    `v1,<base64>` signature per secret, space-separated, and a receiver accepts the message
    if any of them verifies with the secret it knows.
    """
    if not secrets_in_force:
        raise InvalidInput("a webhook needs a secret to sign with")
    moment = datetime.fromtimestamp(timestamp, UTC)
    payload = body.decode()
    signatures = [Webhook(key).sign(message_id, moment, payload) for key in secrets_in_force]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Return the wait before retry `attempt` (1 = first retry): base * 2**(attempt-1), capped."""
    if attempt < 1:
        raise InvalidInput("attempt starts at 1")
    return float(min(cap, base * 2 ** (attempt - 1)))
