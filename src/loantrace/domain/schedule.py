"""Repayment schedules in integer minor units, and oldest-first allocation of repayments.

Day count: actual/365. Period k runs from the loan's start (k = 0) or the previous due date
to due date k, `seconds_k` long, and its interest is the principal outstanding at its start
times apr_bps / 10_000 · seconds_k / (365 days), rounded DOWN to a whole minor unit:
floor(outstanding · apr_bps · seconds_k / (365 · 86_400 · 10_000)) in exact integers.
Rounding down is deliberate: a schedule built at an APR at or below the on-chain rate cap
then always passes the ledger's cap check (see `ratecap`), which uses the same formula.

Methods:
- "annuity": the level payment A = P·r / (1 − (1 + r)^−n) with the nominal monthly rate
  r = apr_bps / 10_000 / 12, computed exactly and rounded half-up (A = P / n rounded half-up
  when r = 0). Instalment k < n − 1 repays A − interest_k of principal, clamped to
  [0, outstanding]; the last instalment repays whatever principal is still outstanding, so
  the principal parts sum to P exactly. Because interest follows the actual length of each
  period while A follows the nominal month, the amounts vary slightly from month to month
  (a 31-day month carries more interest, hence less principal, than a 28-day one), and a
  long first period may leave a first instalment of interest only.
- "equal_principal": each principal part is P // n, and the first P % n instalments repay
  one extra minor unit.
- "bullet": interest every period, the whole principal with the last instalment.

Every instalment also carries `fee_per_instalment`; its amount is principal + interest +
fees. An instalment may be zero when the principal is smaller than the number of instalments
or the rate is zero (e.g. a 0 % bullet); the ledger refuses those, callers must check.

Instalment k falls due k months after `first_due_date`, on the same day of the month,
clamped to the month's last day; every date is derived from the original day, so
31 Jan → 28/29 Feb → 31 Mar does not drift. `due_at` is 00:00:00 UTC of the due date.
`custom_schedule` takes a plan the lender wrote instead, with the same invariants.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction

from loantrace.domain.errors import InvalidInput

METHODS = ("annuity", "equal_principal", "bullet")
MAX_APR_BPS = 100_000  # 1000 % a year: anything above is a typo, not a loan.
# RFC 8785 represents numbers as IEEE doubles: integers above 2**53 - 1 are not exact.
MAX_PRINCIPAL = 2**53 - 1
MAX_INSTALMENTS = 360  # the on-chain ledger's bound
SECONDS_PER_DAY = 86_400
YEAR_SECONDS_BPS = 365 * SECONDS_PER_DAY * 10_000  # the denominator of every period's interest
_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Instalment:
    """One scheduled payment; `due_at` is unix seconds of 00:00:00 UTC on `due_date`."""

    index: int
    due_date: date
    due_at: int
    principal: int
    interest: int
    fees: int

    def __post_init__(self) -> None:
        _check_date("instalment.due_date", self.due_date)
        if self.due_at != midnight_utc(self.due_date):
            raise InvalidInput("instalment.due_at must be 00:00 UTC of instalment.due_date")
        for name in ("principal", "interest", "fees"):
            _check_int(f"instalment.{name}", getattr(self, name), 0, None)

    @property
    def amount(self) -> int:
        """Return the instalment's total: principal plus interest plus fees."""
        return self.principal + self.interest + self.fees


@dataclass(frozen=True)
class Schedule:
    """The instalments of one loan, oldest first, and the date the loan starts."""

    instalments: tuple[Instalment, ...]
    start_date: date

    def __post_init__(self) -> None:
        if not 1 <= len(self.instalments) <= MAX_INSTALMENTS:
            raise InvalidInput(f"schedule.instalments must hold 1 to {MAX_INSTALMENTS} instalments")
        _check_date("schedule.start_date", self.start_date)
        if self.start_date < _EPOCH:
            raise InvalidInput("schedule.start_date must not be before 1970-01-01")
        previous = self.start_date
        for k, instalment in enumerate(self.instalments):
            if instalment.index != k:
                raise InvalidInput(f"schedule instalment {k} carries index {instalment.index}")
            if instalment.due_date <= previous:
                raise InvalidInput(
                    f"schedule instalment {k} is due {instalment.due_date.isoformat()}, not "
                    f"after {previous.isoformat()}: due dates must increase after start_date"
                )
            previous = instalment.due_date

    @property
    def start_at(self) -> int:
        """Return unix seconds of 00:00 UTC of the start date."""
        return midnight_utc(self.start_date)

    @property
    def principal(self) -> int:
        """Return the sum of the principal parts."""
        return sum(instalment.principal for instalment in self.instalments)

    @property
    def interest(self) -> int:
        """Return the sum of the interest parts."""
        return sum(instalment.interest for instalment in self.instalments)

    @property
    def fees(self) -> int:
        """Return the sum of the fees."""
        return sum(instalment.fees for instalment in self.instalments)

    @property
    def total(self) -> int:
        """Return everything the borrower owes: principal plus interest plus fees."""
        return self.principal + self.interest + self.fees

    @property
    def last_due_at(self) -> int:
        """Return the due time of the last instalment."""
        return self.instalments[-1].due_at


