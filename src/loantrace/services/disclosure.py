"""What a plan costs, told before signing, and how a stored schedule is (de)serialised."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from loantrace.domain.cost import annual_cost_bps, loan_cash_flows
from loantrace.domain.ratecap import cap_breaches
from loantrace.domain.schedule import Instalment, Schedule
from loantrace.domain.terms import LoanTerms


def schedule_from_json(raw: str, start_at: int) -> Schedule:
    """Rebuild a stored schedule."""
    items = json.loads(raw)
    return Schedule(
        instalments=tuple(
            Instalment(
                index=i["index"],
                due_date=date.fromisoformat(i["due_date"]),
                due_at=i["due_at"],
                principal=i["principal"],
                interest=i["interest"],
                fees=i.get("fees", 0),
            )
            for i in items
        ),
        start_date=datetime.fromtimestamp(start_at, UTC).date(),
    )


def schedule_to_json(schedule: Schedule) -> str:
    """Serialise a schedule for storage."""
    return json.dumps(
        [
            {
                "index": i.index,
                "due_date": i.due_date.isoformat(),
                "due_at": i.due_at,
                "principal": i.principal,
                "interest": i.interest,
                "fees": i.fees,
            }
            for i in schedule.instalments
        ]
    )


def cap_refusal(schedule: Schedule, principal: int, cap_bps: int) -> str | None:
    """Explain why the ledger would refuse `schedule` under `cap_bps`, or None if it passes."""
    breaches = cap_breaches(schedule, principal=principal, cap_bps=cap_bps)
    if not breaches:
        return None
    first = breaches[0]
    return (
        f"instalment {first.index + 1} charges {first.charges} minor units of interest and "
        f"fees; the rate cap of {cap_bps} bps allows at most {first.allowed} on the "
        f"outstanding principal over its {first.seconds // 86_400}-day period"
    )


@dataclass(frozen=True)
class Disclosure:
    """The real price of a plan, for the borrower to read before signing; minor units, bps."""

    apr_bps: int
    annual_cost_bps: int | None
    rate_cap_bps: int
    within_cap: bool
    first_breach: str | None
    principal: int
    total_interest: int
    total_fees: int
    total_repayable: int
    instalments: int


def disclose(terms: LoanTerms, cap_bps: int) -> Disclosure:
    """Return the disclosure of `terms` under `cap_bps`: all-in cost beside the cap."""
    schedule = terms.schedule()
    cost = annual_cost_bps(loan_cash_flows([(schedule.start_at, terms.principal)], schedule))
    refusal = cap_refusal(schedule, terms.principal, cap_bps)
    return Disclosure(
        apr_bps=terms.apr_bps,
        annual_cost_bps=cost,
        rate_cap_bps=cap_bps,
        within_cap=refusal is None and terms.apr_bps <= cap_bps,
        first_breach=refusal,
        principal=terms.principal,
        total_interest=schedule.interest,
        total_fees=schedule.fees,
        total_repayable=schedule.total,
        instalments=len(schedule.instalments),
    )
