"""Reminders raised by the LoanLedger itself: each stage once, nothing forged, bounded gas."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode

from loantrace.chain.ledger import LoanStatus, RaisedReminder, encode_perform_data
from loantrace.domain.errors import InvalidInput, NotFound
from tests.chain.conftest import DAY, LedgerEnv, ref
from tests.chain.test_reminder_catchup import reached_in_order

DUE_SOON, DUE, OVERDUE, B1, B2, B3, B4 = range(1, 8)


def _keep(env: LedgerEnv) -> list[RaisedReminder]:
    """Run one keeper round: check, and perform whatever was found."""
    upkeep = env.ledger.check_upkeep()
    if not upkeep.needed:
        return []
    return env.ledger.reminders_in(env.ledger.perform_upkeep(upkeep.perform_data))


def _amount(env: LedgerEnv, loan_id: bytes, index: int) -> int:
    """What instalment `index` asks: its principal plus interest and fees."""
    instalment, _reminded = env.ledger.instalment_of(loan_id, index)
    return instalment.principal + instalment.charges


def _go_to(env: LedgerEnv, timestamp: int) -> None:
    env.rt.node.advance_time(timestamp - env.rt.node.now())


def test_time_travel_raises_each_stage_exactly_once(env: LedgerEnv) -> None:
    loan_id = env.active(n=1, first_in_days=30)
    due_at = env.ledger.instalment_of(loan_id, 0)[0].due_at
    raised: list[RaisedReminder] = []
    for offset in (
        -10 * DAY,
        -2 * DAY,
        -DAY,
        3600,
        DAY + 60,
        2 * DAY,
        4 * DAY,
        20 * DAY,
        31 * DAY,
        45 * DAY,
        61 * DAY,
        91 * DAY,
        120 * DAY,
    ):
        _go_to(env, due_at + offset)
        raised += _keep(env)
        raised += _keep(env)  # a second round finds nothing new
    assert [r.stage for r in raised] == [DUE_SOON, DUE, B1, OVERDUE, B2, B3, B4]
    assert {r.loan_id for r in raised} == {"0x" + loan_id.hex()}
    assert all(r.amount_due == _amount(env, loan_id, 0) and r.due_at == due_at for r in raised)
    by_stage = {r.stage: r.days_past_due for r in raised}
    assert (by_stage[DUE_SOON], by_stage[B1], by_stage[B2], by_stage[B4]) == (0, 1, 31, 91)
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert loan.status is LoanStatus.DEFAULTED
    assert env.ledger.days_past_due(loan_id) == (120, 4)


def test_forged_or_stale_perform_data_emits_nothing(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    loan_id = env.active(n=2, first_in_days=30)
    due_at = env.ledger.instalment_of(loan_id, 0)[0].due_at
    _go_to(env, due_at - 2 * DAY)  # only DUE_SOON of instalment 0 is current
    forged = encode_perform_data(
        [
            (b"\x66" * 32, 0, DUE_SOON),  # unknown loan
            (loan_id, 7, DUE_SOON),  # no such instalment
            (loan_id, 1, DUE_SOON),  # instalment 1 is not due soon
            (loan_id, 0, OVERDUE),  # not overdue yet
            (loan_id, 0, B4),  # not in any bucket
            (loan_id, 0, 0),  # no stage
            (loan_id, 0, 99),  # not a stage
        ]
    )
    assert env.ledger.reminders_in(env.ledger.perform_upkeep(forged)) == []
    stale = env.ledger.check_upkeep()
    assert stale.entries == (("0x" + loan_id.hex(), 0, DUE_SOON),)
    env.ledger.record_repayment(loan_id, _amount(env, loan_id, 0), b"\2" * 32, ref())  # paid
    assert env.ledger.reminders_in(env.ledger.perform_upkeep(stale.perform_data)) == []
    assert env.ledger.check_upkeep().needed is False
    twice = encode_perform_data([(loan_id, 1, DUE_SOON), (loan_id, 1, DUE_SOON)])
    _go_to(env, due_at + 28 * DAY)
    assert [r.stage for r in env.ledger.reminders_in(env.ledger.perform_upkeep(twice))] == [
        DUE_SOON
    ]


def test_perform_data_over_the_bound_or_malformed_reverts(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    too_long = encode_perform_data([(b"\1" * 32, 0, 1)] * 33)
    with pytest.raises(InvalidInput, match="LoanLedgerPerformDataTooLong"):
        env.ledger.perform_upkeep(too_long)
    mismatched = encode(["bytes32[]", "uint16[]", "uint8[]"], [[b"\1" * 32], [0, 1], [1]])
    with pytest.raises(InvalidInput, match="LoanLedgerPerformDataTooLong"):
        env.ledger.perform_upkeep(mismatched)


def test_loans_not_disbursed_or_repaid_raise_no_reminders(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    env.register(n=1, first_in_days=5)
    repaid = env.active(n=1, first_in_days=5)
    env.ledger.record_repayment(repaid, _amount(env, repaid, 0), b"\2" * 32, ref())
    env.rt.node.advance_time(10 * DAY)
    assert env.ledger.check_upkeep().needed is False


def test_check_upkeep_returns_at_most_the_bound_then_the_rest(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    loans = [env.active(n=1, first_in_days=10) for _ in range(9)]
    env.rt.node.advance_time(15 * DAY)  # each: DUE_SOON, DUE, B1, OVERDUE = 36 reminders
    first = env.ledger.check_upkeep()
    assert len(first.entries) == 32
    result = env.ledger.perform_upkeep(first.perform_data)
    assert len(env.ledger.reminders_in(result)) == 32
    rest = env.ledger.check_upkeep()
    assert len(rest.entries) == 4
    assert len(env.ledger.reminders_in(env.ledger.perform_upkeep(rest.perform_data))) == 4
    assert env.ledger.check_upkeep().needed is False
    page = env.ledger.check_upkeep(start=8, count=5)
    assert page.needed is False
    assert len(loans) == 9


def test_update_status_defaults_only_past_the_default_age(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    loan_id = env.active(n=1, first_in_days=1)
    env.rt.node.advance_time(60 * DAY)
    env.ledger.update_status(loan_id)
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert loan.status is LoanStatus.ACTIVE
    env.rt.node.advance_time(32 * DAY)
    env.ledger.update_status(loan_id)
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert loan.status is LoanStatus.DEFAULTED
    env.ledger.record_repayment(loan_id, _amount(env, loan_id, 0), b"\2" * 32, ref())  # recovery
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert loan.status is LoanStatus.REPAID
    with pytest.raises(NotFound, match="LoanLedgerUnknownLoan"):
        env.ledger.update_status(b"\x12" * 32)


def test_perform_upkeep_gas_is_bounded(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    loans = [env.active(n=1, first_in_days=10) for _ in range(32)]
    env.rt.node.advance_time(15 * DAY)
    one = env.ledger.perform_upkeep(encode_perform_data([(loans[0], 0, DUE_SOON)]))
    # the worst case: one stage of each loan, each in its own storage slot
    spread = encode_perform_data([(loan, 0, DUE_SOON) for loan in loans[1:]])
    spread_result = env.ledger.perform_upkeep(spread)
    # two stages of each of 16 loans, as a keeper on time would raise them
    paired = encode_perform_data([(loan, 0, s) for loan in loans[:16] for s in (DUE, B1)])
    paired_result = env.ledger.perform_upkeep(paired)
    # what checkUpkeep finds now: the remaining stages, loan by loan
    found = env.ledger.perform_upkeep(env.ledger.check_upkeep().perform_data)
    for label, result, count in (
        ("1 reminder", one, 1),
        ("31 reminders, 1 per loan", spread_result, 31),
        ("32 reminders, 2 per loan", paired_result, 32),
        ("32 reminders, as found", found, 32),
    ):
        assert len(env.ledger.reminders_in(result)) == count, label
        print(f"performUpkeep gas, {label}: {result.gas_used}")
    assert one.gas_used < 80_000
    assert max(r.gas_used for r in (spread_result, paired_result, found)) < 32 * 20_000


def test_days_past_due_and_bucket_match_the_python_domain(embedded_env: LedgerEnv) -> None:
    from loantrace.domain.delinquency import ReminderPolicy, bucket, current_stages, days_past_due

    env = embedded_env
    loan_id = env.active(n=1, first_in_days=2)
    due_at = env.ledger.instalment_of(loan_id, 0)[0].due_at
    policy = ReminderPolicy(3, 3, 90)
    for offset in (
        -DAY,
        -1,
        0,
        1,
        DAY - 1,
        DAY,
        30 * DAY,
        31 * DAY - 1,
        31 * DAY,
        61 * DAY,
        91 * DAY,
        91 * DAY + 5,
    ):
        _go_to(env, due_at + offset)
        now = env.rt.node.now()
        expected = days_past_due(due_at, now)
        assert env.ledger.days_past_due(loan_id) == (expected, bucket(expected)), offset
        found = [stage for _id, _i, stage in env.ledger.check_upkeep().entries]
        assert set(current_stages(due_at, now, policy)) <= set(found), offset
        assert found == reached_in_order(due_at, now, policy.due_soon_days, policy.grace_days)
