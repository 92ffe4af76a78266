"""Days past due, buckets, reminder stages, instalment states and loan delinquency."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.delinquency import (
    BUCKET_LABELS,
    SECONDS_PER_DAY,
    ReminderPolicy,
    Stage,
    bucket,
    current_stages,
    days_past_due,
    instalment_states,
    is_defaulted,
    loan_delinquency,
)
from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import Schedule, build_schedule

DAY = SECONDS_PER_DAY
DUE_AT = 1_801_353_600  # 2027-01-31T00:00:00Z
POLICY = ReminderPolicy(due_soon_days=3, grace_days=5, default_after_days=90)
TRACK_ONE = (Stage.DUE_SOON, Stage.DUE, Stage.OVERDUE)
BUCKET_STAGES = (Stage.BUCKET_1_30, Stage.BUCKET_31_60, Stage.BUCKET_61_90, Stage.BUCKET_90_PLUS)


def _bullet() -> Schedule:
    # Three instalments of 10,000, 10,000 and 1,010,000 due 2027-01-31, 02-28 and 03-31
    # (a flat 10,000 fee each, so the amounts do not depend on the day count).
    return build_schedule(
        principal=1_000_000,
        apr_bps=0,
        instalments=3,
        method="bullet",
        start_date=date(2027, 1, 1),
        first_due_date=date(2027, 1, 31),
        fee_per_instalment=10_000,
    )


def test_days_past_due_is_zero_until_the_next_calendar_day() -> None:
    assert days_past_due(DUE_AT, DUE_AT - 1) == 0
    assert days_past_due(DUE_AT, DUE_AT - 40 * DAY) == 0
    assert days_past_due(DUE_AT, DUE_AT) == 0
    assert days_past_due(DUE_AT, DUE_AT + DAY - 1) == 0
    assert days_past_due(DUE_AT, DUE_AT + DAY) == 1


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, 0), (1, 1), (30, 1), (31, 2), (60, 2), (61, 3), (90, 3), (91, 4), (10_000, 4)],
)
def test_bucket_boundaries(days: int, expected: int) -> None:
    assert bucket(days) == expected
    # The second before `days` full days have passed still counts one day fewer.
    assert days_past_due(DUE_AT, DUE_AT + days * DAY) == days
    if days > 0:
        assert days_past_due(DUE_AT, DUE_AT + days * DAY - 1) == days - 1
        assert bucket(days_past_due(DUE_AT, DUE_AT + days * DAY - 1)) == bucket(days - 1)


def test_bucket_labels_name_every_bucket() -> None:
    assert [BUCKET_LABELS[bucket(d)] for d in (0, 1, 31, 61, 91)] == [
        "current",
        "1-30",
        "31-60",
        "61-90",
        "90+",
    ]


def test_bucket_rejects_negative_days() -> None:
    with pytest.raises(InvalidInput, match="days"):
        bucket(-1)


@given(st.integers(-(2**40), 2**40), st.integers(-(2**40), 2**40))
def test_days_past_due_is_never_negative_and_matches_the_contract_formula(
    due_at: int, now: int
) -> None:
    days = days_past_due(due_at, now)
    assert days >= 0
    assert days == (0 if now < due_at else (now - due_at) // DAY)
    assert 0 <= bucket(days) <= 4


def test_stage_codes_match_the_contract() -> None:
    assert [int(s) for s in (*TRACK_ONE, *BUCKET_STAGES)] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("field", "value"),
    [("due_soon_days", -1), ("grace_days", -1), ("default_after_days", 0), ("grace_days", 2**16)],
)
def test_reminder_policy_rejects_out_of_range_days_naming_the_field(field: str, value: int) -> None:
    days = {"due_soon_days": 3, "grace_days": 5, "default_after_days": 90, field: value}
    with pytest.raises(InvalidInput, match=field):
        ReminderPolicy(**days)


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (-3 * DAY - 1, set()),
        (-3 * DAY, {Stage.DUE_SOON}),
        (-1, {Stage.DUE_SOON}),
        (0, {Stage.DUE}),
        (DAY - 1, {Stage.DUE}),
        (DAY, {Stage.DUE, Stage.BUCKET_1_30}),
        (5 * DAY - 1, {Stage.DUE, Stage.BUCKET_1_30}),
        (5 * DAY, {Stage.OVERDUE, Stage.BUCKET_1_30}),
        (31 * DAY, {Stage.OVERDUE, Stage.BUCKET_31_60}),
        (61 * DAY, {Stage.OVERDUE, Stage.BUCKET_61_90}),
        (91 * DAY - 1, {Stage.OVERDUE, Stage.BUCKET_61_90}),
        (91 * DAY, {Stage.OVERDUE, Stage.BUCKET_90_PLUS}),
    ],
)
def test_current_stages_at_each_boundary(offset: int, expected: set[Stage]) -> None:
    assert current_stages(DUE_AT, DUE_AT + offset, POLICY) == expected


def test_no_due_soon_stage_without_a_due_soon_window() -> None:
    policy = ReminderPolicy(due_soon_days=0, grace_days=0, default_after_days=1)
    assert current_stages(DUE_AT, DUE_AT - 1, policy) == set()
    assert current_stages(DUE_AT, DUE_AT, policy) == {Stage.OVERDUE}


policies = st.builds(
    ReminderPolicy,
    due_soon_days=st.integers(1, 10),
    grace_days=st.integers(1, 60),
    default_after_days=st.integers(1, 200),
)


@settings(max_examples=50)
@given(policies, st.integers(0, DAY - 1))
def test_each_stage_is_current_for_one_contiguous_interval_in_order(
    policy: ReminderPolicy, second_of_day: int
) -> None:
    timeline = [
        current_stages(DUE_AT, DUE_AT + day * DAY + second_of_day, policy)
        for day in range(-10, 121)
    ]
    assert all(len(stages & set(TRACK_ONE)) <= 1 for stages in timeline)
    assert all(len(stages & set(BUCKET_STAGES)) <= 1 for stages in timeline)
    for track in (TRACK_ONE, BUCKET_STAGES):
        starts = []
        for stage in track:
            steps = [k for k, stages in enumerate(timeline) if stage in stages]
            assert steps, f"{stage.name} never became current"
            assert steps == list(range(steps[0], steps[-1] + 1)), f"{stage.name} recurred"
            starts.append(steps[0])
        assert starts == sorted(starts)
        assert len(set(starts)) == len(starts)


def test_is_defaulted_only_after_more_than_default_after_days() -> None:
    assert not is_defaulted(DUE_AT, DUE_AT + 90 * DAY, POLICY)
    assert not is_defaulted(DUE_AT, DUE_AT + 91 * DAY - 1, POLICY)
    assert is_defaulted(DUE_AT, DUE_AT + 91 * DAY, POLICY)


def test_instalment_states_report_paid_partial_and_upcoming_before_the_first_due_date() -> None:
    states = instalment_states(_bullet(), 15_000, DUE_AT - DAY, POLICY)
    assert [(s.paid, s.status) for s in states] == [
        (10_000, "paid"),
        (5_000, "partial"),
        (0, "upcoming"),
    ]
    assert all(s.days_past_due == 0 and s.bucket == 0 for s in states)


def test_an_unpaid_instalment_is_due_within_grace_then_overdue() -> None:
    schedule = _bullet()
    assert instalment_states(schedule, 0, DUE_AT, POLICY)[0].status == "due"
    assert instalment_states(schedule, 0, DUE_AT + 5 * DAY - 1, POLICY)[0].status == "due"
    overdue = instalment_states(schedule, 0, DUE_AT + 5 * DAY, POLICY)[0]
    assert (overdue.status, overdue.days_past_due, overdue.bucket) == ("overdue", 5, 1)


def test_a_partially_paid_instalment_is_partial_until_it_is_overdue() -> None:
    schedule = _bullet()
    within_grace = instalment_states(schedule, 4_000, DUE_AT + DAY, POLICY)[0]
    assert (within_grace.status, within_grace.days_past_due, within_grace.bucket) == (
        "partial",
        1,
        1,
    )
    assert instalment_states(schedule, 4_000, DUE_AT + 5 * DAY, POLICY)[0].status == "overdue"


def test_paid_instalments_report_no_days_past_due() -> None:
    late = DUE_AT + 100 * DAY
    states = instalment_states(_bullet(), 20_000, late, POLICY)
    assert [(s.status, s.days_past_due, s.bucket) for s in states[:2]] == [
        ("paid", 0, 0),
        ("paid", 0, 0),
    ]
    assert (states[2].status, states[2].bucket) == ("overdue", 2)  # 100 − 59 = 41 days late


def test_loan_delinquency_follows_the_oldest_unpaid_instalment() -> None:
    schedule = _bullet()
    now = DUE_AT + 40 * DAY  # 2027-03-12: the first instalment is 40 days late, the second 12
    assert loan_delinquency(schedule, 0, now, POLICY) == (1_030_000, 40, 2)
    assert loan_delinquency(schedule, 10_000, now, POLICY) == (1_020_000, 12, 1)
    assert loan_delinquency(schedule, 20_000, now, POLICY) == (1_010_000, 0, 0)
    assert loan_delinquency(schedule, schedule.total, now + 365 * DAY, POLICY) == (0, 0, 0)


def test_loan_delinquency_rejects_overpayment() -> None:
    with pytest.raises(InvalidInput, match="repaid"):
        loan_delinquency(_bullet(), 1_030_001, DUE_AT, POLICY)
