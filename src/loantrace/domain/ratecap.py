"""The Python twin of the LoanLedger's rate-cap check, to refuse a schedule before the chain does.

The ledger caps every instalment's charges (interest plus fees) at the actual/365 interest the
cap allows on the principal outstanding over that instalment's period:

    allowed_k = floor(outstanding_k · cap_bps · seconds_k / (365 · 86_400 · 10_000))

where the period runs from the loan's start (k = 0) or the previous due time. The declared
APR must not exceed the cap either. The cap is `RATE_CAP_MULTIPLIER` times the one-year LPR
in force when the agreement was notarised.
"""

from __future__ import annotations

from dataclasses import dataclass

from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import YEAR_SECONDS_BPS, Schedule

RATE_CAP_MULTIPLIER = 4
MAX_LPR_BPS = 25_000  # the ledger refuses a larger LPR


@dataclass(frozen=True)
class CapBreach:
    """One instalment whose charges exceed what the cap allows over its period."""

    index: int
    charges: int
    allowed: int
    seconds: int


def cap_from_lpr(lpr_bps: int) -> int:
    """Return the rate cap in basis points for a one-year LPR."""
    _check_int("lpr_bps", lpr_bps, 1)
    if lpr_bps > MAX_LPR_BPS:
        raise InvalidInput(f"lpr_bps must be between 1 and {MAX_LPR_BPS}")
    return RATE_CAP_MULTIPLIER * lpr_bps


def allowed_charges(outstanding: int, cap_bps: int, seconds: int) -> int:
    """Return the most interest plus fees the cap allows on `outstanding` for `seconds`."""
    _check_int("outstanding", outstanding, 0)
    _check_int("cap_bps", cap_bps, 0)
    _check_int("seconds", seconds, 0)
    return outstanding * cap_bps * seconds // YEAR_SECONDS_BPS


def cap_breaches(schedule: Schedule, *, principal: int, cap_bps: int) -> list[CapBreach]:
    """Return every instalment of `schedule` whose charges the cap does not allow."""
    _check_int("principal", principal, 1)
    _check_int("cap_bps", cap_bps, 0)
    if schedule.principal != principal:
        raise InvalidInput(
            f"the schedule repays {schedule.principal} of principal, not the loan's {principal}"
        )
    breaches = []
    outstanding = principal
    previous = schedule.start_at
    for instalment in schedule.instalments:
        seconds = instalment.due_at - previous
        charges = instalment.interest + instalment.fees
        allowed = allowed_charges(outstanding, cap_bps, seconds)
        if charges > allowed:
            breaches.append(CapBreach(instalment.index, charges, allowed, seconds))
        outstanding -= instalment.principal
        previous = instalment.due_at
    return breaches


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if value < low:
        raise InvalidInput(f"{name} must be at least {low}")
