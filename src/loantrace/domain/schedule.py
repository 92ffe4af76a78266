"""Repayment schedules in integer minor units, and oldest-first allocation of repayments.

Day count: monthly periods under the 30/360 convention, so every period has the same rate
r = apr_bps / 10_000 / 12, held exactly as a `Fraction`. A period's interest is the principal
outstanding at its start times r, rounded half-up to a whole minor unit.

Methods:
- "annuity": the level payment A = P·r / (1 − (1 + r)^−n), computed exactly and rounded
  half-up (A = P / n rounded half-up when r = 0). Instalment k < n − 1 repays A − interest_k
  of principal; the last instalment repays whatever principal is still outstanding, so the
  principal parts sum to P exactly. Since A ≥ P·r and the outstanding principal never grows,
  A − interest_k is never negative; the principal part is nevertheless clamped to
  [0, outstanding] so that rounding A up can never repay more than is owed. When the clamp
  bites (only for tiny principals), the later instalments repay less, down to nothing.
- "equal_principal": each principal part is P // n, and the first P % n instalments repay
  one extra minor unit.
- "bullet": interest every period, the whole principal with the last instalment.

Every part is a non-negative integer and each instalment's amount is principal + interest,
so the amounts sum to P plus the total interest exactly. An instalment may be zero when the
principal is smaller than the number of instalments or the rate is zero (e.g. a 0 % bullet).

Instalment k falls due k months after `first_due_date`, on the same day of the month,
clamped to the month's last day; every date is derived from the original day, so
31 Jan → 28/29 Feb → 31 Mar does not drift. `due_at` is 00:00:00 UTC of the due date.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from loantrace.domain.errors import InvalidInput
from loantrace.domain.terms import MAX_APR_BPS, MAX_INSTALMENTS, MAX_PRINCIPAL

METHODS = ("annuity", "equal_principal", "bullet")
_EPOCH = date(1970, 1, 1)
_SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Instalment:
    """One scheduled payment; `due_at` is unix seconds of 00:00:00 UTC on `due_date`."""

    index: int
    due_date: date
    due_at: int
    principal: int
    interest: int

    @property
    def amount(self) -> int:
        """Return the instalment's total: principal plus interest."""
        return self.principal + self.interest


@dataclass(frozen=True)
class Schedule:
    """The instalments of one loan, oldest first."""

    instalments: tuple[Instalment, ...]

    def __post_init__(self) -> None:
        if not self.instalments:
            raise InvalidInput("schedule.instalments must not be empty")

    @property
    def principal(self) -> int:
        """Return the sum of the principal parts."""
        return sum(instalment.principal for instalment in self.instalments)

    @property
    def interest(self) -> int:
        """Return the sum of the interest parts."""
        return sum(instalment.interest for instalment in self.instalments)

    @property
    def total(self) -> int:
        """Return everything the borrower owes: principal plus interest."""
        return self.principal + self.interest

    @property
    def last_due_at(self) -> int:
        """Return the due time of the last instalment."""
        return self.instalments[-1].due_at


def build_schedule(
    *, principal: int, apr_bps: int, instalments: int, method: str, first_due_date: date
) -> Schedule:
    """Build the repayment schedule for the given terms."""
    _check_int("principal", principal, 1, MAX_PRINCIPAL)
    _check_int("apr_bps", apr_bps, 0, MAX_APR_BPS)
    _check_int("instalments", instalments, 1, MAX_INSTALMENTS)
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
    if isinstance(first_due_date, datetime) or not isinstance(first_due_date, date):
        raise InvalidInput("first_due_date must be a date")
    due_dates = [add_months(first_due_date, k) for k in range(instalments)]
    rate = Fraction(apr_bps, 10_000 * 12)
    if method == "annuity":
        parts = _annuity(principal, rate, instalments)
    elif method == "equal_principal":
        parts = _equal_principal(principal, rate, instalments)
    else:
        parts = _bullet(principal, rate, instalments)
    return Schedule(
        tuple(
            Instalment(
                index=k,
                due_date=due,
                due_at=(due - _EPOCH).days * _SECONDS_PER_DAY,
                principal=principal_part,
                interest=interest_part,
            )
            for k, due, (principal_part, interest_part) in zip(
                range(instalments), due_dates, parts, strict=True
            )
        )
    )


def add_months(start: date, months: int) -> date:
    """Return `start` plus `months` months, clamping the day to the month's last day."""
    year, month_index = divmod(start.month - 1 + months, 12)
    year += start.year
    if not 1 <= year <= 9999:
        raise InvalidInput("first_due_date is too late: the schedule runs past the year 9999")
    month = month_index + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def allocate(schedule: Schedule, repaid: int) -> list[int]:
    """Return how much of `repaid` goes to each instalment, oldest instalment first."""
    _check_int("repaid", repaid, 0, schedule.total)
    paid = []
    remaining = repaid
    for instalment in schedule.instalments:
        part = min(remaining, instalment.amount)
        paid.append(part)
        remaining -= part
    return paid


def _annuity(principal: int, rate: Fraction, count: int) -> list[tuple[int, int]]:
    if rate == 0:
        payment = _round_half_up(Fraction(principal, count))
    else:
        growth = (1 + rate) ** count
        payment = _round_half_up(principal * rate * growth / (growth - 1))
    parts = []
    outstanding = principal
    for k in range(count):
        interest = _round_half_up(outstanding * rate)
        last = k == count - 1
        repaid = outstanding if last else min(max(payment - interest, 0), outstanding)
        parts.append((repaid, interest))
        outstanding -= repaid
    return parts


def _equal_principal(principal: int, rate: Fraction, count: int) -> list[tuple[int, int]]:
    base, extra = divmod(principal, count)
    parts = []
    outstanding = principal
    for k in range(count):
        repaid = base + (1 if k < extra else 0)
        parts.append((repaid, _round_half_up(outstanding * rate)))
        outstanding -= repaid
    return parts


def _bullet(principal: int, rate: Fraction, count: int) -> list[tuple[int, int]]:
    interest = _round_half_up(principal * rate)
    return [(principal if k == count - 1 else 0, interest) for k in range(count)]


def _round_half_up(value: Fraction) -> int:
    # floor(value + 1/2) in integers; the callers only pass non-negative values.
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
