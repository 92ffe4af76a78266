"""Key terms of a loan agreement, validated, and their canonical digest."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Literal

from loantrace.domain.digest import json_digest
from loantrace.domain.errors import InvalidInput

RepaymentMethod = Literal["annuity", "equal_principal", "bullet"]
_METHODS = ("annuity", "equal_principal", "bullet")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PURPOSE = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
MAX_APR_BPS = 100_000  # 1000 % a year: anything above is a typo, not a loan.
# RFC 8785 represents numbers as IEEE doubles: integers above 2**53 - 1 are not exact.
MAX_PRINCIPAL = 2**53 - 1
MAX_INSTALMENTS = 360  # the on-chain ledger's bound


@dataclass(frozen=True)
class LoanTerms:
    """The key terms both parties signed; money in integer minor units."""

    principal: int
    currency: str
    apr_bps: int
    instalments: int
    repayment_method: RepaymentMethod
    first_due_date: str
    purpose: str

    def __post_init__(self) -> None:
        _check_int("principal", self.principal, 1, MAX_PRINCIPAL)
        _check_int("apr_bps", self.apr_bps, 0, MAX_APR_BPS)
        _check_int("instalments", self.instalments, 1, MAX_INSTALMENTS)
        if not _CURRENCY.match(self.currency):
            raise InvalidInput("terms.currency must be an ISO 4217 code such as CNY or USD")
        if self.repayment_method not in _METHODS:
            raise InvalidInput(f"terms.repayment_method must be one of {', '.join(_METHODS)}")
        try:
            date.fromisoformat(self.first_due_date)
        except (TypeError, ValueError):
            raise InvalidInput("terms.first_due_date must be an ISO date (YYYY-MM-DD)") from None
        if not _PURPOSE.match(self.purpose):
            raise InvalidInput("terms.purpose must be an upper-case code such as CONSUMPTION")

    def to_json(self) -> dict[str, Any]:
        """Return the terms as a JSON object."""
        return asdict(self)

    def digest(self) -> bytes:
        """Return SHA-256 of the RFC 8785 canonical JSON of the terms."""
        return json_digest(self.to_json())


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"terms.{name} must be an integer")
    if not low <= value <= high:
        raise InvalidInput(f"terms.{name} must be between {low} and {high}")
