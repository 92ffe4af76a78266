"""The rate-cap check: hand-computed examples and the schedules it must accept or refuse."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.ratecap import (
    RATE_CAP_MULTIPLIER,
    CapBreach,
    allowed_charges,
    cap_breaches,
    cap_from_lpr,
)
from loantrace.domain.schedule import METHODS, Schedule, build_schedule, custom_schedule

DAY = 86_400
JAN_1 = date(2027, 1, 1)
# At 10 % a year, 3,650,000 may be charged exactly 1,000 a day.
PRINCIPAL = 3_650_000


def test_cap_is_four_times_the_lpr() -> None:
    assert RATE_CAP_MULTIPLIER == 4
    assert cap_from_lpr(345) == 1_380
    assert cap_from_lpr(25_000) == 100_000


@pytest.mark.parametrize("lpr_bps", [0, -1, 25_001, True])
def test_cap_from_lpr_refuses_what_the_ledger_refuses(lpr_bps: int) -> None:
    with pytest.raises(InvalidInput, match="lpr_bps"):
        cap_from_lpr(lpr_bps)


def test_allowed_charges_is_actual_365_rounded_down() -> None:
    assert allowed_charges(PRINCIPAL, 1000, 30 * DAY) == 30_000
    # 2,000,000 × 10 % × 28 / 365 = 15,342.47 → 15,342
    assert allowed_charges(2_000_000, 1000, 28 * DAY) == 15_342
    assert allowed_charges(PRINCIPAL, 1000, 30 * DAY - 1) == 29_999
    assert allowed_charges(0, 1000, DAY) == 0


@pytest.mark.parametrize(("outstanding", "cap_bps", "seconds"), [(-1, 0, 0), (0, True, 0)])
def test_allowed_charges_rejects_bad_input(outstanding: int, cap_bps: int, seconds: int) -> None:
    with pytest.raises(InvalidInput):
        allowed_charges(outstanding, cap_bps, seconds)


def _plan(second_interest: int, second_fees: int = 0) -> Schedule:
    return custom_schedule(
        principal=PRINCIPAL,
        start_date=JAN_1,
        instalments=[
            (date(2027, 1, 31), 1_650_000, 30_000, 0),  # 30 days on 3,650,000: 30,000 allowed
            (date(2027, 2, 28), 2_000_000, second_interest, second_fees),  # 15,342 allowed
        ],
    )


def test_charges_at_the_allowed_amount_pass() -> None:
    assert cap_breaches(_plan(15_342), principal=PRINCIPAL, cap_bps=1000) == []
    assert cap_breaches(_plan(15_000, 342), principal=PRINCIPAL, cap_bps=1000) == []


def test_fees_count_towards_the_cap() -> None:
    assert cap_breaches(_plan(15_000, 343), principal=PRINCIPAL, cap_bps=1000) == [
        CapBreach(index=1, charges=15_343, allowed=15_342, seconds=28 * DAY)
    ]


def test_every_breaching_instalment_is_reported() -> None:
    # At 9.99 %: 3,650,000 × 30 days → 29,970; 2,000,000 × 28 days → 15,327.1 → 15,327.
    assert cap_breaches(_plan(15_343), principal=PRINCIPAL, cap_bps=999) == [
        CapBreach(index=0, charges=30_000, allowed=29_970, seconds=30 * DAY),
        CapBreach(index=1, charges=15_343, allowed=15_327, seconds=28 * DAY),
    ]


def test_a_flat_fee_can_push_a_schedule_at_the_cap_over_it() -> None:
    schedule = build_schedule(
        principal=PRINCIPAL,
        apr_bps=1000,
        instalments=3,
        method="bullet",
        start_date=JAN_1,
        first_due_date=date(2027, 1, 31),
        fee_per_instalment=1,
    )
    assert [b.index for b in cap_breaches(schedule, principal=PRINCIPAL, cap_bps=1000)] == [0, 1, 2]
    assert cap_breaches(schedule, principal=PRINCIPAL, cap_bps=1001) == []


def test_cap_breaches_rejects_a_schedule_for_another_principal() -> None:
    with pytest.raises(InvalidInput, match="principal"):
        cap_breaches(_plan(0), principal=PRINCIPAL + 1, cap_bps=1000)


@st.composite
def schedules_at(draw: st.DrawFn, rate: st.SearchStrategy[int]) -> tuple[Schedule, int, int]:
    start = draw(st.dates(date(1970, 1, 1), date(2400, 12, 31)))
    principal = draw(st.integers(1, 10**12))
    apr_bps = draw(rate)
    schedule = build_schedule(
        principal=principal,
        apr_bps=apr_bps,
        instalments=draw(st.integers(1, 360)),
        method=draw(st.sampled_from(METHODS)),
        start_date=start,
        first_due_date=date.fromordinal(start.toordinal() + draw(st.integers(1, 400))),
    )
    return schedule, principal, apr_bps


@settings(max_examples=150, deadline=None)
@given(schedules_at(st.integers(0, 100_000)), st.data())
def test_a_schedule_built_at_or_below_the_cap_never_breaches_it(
    built: tuple[Schedule, int, int], data: st.DataObject
) -> None:
    schedule, principal, apr_bps = built
    cap_bps = data.draw(st.integers(apr_bps, 100_000))
    assert cap_breaches(schedule, principal=principal, cap_bps=cap_bps) == []


@settings(max_examples=150, deadline=None)
@given(schedules_at(st.integers(0, 100_000)), st.data())
def test_one_unit_above_the_allowed_interest_is_exactly_one_breach(
    built: tuple[Schedule, int, int], data: st.DataObject
) -> None:
    schedule, principal, cap_bps = built  # built at the cap: every interest is the allowed amount
    k = data.draw(st.integers(0, len(schedule.instalments) - 1))
    instalments = list(schedule.instalments)
    instalments[k] = replace(instalments[k], interest=instalments[k].interest + 1)
    bumped = replace(schedule, instalments=tuple(instalments))
    breaches = cap_breaches(bumped, principal=principal, cap_bps=cap_bps)
    assert [(b.index, b.charges - b.allowed) for b in breaches] == [(k, 1)]
