"""Repayment schedules: hand-computed examples, due dates, validation, oldest-first allocation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import METHODS, Schedule, add_months, allocate, build_schedule

JAN_31 = date(2027, 1, 31)


def _build(
    principal: int = 1_000_000,
    apr_bps: int = 1200,
    instalments: int = 12,
    method: str = "annuity",
    first_due_date: date = JAN_31,
) -> Schedule:
    return build_schedule(
        principal=principal,
        apr_bps=apr_bps,
        instalments=instalments,
        method=method,
        first_due_date=first_due_date,
    )


def _parts(schedule: Schedule) -> list[tuple[int, int]]:
    return [(i.principal, i.interest) for i in schedule.instalments]


def test_annuity_pays_the_rounded_level_payment_until_the_last_instalment() -> None:
    # 1,000,000 × 0.01 / (1 − 1.01^−12) = 88,848.79 → 88,849; first interest 1 % of 1,000,000.
    schedule = _build()
    first, second, last = schedule.instalments[0], schedule.instalments[1], schedule.instalments[-1]
    assert (first.principal, first.interest, first.amount) == (78_849, 10_000, 88_849)
    # 921,151 × 0.01 = 9,211.51 → 9,212
    assert (second.principal, second.interest, second.amount) == (79_637, 9_212, 88_849)
    assert all(i.amount == 88_849 for i in schedule.instalments[:-1])
    # The last instalment repays the remaining 87,967 with 879.67 → 880 of interest.
    assert (last.principal, last.interest, last.amount) == (87_967, 880, 88_847)
    assert (schedule.principal, schedule.interest, schedule.total) == (
        1_000_000,
        66_186,
        1_066_186,
    )


def test_equal_principal_gives_the_remainder_to_the_first_instalments() -> None:
    schedule = _build(instalments=3, method="equal_principal")
    # Interest: 1 % of 1,000,000; of 666,666 (6,666.66 → 6,667); of 333,333 (3,333.33 → 3,333).
    assert _parts(schedule) == [(333_334, 10_000), (333_333, 6_667), (333_333, 3_333)]
    assert schedule.total == 1_020_000


def test_bullet_pays_interest_every_period_and_principal_at_the_end() -> None:
    schedule = _build(instalments=3, method="bullet")
    assert _parts(schedule) == [(0, 10_000), (0, 10_000), (1_000_000, 10_000)]


def test_bullet_interest_rounds_half_up() -> None:
    # 150 × 1200 / 120,000 = 1.5 → 2
    assert _parts(_build(principal=150, instalments=2, method="bullet")) == [(0, 2), (150, 2)]


def test_zero_apr_annuity_splits_the_principal_with_the_last_instalment_taking_the_rest() -> None:
    schedule = _build(principal=1_000_000, apr_bps=0, instalments=3)
    assert _parts(schedule) == [(333_333, 0), (333_333, 0), (333_334, 0)]


def test_zero_apr_annuity_rounds_the_payment_half_up() -> None:
    # 5 / 2 = 2.5 → 3, so the last instalment repays only 2.
    assert _parts(_build(principal=5, apr_bps=0, instalments=2)) == [(3, 0), (2, 0)]


def test_annuity_never_repays_more_principal_than_is_outstanding() -> None:
    # 9 / 6 = 1.5 → 2: four payments of 2 leave 1, so the fifth repays 1 and the sixth 0.
    assert [p for p, _ in _parts(_build(principal=9, apr_bps=0, instalments=6))] == [
        2,
        2,
        2,
        2,
        1,
        0,
    ]


def test_zero_apr_bullet_leaves_zero_amount_instalments_before_the_last() -> None:
    # Documented edge: LoanLedger.registerLoan rejects zero-amount instalments.
    schedule = _build(principal=1_000, apr_bps=0, instalments=3, method="bullet")
    assert [i.amount for i in schedule.instalments] == [0, 0, 1_000]


@pytest.mark.parametrize("method", METHODS)
def test_one_instalment_repays_everything_with_one_period_of_interest(method: str) -> None:
    schedule = _build(instalments=1, method=method)
    assert _parts(schedule) == [(1_000_000, 10_000)]
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
    schedule = _build(instalments=3, first_due_date=date(2028, 1, 31))
    assert [i.due_date for i in schedule.instalments] == [
        date(2028, 1, 31),
        date(2028, 2, 29),
        date(2028, 3, 31),
    ]


def test_due_dates_cross_the_year_end() -> None:
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    assert add_months(date(2027, 12, 15), 1) == date(2028, 1, 15)


def test_due_at_is_utc_midnight_of_the_due_date() -> None:
    for instalment in _build(instalments=24).instalments:
        midnight = datetime(
            instalment.due_date.year, instalment.due_date.month, instalment.due_date.day, tzinfo=UTC
        )
        assert instalment.due_at == int(midnight.timestamp())
    assert _build(instalments=1).instalments[0].due_at == 1_801_353_600  # 2027-01-31T00:00:00Z


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
        "first_due_date": JAN_31,
    }
    terms[field] = value
    with pytest.raises(InvalidInput, match=field):
        build_schedule(**terms)  # type: ignore[arg-type]


def test_build_schedule_rejects_a_schedule_running_past_year_9999() -> None:
    with pytest.raises(InvalidInput, match="first_due_date"):
        _build(instalments=2, first_due_date=date(9999, 12, 31))


def test_allocate_pays_the_oldest_instalment_first() -> None:
    schedule = _build(instalments=3, method="bullet")
    assert allocate(schedule, 0) == [0, 0, 0]
    assert allocate(schedule, 15_000) == [10_000, 5_000, 0]
    assert allocate(schedule, 20_000) == [10_000, 10_000, 0]
    assert allocate(schedule, schedule.total) == [10_000, 10_000, 1_010_000]


@pytest.mark.parametrize("repaid", [-1, 1_030_001])
def test_allocate_rejects_amounts_outside_zero_to_total(repaid: int) -> None:
    with pytest.raises(InvalidInput, match="repaid"):
        allocate(_build(instalments=3, method="bullet"), repaid)


terms = st.fixed_dictionaries(
    {
        "principal": st.integers(1, 10**12),
        "apr_bps": st.integers(0, 100_000),
        "instalments": st.integers(1, 360),
        "method": st.sampled_from(METHODS),
        "first_due_date": st.dates(date(1970, 1, 1), date(2500, 12, 31)),
    }
)


@settings(max_examples=150, deadline=None)
@given(terms)
def test_schedule_parts_are_non_negative_and_sum_exactly(kwargs: dict[str, object]) -> None:
    schedule = build_schedule(**kwargs)  # type: ignore[arg-type]
    instalments = schedule.instalments
    assert len(instalments) == kwargs["instalments"]
    assert [i.index for i in instalments] == list(range(len(instalments)))
    assert all(i.principal >= 0 and i.interest >= 0 for i in instalments)
    assert sum(i.principal for i in instalments) == kwargs["principal"]
    assert sum(i.amount for i in instalments) == schedule.principal + schedule.interest
    assert schedule.total == schedule.principal + schedule.interest
    assert all(a.due_date < b.due_date for a, b in pairwise(instalments))
    assert all(a.due_at < b.due_at for a, b in pairwise(instalments))
    assert schedule.last_due_at == instalments[-1].due_at


@settings(max_examples=100, deadline=None)
@given(terms, st.data())
def test_allocate_is_bounded_monotone_and_sums_to_repaid(
    kwargs: dict[str, object], data: st.DataObject
) -> None:
    schedule = build_schedule(**kwargs)  # type: ignore[arg-type]
    low, high = sorted(data.draw(st.lists(st.integers(0, schedule.total), min_size=2, max_size=2)))
    paid_low, paid_high = allocate(schedule, low), allocate(schedule, high)
    for paid, repaid in ((paid_low, low), (paid_high, high)):
        assert sum(paid) == repaid
        assert all(0 <= p <= i.amount for p, i in zip(paid, schedule.instalments, strict=True))
        # Oldest first: an instalment receives money only once every earlier one is paid.
        amounts = [i.amount for i in schedule.instalments]
        first_short = next((k for k, a in enumerate(amounts) if paid[k] < a), len(paid))
        assert all(p == 0 for p in paid[first_short + 1 :])
    assert all(a <= b for a, b in zip(paid_low, paid_high, strict=True))
