"""Webhook routes: register an endpoint, read its delivery log, read a loan's reminders."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from loantrace.api.auth import LENDER, READERS, PrincipalDep, confine
from loantrace.api.chain_gate import ChainBound
from loantrace.api.deps import LoansDep
from loantrace.api.loan_routes import LoanIdPath, own_loan
from loantrace.api.patterns import EIP55, Address
from loantrace.domain.errors import Unauthorized
from loantrace.domain.hexcodec import parse_address
from loantrace.services.webhooks import WebhookService

router = APIRouter(tags=["webhooks"])


async def get_webhooks(request: Request) -> WebhookService:
    """Return the webhook service built at start-up."""
    return cast(WebhookService, request.app.state.webhooks)


WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]


class WebhookIn(BaseModel):
    """Where to deliver reminders for a lender."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, examples=["https://lender.example/hooks/loantrace"])
    lender: Address | None = Field(
        None, description=f"defaults to the caller's lender (no other is allowed); {EIP55}"
    )


class WebhookOut(BaseModel):
    """A registered webhook; `secret` appears only in the response that created it."""

    id: int
    lender: str
    url: str
    active: bool
    created_at: datetime
    secret: str | None = None


class DeliveryOut(BaseModel):
    """One attempt history of one reminder to one webhook."""

    id: int
    idempotency_key: str
    status: Literal["pending", "delivered", "dead"]
    attempts: int
    next_attempt_at: datetime
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    reminder: dict[str, Any]


class DeliveriesOut(BaseModel):
    """The delivery log of a webhook."""

    webhook_id: int
    deliveries: list[DeliveryOut]


class ReminderOut(BaseModel):
    """A reminder the ledger raised, with its on-chain evidence."""

    loan_id: str
    instalment: int
    stage: int
    stage_name: str
    due_at: int
    amount_due: int
    days_past_due: int
    chain_id: int
    tx_hash: str
    block_number: int
    log_index: int
    idempotency_key: str


@router.post("/v1/webhooks", status_code=201, dependencies=[LENDER])
def register_webhook(principal: PrincipalDep, webhooks: WebhooksDep, body: WebhookIn) -> WebhookOut:
    """Register a webhook for the caller's lender; the signing secret is returned once."""
    lender = principal.lender or ""
    if body.lender is not None and parse_address(body.lender, field="lender") != lender:
        raise Unauthorized("a lender key registers webhooks for its own lender only")
    row, secret = webhooks.register(lender=lender, url=body.url)
    return WebhookOut(
        id=row.id,
        lender=row.lender,
        url=row.url,
        active=row.active,
        created_at=row.created_at,
        secret=secret,
    )


WebhookIdPath = Annotated[int, Path(ge=1, le=2**31 - 1, description="the webhook's id")]


class WebhookListed(BaseModel):
    """A registered webhook (its secret is never shown again)."""

    id: int
    lender: str
    url: str
    active: bool
    created_at: datetime


class RotatedOut(BaseModel):
    """A webhook's new secret, shown once; the old one also signs until `previous_valid_until`."""

    id: int
    secret: str
    previous_valid_until: datetime


@router.get("/v1/webhooks", dependencies=[LENDER])
def list_webhooks(principal: PrincipalDep, webhooks: WebhooksDep) -> list[WebhookListed]:
    """The caller's active webhooks."""
    return [
        WebhookListed(id=h.id, lender=h.lender, url=h.url, active=h.active, created_at=h.created_at)
        for h in webhooks.webhooks_of(principal.lender or "")
    ]


@router.delete("/v1/webhooks/{webhook_id}", dependencies=[LENDER])
def delete_webhook(
    principal: PrincipalDep, webhooks: WebhooksDep, webhook_id: WebhookIdPath
) -> WebhookListed:
    """Stop deliveries to one of the caller's webhooks (its delivery log stays readable)."""
    confine(principal, webhooks.get(webhook_id).lender, f"webhook {webhook_id}")
    h = webhooks.delete(webhook_id)
    return WebhookListed(id=h.id, lender=h.lender, url=h.url, active=False, created_at=h.created_at)


@router.post("/v1/webhooks/{webhook_id}/rotate-secret", dependencies=[LENDER])
def rotate_webhook_secret(
    principal: PrincipalDep, webhooks: WebhooksDep, webhook_id: WebhookIdPath
) -> RotatedOut:
    """Give a webhook a new signing secret; both sign until the old one's window ends."""
    confine(principal, webhooks.get(webhook_id).lender, f"webhook {webhook_id}")
    hook, secret, until = webhooks.rotate_secret(webhook_id)
    return RotatedOut(id=hook.id, secret=secret, previous_valid_until=until)


@router.get("/v1/webhooks/{webhook_id}/deliveries", dependencies=[LENDER])
def webhook_deliveries(
    principal: PrincipalDep,
    webhooks: WebhooksDep,
    webhook_id: WebhookIdPath,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> DeliveriesOut:
    """Return the delivery log of one of the caller's webhooks, oldest first."""
    confine(principal, webhooks.get(webhook_id).lender, f"webhook {webhook_id}")
    rows = webhooks.deliveries(webhook_id, limit=limit, offset=offset)
    return DeliveriesOut(
        webhook_id=webhook_id,
        deliveries=[
            DeliveryOut(
                id=d.id or 0,
                idempotency_key=d.idempotency_key,
                status=d.status,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_status_code=d.last_status_code,
                last_error=d.last_error,
                delivered_at=d.delivered_at,
                reminder=json.loads(r.payload_json),
            )
            for d, r in rows
        ],
    )


@router.get("/v1/loans/{loan_id}/reminders", tags=["loans"], dependencies=[READERS, ChainBound])
def loan_reminders(
    principal: PrincipalDep, loans: LoansDep, webhooks: WebhooksDep, loan_id: LoanIdPath
) -> list[ReminderOut]:
    """Return the reminders the ledger raised for a loan, each with its chain evidence."""
    key = loans.resolve(own_loan(principal, loans, loan_id))  # 404 if unknown or not its own
    return [
        ReminderOut(
            loan_id=r.loan_id,
            instalment=r.instalment,
            stage=r.stage,
            stage_name=r.stage_name,
            due_at=r.due_at,
            amount_due=r.amount_due,
            days_past_due=r.days_past_due,
            chain_id=r.chain_id,
            tx_hash=r.tx_hash,
            block_number=r.block_number,
            log_index=r.log_index,
            idempotency_key=r.idempotency_key,
        )
        for r in webhooks.reminders_of(key)
    ]
