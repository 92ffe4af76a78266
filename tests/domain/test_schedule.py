"""Repayment schedules: actual/365 examples, fees, due dates, custom plans, allocation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import (
    METHODS,
    YEAR_SECONDS_BPS,
    Instalment,
    Schedule,
    add_months,
    allocate,
    build_schedule,
    custom_schedule,
)

JAN_1 = date(2027, 1, 1)
JAN_31 = date(2027, 1, 31)
# At 10 % a year, 3,650,000 earns exactly 1,000 a day: interest = outstanding × days / 3,650.
PRINCIPAL = 3_650_000


def _build(
    principal: int = PRINCIPAL,
    apr_bps: int = 1000,
    instalments: int = 3,
    method: str = "annuity",
    start_date: date = JAN_1,
    first_due_date: date = JAN_31,
    fee_per_instalment: int = 0,
) -> Schedule:
    return build_schedule(
        principal=principal,
        apr_bps=apr_bps,
        instalments=instalments,
        method=method,
        start_date=start_date,
        first_due_date=first_due_date,
        fee_per_instalment=fee_per_instalment,
    )


def _parts(schedule: Schedule) -> list[tuple[int, int]]:
    return [(i.principal, i.interest) for i in schedule.instalments]


def test_bullet_interest_follows_the_actual_days_of_each_period() -> None:
    # 30 days (1 Jan → 31 Jan), 28 days (→ 28 Feb), 31 days (→ 31 Mar), 1,000 a day.
    schedule = _build(method="bullet")
    assert _parts(schedule) == [(0, 30_000), (0, 28_000), (PRINCIPAL, 31_000)]
    assert (schedule.principal, schedule.interest, schedule.fees) == (PRINCIPAL, 89_000, 0)
    assert schedule.total == 3_739_000


def test_a_long_first_period_carries_its_own_interest() -> None:
    # 1 Dec → 31 Jan is 61 days.
    schedule = _build(method="bullet", start_date=date(2026, 12, 1))
    assert schedule.instalments[0].interest == 61_000


def test_annuity_keeps_the_nominal_level_payment_and_lets_the_last_instalment_settle() -> None:
    # A = 3,650,000 × (1/120) / (1 − (121/120)^−3) = 1,237,000.54 → 1,237,001.
    # Interest: 30,000; 2,442,999 × 28 / 3,650 = 18,740.8 → 18,740;
    # 1,224,738 × 31 / 3,650 = 10,401.9 → 10,401 (rounded down).
    schedule = _build()
    assert _parts(schedule) == [(1_207_001, 30_000), (1_218_261, 18_740), (1_224_738, 10_401)]
    assert [i.amount for i in schedule.instalments] == [1_237_001, 1_237_001, 1_235_139]


def test_annuity_amounts_vary_with_the_month_length_but_principal_sums_exactly() -> None:
    schedule = _build(principal=1_000_000, apr_bps=1200, instalments=12)
    amounts = {i.amount for i in schedule.instalments[:-1]}
    assert amounts == {88_849}  # 1 % a month on 1,000,000 over 12 months, rounded half-up
    # January (30 days from the start) and February (28 days) differ in interest.
    first, second = schedule.instalments[0], schedule.instalments[1]
    assert (first.interest, second.interest) == (9_863, 8_478)
    assert schedule.principal == 1_000_000


def test_equal_principal_gives_the_remainder_to_the_first_instalments() -> None:
    # 2,433,333 × 28 / 3,650 = 18,666.7 → 18,666; 1,216,666 × 31 / 3,650 = 10,333.3 → 10,333.
    schedule = _build(method="equal_principal")
    assert _parts(schedule) == [(1_216_667, 30_000), (1_216_667, 18_666), (1_216_666, 10_333)]


def test_interest_rounds_down() -> None:
    # 1 × 1200 × 30 days / 365 days = 0.0099 → 0
    assert _parts(_build(principal=1, apr_bps=1200, instalments=1)) == [(1, 0)]


def test_every_instalment_carries_the_fee_and_the_total_includes_it() -> None:
    schedule = _build(method="bullet", fee_per_instalment=500)
    assert [(i.fees, i.amount) for i in schedule.instalments] == [
        (500, 30_500),
        (500, 28_500),
        (500, 3_681_500),
    ]
    assert (schedule.fees, schedule.total) == (1_500, 3_740_500)


def test_zero_apr_annuity_rounds_the_payment_half_up() -> None:
    # 5 / 2 = 2.5 → 3, so the last instalment repays only 2.
    assert _parts(_build(principal=5, apr_bps=0, instalments=2)) == [(3, 0), (2, 0)]


def test_annuity_never_repays_more_principal_than_is_outstanding() -> None:
    # 9 / 6 = 1.5 → 2: four payments of 2 leave 1, so the fifth repays 1 and the sixth 0.
    parts = _parts(_build(principal=9, apr_bps=0, instalments=6))
    assert [p for p, _ in parts] == [2, 2, 2, 2, 1, 0]


def test_zero_apr_bullet_leaves_zero_amount_instalments_before_the_last() -> None:
    # Documented edge: LoanLedger.registerLoan rejects zero-amount instalments.
    schedule = _build(principal=1_000, apr_bps=0, method="bullet")
    assert [i.amount for i in schedule.instalments] == [0, 0, 1_000]


@pytest.mark.parametrize("method", METHODS)
def test_one_instalment_repays_everything_with_one_period_of_interest(method: str) -> None:
    schedule = _build(instalments=1, method=method)
    assert _parts(schedule) == [(PRINCIPAL, 30_000)]
    assert schedule.last_due_at == schedule.instalments[0].due_at


def test_due_dates_keep_the_original_day_clamped_to_month_end() -> None:
    schedule = _build(instalments=4)
    assert [i.due_date for i in schedule.instalments] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]


def test_due_dates_clamp_to_the_29th_of_february_in_a_leap_year() -> None:
    schedule = _build(start_date=date(2028, 1, 1), first_due_date=date(2028, 1, 31))
    assert [i.due_date for i in schedule.instalments] == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]


def test_due_dates_cross_the_year_end() -> None:
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2027, 12, 15), 1) == date(2028, 1, 15)


def test_due_at_and_start_at_are_utc_midnight() -> None:
    schedule = _build(instalments=24)
    for instalment in schedule.instalments:
        day = instalment.due_date
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        assert instalment.due_at == int(midnight.timestamp())
    assert schedule.instalments[0].due_at == 1_801_353_600  # 2027-01-31T00:00:00Z
    assert schedule.start_at == 1_801_353_600 - 30 * 86_400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("principal", 0),
        ("principal", 2**53),
        ("principal", True),
        ("apr_bps", -1),
        ("apr_bps", 100_001),
        ("instalments", 0),
        ("instalments", 361),
        ("method", "balloon"),
        ("method", "custom"),
        ("fee_per_instalment", -1),
        ("fee_per_instalment", False),
        ("start_date", "2027-01-01"),
        ("start_date", JAN_31),
        ("start_date", date(2027, 2, 1)),
        ("first_due_date", "2027-01-31"),
        ("first_due_date", datetime(2027, 1, 31, tzinfo=UTC)),
    ],
)
def test_build_schedule_rejects_invalid_terms_naming_the_field(field: str, value: object) -> None:
    terms: dict[str, object] = {
        "principal": 1_000,
        "apr_bps": 1200,
        "instalments": 12,
        "method": "annuity",
        "start_date": JAN_1,
        "first_due_date": JAN_31,
        "fee_per_instalment": 0,
    }
    terms[field] = value
    with pytest.raises(InvalidInput, match=field):
        build_schedule(**terms)  # type: ignore[arg-type]


def test_build_schedule_rejects_a_start_before_the_unix_epoch() -> None:
    with pytest.raises(InvalidInput, match="start_date"):
        _build(start_date=date(1969, 12, 31), first_due_date=date(1970, 1, 31))


def test_build_schedule_rejects_a_schedule_running_past_year_9999() -> None:
    with pytest.raises(InvalidInput, match="first_due_date"):
        _build(instalments=2, start_date=date(9999, 12, 1), first_due_date=date(9999, 12, 31))


def test_custom_schedule_keeps_the_lenders_parts() -> None:
    plan = [
        (JAN_31, 0, 5_000, 100),
        (date(2027, 3, 15), 600, 2_000, 0),
        (date(2027, 6, 1), 400, 0, 0),
    ]
    schedule = custom_schedule(principal=1_000, start_date=JAN_1, instalments=plan)
    assert [(i.due_date, i.principal, i.interest, i.fees) for i in schedule.instalments] == plan
    assert (schedule.principal, schedule.interest, schedule.fees) == (1_000, 7_000, 100)
    assert [i.index for i in schedule.instalments] == [0, 1, 2]
    assert schedule.start_date == JAN_1


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ([], "1 to 360"),
        ([(JAN_31, 1, 0, 0)] * 361, "1 to 360"),
        ([(JAN_31, 500, 0, 0), (JAN_31, 500, 0, 0)], "not after"),
        ([(date(2027, 3, 1), 500, 0, 0), (JAN_31, 500, 0, 0)], "not after"),
        ([(JAN_1, 1_000, 0, 0)], "not after"),
        ([(JAN_31, 999, 0, 0)], "sum to 999"),
        ([(JAN_31, 0, 0, 0), (date(2027, 2, 28), 1_000, 0, 0)], "carry an amount"),
        ([(JAN_31, 1_000, -1, 0)], "interest must be between"),
        ([(JAN_31, 1_000, 0, True)], "fees must be an integer"),
        ([(JAN_31, 1_000, 0)], "due_date, principal"),
        ([("2027-01-31", 1_000, 0, 0)], "due_date must be a date"),
    ],
)
def test_custom_schedule_rejects_an_invalid_plan(plan: list[object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        custom_schedule(principal=1_000, start_date=JAN_1, instalments=plan)  # type: ignore[arg-type]


def test_schedule_rejects_instalments_out_of_index_order() -> None:
    instalment = _build(instalments=1).instalments[0]
    with pytest.raises(InvalidInput, match="index"):
        Schedule((replace(instalment, index=1),), JAN_1)


@pytest.mark.parametrize(
    ("field", "value"), [("principal", -1), ("interest", True), ("fees", 1.5), ("due_at", 0)]
)
def test_instalment_rejects_invalid_parts(field: str, value: object) -> None:
    parts: dict[str, object] = {
        "index": 0,
        "due_date": JAN_31,
        "due_at": 1_801_353_600,
        "principal": 1,
        "interest": 0,
        "fees": 0,
    }
    parts[field] = value
    with pytest.raises(InvalidInput, match=field):
        Instalment(**parts)  # type: ignore[arg-type]


def test_allocate_pays_the_oldest_instalment_first() -> None:
    schedule = _build(method="bullet")
    assert allocate(schedule, 0) == [0, 0, 0]
    assert allocate(schedule, 45_000) == [30_000, 15_000, 0]
    assert allocate(schedule, 58_000) == [30_000, 28_000, 0]
    assert allocate(schedule, schedule.total) == [30_000, 28_000, 3_681_000]


@pytest.mark.parametrize("repaid", [-1, 3_739_001])
def test_allocate_rejects_amounts_outside_zero_to_total(repaid: int) -> None:
    with pytest.raises(InvalidInput, match="repaid"):
        allocate(_build(method="bullet"), repaid)


@st.composite
def terms(draw: st.DrawFn) -> dict[str, object]:
    start = draw(st.dates(date(1970, 1, 1), date(2400, 12, 31)))
    return {
        "principal": draw(st.integers(1, 10**12)),
        "apr_bps": draw(st.integers(0, 100_000)),
        "instalments": draw(st.integers(1, 360)),
        "method": draw(st.sampled_from(METHODS)),
        "start_date": start,
        "first_due_date": start.fromordinal(start.toordinal() + draw(st.integers(1, 400))),
        "fee_per_instalment": draw(st.integers(0, 10_000)),
    }


@settings(max_examples=150, deadline=None)
@given(terms())
def test_schedule_parts_are_non_negative_exact_and_sum_to_the_principal(
    kwargs: dict[str, object],
) -> None:
    schedule = build_schedule(**kwargs)  # type: ignore[arg-type]
    instalments = schedule.instalments
    assert len(instalments) == kwargs["instalments"]
    assert [i.index for i in instalments] == list(range(len(instalments)))
    assert all(i.principal >= 0 and i.interest >= 0 for i in instalments)
    assert all(i.fees == kwargs["fee_per_instalment"] for i in instalments)
    assert sum(i.principal for i in instalments) == kwargs["principal"]
    assert sum(i.amount for i in instalments) == schedule.total
    assert schedule.total == schedule.principal + schedule.interest + schedule.fees
    assert all(a.due_at < b.due_at for a, b in pairwise(instalments))
    assert schedule.start_at < instalments[0].due_at
    outstanding, previous = schedule.principal, schedule.start_at
    for instalment in instalments:
        seconds = instalment.due_at - previous
        expected = outstanding * kwargs["apr_bps"] * seconds // YEAR_SECONDS_BPS  # type: ignore[operator]
        assert instalment.interest == expected
        outstanding -= instalment.principal
        previous = instalment.due_at


@settings(max_examples=100, deadline=None)
@given(terms(), st.data())
def test_allocate_is_bounded_monotone_and_sums_to_repaid(
    kwargs: dict[str, object], data: st.DataObject
) -> None:
    schedule = build_schedule(**kwargs)  # type: ignore[arg-type]
    low, high = sorted(data.draw(st.lists(st.integers(0, schedule.total), min_size=2, max_size=2)))
    paid_low, paid_high = allocate(schedule, low), allocate(schedule, high)
    amounts = [i.amount for i in schedule.instalments]
    for paid, repaid in ((paid_low, low), (paid_high, high)):
        assert sum(paid) == repaid
        assert all(0 <= p <= a for p, a in zip(paid, amounts, strict=True))
        # Oldest first: an instalment receives money only once every earlier one is paid.
        first_short = next((k for k, a in enumerate(amounts) if paid[k] < a), len(paid))
        assert all(p == 0 for p in paid[first_short + 1 :])
    assert all(a <= b for a, b in zip(paid_low, paid_high, strict=True))
