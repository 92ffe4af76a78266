"""The all-in annualised cost: exact examples, up-front deductions, fees, and the bisection."""

from __future__ import annotations

import time
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.cost import (
    MAX_COST_BPS,
    CashFlow,
    annual_cost_bps,
    exceeds_cap,
    loan_cash_flows,
    npv_sign,
)
from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import METHODS, Schedule, build_schedule, custom_schedule

DAY = 86_400
JAN_1 = date(2027, 1, 1)
JAN_31 = date(2027, 1, 31)
# At 10 % a year, 3,650,000 earns exactly 1,000 a day.
PRINCIPAL = 3_650_000


def _build(
    principal: int = PRINCIPAL,
    apr_bps: int = 1000,
    instalments: int = 3,
    method: str = "bullet",
    fee_per_instalment: int = 0,
) -> Schedule:
    return build_schedule(
        principal=principal,
        apr_bps=apr_bps,
        instalments=instalments,
        method=method,
        start_date=JAN_1,
        first_due_date=JAN_31,
        fee_per_instalment=fee_per_instalment,
    )


def _flows(schedule: Schedule, disbursed: int | None = None) -> list[CashFlow]:
    amount = schedule.principal if disbursed is None else disbursed
    return loan_cash_flows([(schedule.start_at, amount)], schedule)


def test_exact_simple_interest_on_the_outstanding_costs_exactly_the_rate() -> None:
    # 30 days on 3,650,000 → 30,000; then 28 days on 1,825,000 → 14,000, both exact at 10 %.
    schedule = custom_schedule(
        principal=PRINCIPAL,
        start_date=JAN_1,
        instalments=[(JAN_31, 1_825_000, 30_000, 0), (date(2027, 2, 28), 1_825_000, 14_000, 0)],
    )
    flows = _flows(schedule)
    assert (npv_sign(flows, 999), npv_sign(flows, 1000), npv_sign(flows, 1001)) == (1, 0, -1)
    assert annual_cost_bps(flows) == 1000


def test_a_bullet_whose_interest_divides_exactly_costs_exactly_its_apr() -> None:
    schedule = _build()  # 30,000, 28,000 and 31,000 of interest: nothing rounded away
    assert annual_cost_bps(_flows(schedule)) == 1000
    assert not exceeds_cap(_flows(schedule), 1000)
    assert exceeds_cap(_flows(schedule), 999)


@pytest.mark.parametrize("method", METHODS)
def test_a_built_schedule_costs_its_apr_less_the_rounding(method: str) -> None:
    schedule = _build(principal=1_000_000, apr_bps=1200, instalments=12, method=method)
    cost = annual_cost_bps(_flows(schedule))
    assert cost is not None
    assert 1198 <= cost <= 1200


def test_an_up_front_deduction_raises_the_cost_well_above_the_apr() -> None:
    schedule = _build(principal=1_000_000, apr_bps=1200, instalments=12, method="annuity")
    cost = annual_cost_bps(_flows(schedule, disbursed=900_000))  # 10 % kept back at the start
    assert cost is not None
    assert cost > 3000
    assert exceeds_cap(_flows(schedule, disbursed=900_000), 3000)


def test_a_flat_fee_counts_as_cost() -> None:
    with_fee = _build(fee_per_instalment=1)
    assert exceeds_cap(_flows(with_fee), 1000)
    cost = annual_cost_bps(_flows(with_fee))
    assert cost is not None
    assert cost >= 1000


def test_disbursements_may_be_split() -> None:
    schedule = _build()
    whole = annual_cost_bps(_flows(schedule))
    start = schedule.start_at
    split = [(start, 1_000_000), (start, PRINCIPAL - 1_000_000)]
    assert annual_cost_bps(loan_cash_flows(split, schedule)) == whole
    late = annual_cost_bps(
        loan_cash_flows([(start, 1_000_000), (start + DAY, 2_650_000)], schedule)
    )
    assert late is not None
    assert whole is not None
    assert late > whole


def test_repaying_less_than_lent_costs_zero() -> None:
    assert annual_cost_bps([CashFlow(0, -1_000), CashFlow(DAY, 999)]) == 0


