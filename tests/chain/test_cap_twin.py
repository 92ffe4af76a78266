"""The contract's cap check and its Python twin agree on schedules at and just above the cap."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loantrace.bootstrap import Runtime
from loantrace.chain.ledger import schedule_struct, terms_struct
from loantrace.domain.errors import InvalidInput
from loantrace.domain.ratecap import allowed_charges, cap_breaches
from loantrace.domain.schedule import Instalment, Schedule
from loantrace.domain.terms import LoanTerms

pytestmark = pytest.mark.slow


def _contract_breach(rt: Runtime, terms: LoanTerms, schedule: Schedule, cap: int) -> int | None:
    """The index the contract refuses, or None when it accepts."""
    call = rt.ledger.contract.functions.checkSchedule(
        terms_struct(terms), schedule_struct(schedule), cap
    )
    try:
        rt.ledger.transactor.preflight(call)
    except InvalidInput as exc:
        text = str(exc)
        assert "LoanLedgerRateCapExceeded" in text, text
        return int(text.split("index=")[1].split(",")[0])
    total = int(call.call())
    assert total == schedule.total
    return None


def _at_cap(schedule: Schedule, principal: int, cap: int) -> Schedule:
    """The same dates and principal parts, each period charging exactly what the cap allows."""
    out, outstanding, previous = [], principal, schedule.start_at
    for i in schedule.instalments:
        allowed = allowed_charges(outstanding, cap, i.due_at - previous)
        out.append(replace(i, interest=allowed, fees=0))
        outstanding -= i.principal
        previous = i.due_at
    return replace(schedule, instalments=tuple(out))


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    principal=st.integers(1_000, 10**9),
    count=st.integers(1, 24),
    method=st.sampled_from(["annuity", "equal_principal", "bullet"]),
    cap=st.integers(1, 100_000),
    apr_share=st.integers(0, 100),
    bump=st.integers(0, 2),
    where=st.integers(0, 23),
    start_day=st.integers(1, 28),
    first_gap=st.integers(1, 60),
)
def test_contract_and_python_agree_on_every_schedule(
    embedded_runtime: Runtime,
    principal: int,
    count: int,
    method: str,
    cap: int,
    apr_share: int,
    bump: int,
    where: int,
    start_day: int,
    first_gap: int,
) -> None:
    start = date(2027, 3, start_day)
    first_due = date.fromordinal(start.toordinal() + first_gap)
    terms = LoanTerms(
        principal=principal,
        currency="CNY",
        apr_bps=cap * apr_share // 100,
        instalments=count,
        repayment_method=method,  # type: ignore[arg-type]
        start_date=start.isoformat(),
        first_due_date=first_due.isoformat(),
        purpose="CONSUMPTION",
    )
    built = terms.schedule()
    if any(i.amount == 0 for i in built.instalments):
        return  # the ledger refuses empty instalments for another reason
    # The service's own schedule at an APR within the cap always passes, on both sides.
    assert cap_breaches(built, principal=principal, cap_bps=cap) == []
    assert _contract_breach(embedded_runtime, terms, built, cap) is None
    # At the cap exactly, then `bump` units above it in one instalment.
    edge = _at_cap(built, principal, cap)
    index = where % count
    bumped: list[Instalment] = list(edge.instalments)
    bumped[index] = replace(bumped[index], fees=bump)
    schedule = replace(edge, instalments=tuple(bumped))
    if any(i.amount == 0 for i in schedule.instalments):
        return
    python = cap_breaches(schedule, principal=principal, cap_bps=cap)
    expected = python[0].index if python else None
    assert expected == (index if bump else None)
    assert _contract_breach(embedded_runtime, terms, schedule, cap) == expected
