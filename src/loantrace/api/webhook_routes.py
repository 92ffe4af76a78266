"""Webhook routes: register an endpoint, read its delivery log, read a loan's reminders."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from loantrace.api.deps import LoansDep, NotaryDep
from loantrace.domain.hexcodec import parse_bytes32
from loantrace.services.webhooks import WebhookService

router = APIRouter(tags=["webhooks"])


def get_webhooks(request: Request) -> WebhookService:
    """Return the webhook service built at start-up."""
    return cast(WebhookService, request.app.state.webhooks)


WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]


class WebhookIn(BaseModel):
    """Where to deliver reminders for a lender."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2048, examples=["https://lender.example/hooks/loantrace"])
    lender: str | None = Field(None, description="defaults to this service's lender")


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


@router.post("/v1/webhooks", status_code=201)
def register_webhook(notary: NotaryDep, webhooks: WebhooksDep, body: WebhookIn) -> WebhookOut:
    """Register a webhook; the signing secret is returned once, keep it."""
    row, secret = webhooks.register(lender=body.lender or notary.lender, url=body.url)
    return WebhookOut(
        id=row.id,
        lender=row.lender,
        url=row.url,
        active=row.active,
        created_at=row.created_at,
        secret=secret,
    )


@router.get("/v1/webhooks/{webhook_id}/deliveries")
def webhook_deliveries(
    webhooks: WebhooksDep,
    webhook_id: int,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> DeliveriesOut:
    """Return the delivery log of a webhook, oldest first."""
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


@router.get("/v1/loans/{loan_id}/reminders", tags=["loans"])
def loan_reminders(loans: LoansDep, webhooks: WebhooksDep, loan_id: str) -> list[ReminderOut]:
    """Return the reminders the ledger raised for a loan, each with its chain evidence."""
    key = loans.resolve(parse_bytes32(loan_id, field="loan_id"))  # 404 if unknown
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
