"""A late keeper catches up: every stage reached is raised once, in the order it began."""

from __future__ import annotations

import pytest

from loantrace.chain.ledger import RaisedReminder, encode_perform_data
from tests.chain.conftest import DAY, LedgerEnv, ref

DUE_SOON, DUE, OVERDUE, B1, B2, B3, B4 = range(1, 8)
_BUCKET_DAYS = {B1: 1, B2: 31, B3: 61, B4: 91}


def reached_in_order(due_at: int, now: int, due_soon_days: int, grace_days: int) -> list[int]:
    """Reference: the stages begun by `now`, by when they began, ties by stage number."""
    begins = {DUE: due_at, OVERDUE: due_at + grace_days * DAY}
    begins |= {stage: due_at + days * DAY for stage, days in _BUCKET_DAYS.items()}
    if due_soon_days > 0:
        begins[DUE_SOON] = due_at - due_soon_days * DAY
    return sorted((s for s, at in begins.items() if at <= now), key=lambda s: (begins[s], s))


def _keep(env: LedgerEnv) -> list[RaisedReminder]:
    """Run one keeper round: check, and perform whatever was found."""
    upkeep = env.ledger.check_upkeep()
    if not upkeep.needed:
        return []
    return env.ledger.reminders_in(env.ledger.perform_upkeep(upkeep.perform_data))


def _perform(env: LedgerEnv, *entries: tuple[bytes, int, int]) -> list[int]:
    """Perform hand-made entries; return the stages raised."""
    result = env.ledger.perform_upkeep(encode_perform_data(list(entries)))
    return [r.stage for r in env.ledger.reminders_in(result)]


def _go_to(env: LedgerEnv, timestamp: int) -> None:
    env.rt.node.advance_time(timestamp - env.rt.node.now())


def _set_policy(env: LedgerEnv, due_soon_days: int, grace_days: int) -> None:
    policy = (due_soon_days, grace_days, 90)
    env.ledger.transactor.send(env.ledger.contract.functions.setReminderPolicy(policy))


def _due_at(env: LedgerEnv, loan_id: bytes, index: int = 0) -> int:
    return env.ledger.instalment_of(loan_id, index)[0].due_at


def test_a_keeper_down_past_several_stages_raises_each_once_in_order(env: LedgerEnv) -> None:
    loan_id = env.active(n=1, first_in_days=30)
    due_at = _due_at(env, loan_id)
    _go_to(env, due_at - 10 * DAY)
    assert _keep(env) == []  # then the keeper goes down until 40 days past due
    _go_to(env, due_at + 40 * DAY)
    raised = _keep(env)
    assert [r.stage for r in raised] == [DUE_SOON, DUE, B1, OVERDUE, B2]
    assert {(r.instalment, r.due_at, r.days_past_due) for r in raised} == {(0, due_at, 40)}
    assert len({r.tx_hash for r in raised}) == 1  # one upkeep
    assert _keep(env) == []
    assert env.ledger.instalment_of(loan_id, 0)[1] == sum(1 << s for s in (1, 2, 3, 4, 5))


def test_perform_accepts_a_reached_stage_that_is_no_longer_current(
    embedded_env: LedgerEnv,
) -> None:
    env = embedded_env
    loan_id = env.active(n=1, first_in_days=30)
    _go_to(env, _due_at(env, loan_id) + 5 * DAY)  # overdue, in bucket 1-30
    assert _perform(env, (loan_id, 0, DUE), (loan_id, 0, DUE_SOON)) == [DUE, DUE_SOON]
    assert env.ledger.check_upkeep().entries == (
        ("0x" + loan_id.hex(), 0, B1),
        ("0x" + loan_id.hex(), 0, OVERDUE),
    )


def test_forged_catch_up_entries_emit_nothing(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    loan_id = env.active(n=2, first_in_days=30)
    registered = env.register(n=1, first_in_days=1)  # never disbursed: not active
    due_at = _due_at(env, loan_id)
    _go_to(env, due_at + 5 * DAY)
    instalment, _ = env.ledger.instalment_of(loan_id, 0)
    env.ledger.record_repayment(
        loan_id, instalment.principal + instalment.charges, b"\2" * 32, ref()
    )
    assert (
        _perform(
            env,
            (loan_id, 0, DUE),  # reached, never raised, but paid
            (loan_id, 0, DUE_SOON),  # likewise
            (loan_id, 1, DUE_SOON),  # instalment 1 is not due soon yet
            (loan_id, 1, B2),  # nor in any bucket
            (registered, 0, DUE),  # reached, but the loan is not active
            (b"\x66" * 32, 0, DUE),  # unknown loan
        )
        == []
    )
    _go_to(env, _due_at(env, loan_id, 1) + 2 * DAY)
    assert _perform(env, (loan_id, 1, B1), (loan_id, 1, B2), (loan_id, 1, OVERDUE)) == [B1]
    assert _perform(env, (loan_id, 1, B1), (loan_id, 1, DUE), (loan_id, 1, DUE)) == [DUE]


def test_no_due_soon_is_raised_when_due_soon_days_is_zero(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    _set_policy(env, 0, 3)
    loan_id = env.active(n=1, first_in_days=10)
    due_at = _due_at(env, loan_id)
    _go_to(env, due_at - 1)
    assert env.ledger.check_upkeep().needed is False
    assert _perform(env, (loan_id, 0, DUE_SOON)) == []
    _go_to(env, due_at + 40 * DAY)
    assert _perform(env, (loan_id, 0, DUE_SOON)) == []
    assert [r.stage for r in _keep(env)] == [DUE, B1, OVERDUE, B2]
    assert _keep(env) == []
    assert env.ledger.instalment_of(loan_id, 0)[1] & (1 << DUE_SOON) == 0


@pytest.mark.parametrize("grace_days", [0, 1, 3, 31, 40, 91, 120])
def test_overdue_takes_its_place_among_the_buckets_by_the_grace_days(
    embedded_env: LedgerEnv, grace_days: int
) -> None:
    env = embedded_env
    _set_policy(env, 3, grace_days)
    loan_id = env.active(n=1, first_in_days=10)
    due_at = _due_at(env, loan_id)
    _go_to(env, due_at + 100 * DAY)
    expected = reached_in_order(due_at, env.rt.node.now(), 3, grace_days)
    assert [stage for _id, _i, stage in env.ledger.check_upkeep().entries] == expected
    assert [r.stage for r in _keep(env)] == expected
    assert (OVERDUE in expected) is (grace_days <= 100)


def test_a_long_outage_fills_the_bound_in_order_then_the_rest(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    loan_id = env.active(n=6, first_in_days=30)
    _go_to(env, _due_at(env, loan_id, 5) + 95 * DAY)  # every instalment past bucket 90+
    first = env.ledger.check_upkeep()
    assert len(first.entries) == 32
    env.ledger.perform_upkeep(first.perform_data)
    second = env.ledger.check_upkeep()
    assert len(second.entries) == 6 * 7 - 32
    entries = [(index, stage) for _id, index, stage in first.entries + second.entries]
    now = env.rt.node.now()
    assert entries == [
        (index, stage)
        for index in range(6)
        for stage in reached_in_order(_due_at(env, loan_id, index), now, 3, 3)
    ]
    raised = env.ledger.reminders_in(env.ledger.perform_upkeep(second.perform_data))
    assert [(r.instalment, r.stage) for r in raised] == entries[32:]
    assert env.ledger.check_upkeep().needed is False
