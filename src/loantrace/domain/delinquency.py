"""Days past due, delinquency buckets and reminder stages of instalments.

These definitions are shared with the LoanLedger contract, which computes them identically:
- days past due: 0 before the due time, else (now − due_at) // 86_400, so 0 on the due date
  itself and 1 from 00:00 UTC of the next day (`_daysPastDue`);
- bucket: 0 current, 1 for 1-30 days, 2 for 31-60, 3 for 61-90, 4 beyond 90 (`_bucket`);
- stages: the uint8 codes of `ReminderRaised`, in two independent tracks (`_stagesAt`):
  DUE_SOON / DUE / OVERDUE by the policy's windows, and one bucket stage per bucket;
- default: the oldest unpaid instalment is more than `default_after_days` past due.

Instalment status (Python only): "paid" when fully paid; otherwise "overdue" once the grace
period is over, whether or not part of it was paid; before that "partial" if part of it was
paid, else "upcoming" before the due time and "due" within the grace period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import Schedule, allocate

SECONDS_PER_DAY = 86_400
BUCKET_LABELS = {0: "current", 1: "1-30", 2: "31-60", 3: "61-90", 4: "90+"}
_MAX_POLICY_DAYS = 2**16 - 1  # uint16 on chain


class Stage(IntEnum):
    """A reminder stage; the values are the contract's uint8 stage codes."""

    DUE_SOON = 1
    DUE = 2
    OVERDUE = 3
    BUCKET_1_30 = 4
    BUCKET_31_60 = 5
    BUCKET_61_90 = 6
    BUCKET_90_PLUS = 7


_BUCKET_STAGES = {
    1: Stage.BUCKET_1_30,
    2: Stage.BUCKET_31_60,
    3: Stage.BUCKET_61_90,
    4: Stage.BUCKET_90_PLUS,
}


@dataclass(frozen=True)
class ReminderPolicy:
    """When reminders are raised and when a loan counts as defaulted, in whole days."""

    due_soon_days: int
    grace_days: int
    default_after_days: int

    def __post_init__(self) -> None:
        _check_days("due_soon_days", self.due_soon_days, 0)
        _check_days("grace_days", self.grace_days, 0)
        _check_days("default_after_days", self.default_after_days, 1)


@dataclass(frozen=True)
class InstalmentState:
    """How far one instalment is paid and how late it is at a given time."""

    index: int
    due_at: int
    amount: int
    paid: int
    status: str
    days_past_due: int
    bucket: int


def days_past_due(due_at: int, now: int) -> int:
    """Return the whole days elapsed since `due_at`, 0 before it."""
    return 0 if now < due_at else (now - due_at) // SECONDS_PER_DAY


def bucket(days: int) -> int:
    """Return the delinquency bucket (0-4) of `days` past due."""
    if days < 0:
        raise InvalidInput("days must not be negative")
    if days == 0:
        return 0
    if days <= 30:
        return 1
    if days <= 60:
        return 2
    if days <= 90:
        return 3
    return 4


def current_stages(due_at: int, now: int, policy: ReminderPolicy) -> frozenset[Stage]:
    """Return the reminder stages current at `now`: at most one from each track."""
    stages: set[Stage] = set()
    soon = policy.due_soon_days * SECONDS_PER_DAY
    grace_end = due_at + policy.grace_days * SECONDS_PER_DAY
    if now < due_at:
        if soon > 0 and due_at - soon <= now:
            stages.add(Stage.DUE_SOON)
    elif now < grace_end:
        stages.add(Stage.DUE)
    else:
        stages.add(Stage.OVERDUE)
    late = bucket(days_past_due(due_at, now))
    if late:
        stages.add(_BUCKET_STAGES[late])
    return frozenset(stages)


def is_defaulted(due_at: int, now: int, policy: ReminderPolicy) -> bool:
    """Return whether an instalment due at `due_at` is past the policy's default age."""
    return days_past_due(due_at, now) > policy.default_after_days


def instalment_states(
    schedule: Schedule, repaid: int, now: int, policy: ReminderPolicy
) -> list[InstalmentState]:
    """Return the state of every instalment once `repaid` is allocated oldest first."""
    states = []
    for instalment, paid in zip(schedule.instalments, allocate(schedule, repaid), strict=True):
        due_at, amount = instalment.due_at, instalment.amount
        late = 0 if paid == amount else days_past_due(due_at, now)
        states.append(
            InstalmentState(
                index=instalment.index,
                due_at=due_at,
                amount=amount,
                paid=paid,
                status=_status(due_at, amount, paid, now, policy),
                days_past_due=late,
                bucket=bucket(late),
            )
        )
    return states


def arrears(dues: Sequence[tuple[int, int]], repaid: int, now: int) -> tuple[int, int, int]:
    """Return (outstanding, days past due of the oldest unpaid instalment, its bucket).

    `dues` are (due_at, amount) pairs oldest first, as the ledger stores them; `repaid` is
    allocated oldest first, exactly as the contract does.
    """
    outstanding = sum(amount for _, amount in dues) - repaid
    remaining = repaid
    for due_at, amount in dues:
        if remaining >= amount:
            remaining -= amount
            continue
        days = days_past_due(due_at, now)
        return outstanding, days, bucket(days)
    return outstanding, 0, 0


def loan_delinquency(
    schedule: Schedule, repaid: int, now: int, policy: ReminderPolicy
) -> tuple[int, int, int]:
    """Return (outstanding, days past due of the oldest unpaid instalment, its bucket)."""
    for state in instalment_states(schedule, repaid, now, policy):
        if state.paid < state.amount:
            return schedule.total - repaid, state.days_past_due, state.bucket
    return schedule.total - repaid, 0, 0


def _status(due_at: int, amount: int, paid: int, now: int, policy: ReminderPolicy) -> str:
    if paid == amount:
        return "paid"
    if now >= due_at + policy.grace_days * SECONDS_PER_DAY:
        return "overdue"
    if paid > 0:
        return "partial"
    return "upcoming" if now < due_at else "due"


def _check_days(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"policy.{name} must be an integer")
    if not low <= value <= _MAX_POLICY_DAYS:
        raise InvalidInput(f"policy.{name} must be between {low} and {_MAX_POLICY_DAYS}")
