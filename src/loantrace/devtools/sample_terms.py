"""Sample loan terms that start at the chain's current day (demo, gas report, tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loantrace.domain.terms import LoanTerms


def terms_at(
    now: int,
    *,
    principal: int = 300_000,
    apr_bps: int = 1_150,
    instalments: int = 12,
    method: str = "annuity",
    first_in_days: int = 30,
    purpose: str = "CONSUMPTION",
    fee_per_instalment: int = 0,
) -> LoanTerms:
    """Return terms starting on the UTC day of chain time `now`, first due days later."""
    start = datetime.fromtimestamp(now, UTC).date()
    return LoanTerms(
        principal=principal,
        currency="CNY",
        apr_bps=apr_bps,
        instalments=instalments,
        repayment_method=method,  # type: ignore[arg-type]
        start_date=start.isoformat(),
        first_due_date=(start + timedelta(days=first_in_days)).isoformat(),
        purpose=purpose,
        fee_per_instalment=fee_per_instalment,
    )
