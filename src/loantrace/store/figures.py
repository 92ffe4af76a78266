"""Figures the database already knows, read when metrics are scraped: counts, no rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from loantrace.domain.delinquency import Stage
from loantrace.store.models import DeliveryRow, ReminderRow

DELIVERY_STATUSES = ("pending", "delivered", "dead")


@dataclass(frozen=True)
class WebhookFigures:
    """Reminders recorded by stage, deliveries by status, and failed delivery attempts."""

    reminders_by_stage: dict[str, int]
    deliveries_by_status: dict[str, int]
    failed_attempts: int


def webhook_figures(*, engine: Engine) -> WebhookFigures:
    """Count reminders and deliveries; every stage and status appears, zero or not."""
    reminders = {stage.name.lower(): 0 for stage in Stage}
    deliveries = dict.fromkeys(DELIVERY_STATUSES, 0)
    with Session(engine) as session:
        for stage_name, count in session.exec(
            select(ReminderRow.stage_name, func.count()).group_by(ReminderRow.stage_name)
        ).all():
            reminders[stage_name] = int(count)
        attempts = 0
        for status, count, tried in session.exec(
            select(
                DeliveryRow.status, func.count(), func.coalesce(func.sum(DeliveryRow.attempts), 0)
            ).group_by(DeliveryRow.status)
        ).all():
            deliveries[status] = int(count)
            attempts += int(tried)
    # Every attempt fails but the one that delivers: a running total that never goes down,
    # kept by the table itself (a delivery records its attempts; rows are never deleted).
    failed = attempts - deliveries.get("delivered", 0)
    return WebhookFigures(reminders, deliveries, failed)