def build_schedule(
    *,
    principal: int,
    apr_bps: int,
    instalments: int,
    method: str,
    start_date: date,
    first_due_date: date,
    fee_per_instalment: int = 0,
) -> Schedule:
    """Build the repayment schedule for the given terms."""
    _check_int("principal", principal, 1, MAX_PRINCIPAL)
    _check_int("apr_bps", apr_bps, 0, MAX_APR_BPS)
    _check_int("instalments", instalments, 1, MAX_INSTALMENTS)
    _check_int("fee_per_instalment", fee_per_instalment, 0, MAX_PRINCIPAL)
    if method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
    _check_date("start_date", start_date)
    _check_date("first_due_date", first_due_date)
    if start_date >= first_due_date:
        raise InvalidInput("start_date must be before first_due_date")
    payment = _annuity_payment(principal, apr_bps, instalments) if method == "annuity" else 0
    parts = []
    outstanding = principal
    previous = start_date
    for k in range(instalments):
        due_date = add_months(first_due_date, k)
        seconds = midnight_utc(due_date) - midnight_utc(previous)
        interest = period_interest(outstanding, apr_bps, seconds)
        if k == instalments - 1:
            repaid = outstanding
        elif method == "annuity":
            repaid = min(max(payment - interest, 0), outstanding)
        elif method == "equal_principal":
            repaid = principal // instalments + (1 if k < principal % instalments else 0)
        else:
            repaid = 0
        parts.append((due_date, repaid, interest, fee_per_instalment))
        outstanding -= repaid
        previous = due_date
    return _schedule(start_date, parts)


def custom_schedule(
    *, principal: int, start_date: date, instalments: Sequence[tuple[date, int, int, int]]
) -> Schedule:
    """Build a schedule the lender wrote: (due date, principal, interest, fees) per instalment."""
    _check_int("principal", principal, 1, MAX_PRINCIPAL)
    _check_date("start_date", start_date)
    if not 1 <= len(instalments) <= MAX_INSTALMENTS:
        raise InvalidInput(f"a custom schedule must hold 1 to {MAX_INSTALMENTS} instalments")
    for k, item in enumerate(instalments):
        if not isinstance(item, tuple) or len(item) != 4:
            raise InvalidInput(f"instalment {k} must be (due_date, principal, interest, fees)")
        _, principal_part, interest, fees = item
        for name, value in (("principal", principal_part), ("interest", interest), ("fees", fees)):
            _check_int(f"instalment {k} {name}", value, 0, MAX_PRINCIPAL)
        if principal_part + interest + fees == 0:
            raise InvalidInput(f"instalment {k} of a custom schedule must carry an amount")
    schedule = _schedule(start_date, list(instalments))
    if schedule.principal != principal:
        raise InvalidInput(
            f"the principal parts of a custom schedule sum to {schedule.principal}, "
            f"not to the principal {principal}"
        )
    return schedule


def period_interest(outstanding: int, apr_bps: int, seconds: int) -> int:
    """Return the actual/365 interest on `outstanding` for `seconds`, rounded down."""
    return outstanding * apr_bps * seconds // YEAR_SECONDS_BPS


def midnight_utc(day: date) -> int:
    """Return unix seconds of 00:00:00 UTC of `day`."""
    return (day - _EPOCH).days * SECONDS_PER_DAY


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


def _schedule(start_date: date, parts: Sequence[tuple[date, int, int, int]]) -> Schedule:
    instalments = []
    for k, (due_date, principal, interest, fees) in enumerate(parts):
        _check_date(f"instalment {k} due_date", due_date)
        instalments.append(
            Instalment(k, due_date, midnight_utc(due_date), principal, interest, fees)
        )
    return Schedule(tuple(instalments), start_date)


def _annuity_payment(principal: int, apr_bps: int, count: int) -> int:
    rate = Fraction(apr_bps, 10_000 * 12)
    if rate == 0:
        return _round_half_up(Fraction(principal, count))
    growth = (1 + rate) ** count
    return _round_half_up(principal * rate * growth / (growth - 1))


def _round_half_up(value: Fraction) -> int:
    # floor(value + 1/2) in integers; the callers only pass non-negative values.
    return (2 * value.numerator + value.denominator) // (2 * value.denominator)


def _check_date(name: str, value: object) -> None:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise InvalidInput(f"{name} must be a date")


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if high is None:
        if value < low:
            raise InvalidInput(f"{name} must be at least {low}")
    elif not low <= value <= high:
        raise InvalidInput(f"{name} must be between {low} and {high}")
