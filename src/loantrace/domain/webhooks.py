"""Webhook payloads, signatures and retry timing (pure; no I/O).

Signatures follow the widely used scheme `Loantrace-Signature: t=<unix seconds>,v1=<hex>`
where v1 = HMAC-SHA256(secret, "<t>." + body). Receivers recompute it, reject timestamps
outside a tolerance (replays), and process each `Idempotency-Key` once (at-least-once).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import asdict, dataclass
from typing import Any

from loantrace.domain.errors import InvalidInput

SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret
SIGNATURE_HEADER = "Loantrace-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


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
    """Return the secret as the lender sees it once: "whsec_<hex>"."""
    return SECRET_PREFIX + secret.hex()


def parse_secret(text: str) -> bytes:
    """Return the bytes of a "whsec_<hex>" secret."""
    try:
        return bytes.fromhex(text.removeprefix(SECRET_PREFIX))
    except ValueError:
        raise InvalidInput("a webhook secret looks like whsec_<64 hex digits>") from None


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """Return the `Loantrace-Signature` header value for `body` sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(
    secret: bytes,
    header: str,
    body: bytes,
    *,
    now: int,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """Return whether `header` signs `body` with `secret` at a time within `tolerance`."""
    fields: dict[str, str] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or key in fields:
            return False
        fields[key] = value
    timestamp, signature = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit() or not signature:
        return False
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = sign(secret, int(timestamp), body).partition("v1=")[2]
    return hmac.compare_digest(expected, signature)


def backoff_delay(attempt: int, *, base: float, cap: float) -> float:
    """Return the wait before retry `attempt` (1 = first retry): base * 2**(attempt-1), capped."""
    if attempt < 1:
        raise InvalidInput("attempt starts at 1")
    return float(min(cap, base * 2 ** (attempt - 1)))