def test_repaying_the_same_amount_costs_zero() -> None:
    assert annual_cost_bps([CashFlow(0, -1_000), CashFlow(DAY, 1_000)]) == 0


def test_an_absurd_cost_stops_at_the_ceiling() -> None:
    assert annual_cost_bps([CashFlow(0, -1), CashFlow(DAY, 10**9)]) == MAX_COST_BPS


@pytest.mark.parametrize(
    "flows",
    [
        [],
        [CashFlow(0, -1_000)],
        [CashFlow(0, 1_000), CashFlow(DAY, 5)],
        [CashFlow(0, -1_000), CashFlow(0, 1_000)],  # nets to nothing
    ],
)
def test_no_cost_without_both_a_payout_and_a_receipt(flows: list[CashFlow]) -> None:
    assert annual_cost_bps(flows) is None


def test_flows_at_the_same_time_are_netted_and_order_does_not_matter() -> None:
    flows = [CashFlow(365 * DAY, 1_100), CashFlow(0, -1_500), CashFlow(0, 500)]
    assert annual_cost_bps(flows) == 1000  # lend 1,000, get 1,100 a year later
    assert npv_sign(flows, 1000) == 0


def test_loan_cash_flows_pays_out_then_receives_each_instalment() -> None:
    schedule = _build(fee_per_instalment=10)
    assert loan_cash_flows([(schedule.start_at, 3_000_000)], schedule) == [
        CashFlow(schedule.start_at, -3_000_000),
        *(CashFlow(i.due_at, i.amount) for i in schedule.instalments),
    ]


@pytest.mark.parametrize("amount", [0, -1, True])
def test_loan_cash_flows_rejects_a_non_positive_disbursement(amount: int) -> None:
    with pytest.raises(InvalidInput, match="disbursed"):
        loan_cash_flows([(0, amount)], _build())


@pytest.mark.parametrize("rate_bps", [-1, MAX_COST_BPS + 1, True])
def test_npv_sign_rejects_rates_outside_the_search(rate_bps: int) -> None:
    with pytest.raises(InvalidInput, match="rate_bps"):
        npv_sign([CashFlow(0, -1)], rate_bps)


def test_cash_flow_rejects_non_integers() -> None:
    with pytest.raises(InvalidInput, match="amount"):
        CashFlow(0, 1.5)  # type: ignore[arg-type]


def test_360_instalments_cost_well_under_50_ms() -> None:
    schedule = _build(principal=10**12, apr_bps=2400, instalments=360, method="annuity")
    flows = _flows(schedule)
    started = time.perf_counter()
    cost = annual_cost_bps(flows)
    elapsed = time.perf_counter() - started
    assert cost is not None
    assert 2390 <= cost <= 2400
    assert elapsed < 0.25  # about 10 ms on a laptop; generous for a loaded CI machine


flow_lists = st.lists(
    st.builds(CashFlow, st.integers(0, 30 * 365 * DAY), st.integers(-(10**12), 10**12)),
    min_size=1,
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(flow_lists)
def test_the_cost_brackets_the_root(flows: list[CashFlow]) -> None:
    cost = annual_cost_bps(flows)
    if cost is None:
        return
    if cost == MAX_COST_BPS:
        assert npv_sign(flows, MAX_COST_BPS) >= 0
    elif npv_sign(flows, 0) < 0:
        assert cost == 0
    else:
        assert npv_sign(flows, cost) >= 0
        assert npv_sign(flows, cost + 1) < 0


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 10**10),
    st.integers(0, 10_000),
    st.integers(1, 60),
    st.sampled_from(METHODS),
    st.lists(st.integers(0, 10**6), min_size=2, max_size=2),
)
def test_the_cost_grows_with_the_fee_and_never_goes_below_the_apr_minus_rounding(
    principal: int, apr_bps: int, instalments: int, method: str, fees: list[int]
) -> None:
    low_fee, high_fee = sorted(fees)
    costs = []
    for fee in (low_fee, high_fee):
        schedule = _build(principal, apr_bps, instalments, method, fee)
        costs.append(annual_cost_bps(_flows(schedule)))
    low, high = costs
    assert low is not None
    assert high is not None
    assert low <= high
    if low_fee == 0 and principal >= 10**6:
        assert apr_bps - 10 <= low <= apr_bps
