"""LoanLedger: registration, rate cap, money movements, roles and every revert path."""

from __future__ import annotations

import pytest
from web3.logs import DISCARD

from loantrace.chain.ledger import LoanStatus, ScheduledInstalment
from loantrace.domain.errors import Conflict, InvalidInput, NotActive, NotFound, Unauthorized
from tests.chain.conftest import CAP_BPS, LedgerEnv, ref


def test_register_stores_loan_and_schedule(env: LedgerEnv) -> None:
    loan_id = env.register(n=12)
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert (loan.lender, loan.status) == (env.rt.notary.lender, LoanStatus.REGISTERED)
    assert (loan.principal, loan.scheduled_total, loan.instalment_count) == (
        1_200_000,
        1_320_000,
        12,
    )
    assert loan.currency == "CNY"
    first, reminded = env.ledger.instalment_of(loan_id, 0)
    assert (first.principal, first.interest, reminded) == (100_000, 10_000, 0)
    assert env.ledger.outstanding(loan_id) == 1_320_000
    assert env.ledger.loan_count() == 1


def test_rate_cap_exactly_at_cap_passes_and_one_bp_above_reverts(env: LedgerEnv) -> None:
    env.register(apr_bps=CAP_BPS)
    with pytest.raises(InvalidInput, match="LoanLedgerRateCapExceeded"):
        env.register(apr_bps=CAP_BPS + 1)


def test_register_reverts_for_unnotarised_revoked_or_superseded_agreement(env: LedgerEnv) -> None:
    with pytest.raises(NotActive, match="LoanLedgerAgreementNotActive"):
        env.ledger.register_loan(
            loan_id=b"\x77" * 32,
            borrower_commitment=b"\0" * 32,
            principal=100_000,
            apr_bps=100,
            currency="CNY",
            purpose="X",
            schedule=env.schedule(1),
        )
    digest = env.notarised_digest()
    env.rt.registry.revoke(digest, 1)
    with pytest.raises(NotActive, match="LoanLedgerAgreementNotActive"):
        env.ledger.register_loan(
            loan_id=digest,
            borrower_commitment=b"\0" * 32,
            principal=100_000,
            apr_bps=100,
            currency="CNY",
            purpose="X",
            schedule=env.schedule(1),
        )


def test_register_reverts_twice_for_other_lender_and_non_notary(env: LedgerEnv) -> None:
    digest = env.notarised_digest()
    args = dict(
        loan_id=digest,
        borrower_commitment=b"\0" * 32,
        principal=100_000,
        apr_bps=100,
        currency="CNY",
        purpose="X",
        schedule=env.schedule(1),
    )
    with pytest.raises(Unauthorized, match="LoanLedgerNotLender"):
        env.other(notary=True).register_loan(**args)  # type: ignore[arg-type]
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        env.other(notary=False).register_loan(**args)  # type: ignore[arg-type]
    env.ledger.register_loan(**args)  # type: ignore[arg-type]
    with pytest.raises(Conflict, match="LoanLedgerAlreadyRegistered"):
        env.ledger.register_loan(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize("problem", ["empty", "not increasing", "sum", "zero amount"])
def test_register_reverts_on_invalid_schedule(env: LedgerEnv, problem: str) -> None:
    digest = env.notarised_digest()
    schedule = env.schedule(3)
    if problem == "empty":
        schedule = []
    elif problem == "not increasing":
        schedule[2] = ScheduledInstalment(schedule[1].due_at, 100_000, 10_000)
    elif problem == "zero amount":
        schedule[1] = ScheduledInstalment(schedule[1].due_at, 0, 0)
        schedule[2] = ScheduledInstalment(schedule[2].due_at, 200_000, 10_000)
    principal = 300_001 if problem == "sum" else 300_000
    with pytest.raises(InvalidInput, match="LoanLedgerInvalidSchedule"):
        env.ledger.register_loan(
            loan_id=digest,
            borrower_commitment=b"\0" * 32,
            principal=principal,
            apr_bps=100,
            currency="CNY",
            purpose="X",
            schedule=schedule,
        )


def test_rate_cap_is_set_by_regulator_only(env: LedgerEnv) -> None:
    regulator = env.other(notary=False)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        regulator.set_rate_cap(1_500)
    env.ledger.grant_regulator(regulator.transactor.address)
    with pytest.raises(InvalidInput, match="LoanLedgerInvalidRateCap"):
        regulator.set_rate_cap(0)
    regulator.set_rate_cap(1_500)
    assert env.ledger.rate_cap() == 1_500
    env.register(apr_bps=1_500)


def test_reminder_policy_is_set_by_admin_only(env: LedgerEnv) -> None:
    call = env.ledger.contract.functions.setReminderPolicy((1, 1, 0))
    with pytest.raises(InvalidInput, match="LoanLedgerInvalidPolicy"):
        env.ledger.transactor.send(call)
    outsider = env.other(notary=True)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        outsider.transactor.send(outsider.contract.functions.setReminderPolicy((1, 1, 30)))
    env.ledger.transactor.send(env.ledger.contract.functions.setReminderPolicy((1, 1, 30)))
    assert env.ledger.contract.functions.reminderPolicy().call() == (1, 1, 30)


def test_disbursement_activates_and_never_exceeds_principal(env: LedgerEnv) -> None:
    loan_id = env.register(n=2)
    with pytest.raises(InvalidInput, match="LoanLedgerZeroAmount"):
        env.ledger.record_disbursement(loan_id, 0, b"\1" * 32, ref())
    env.ledger.record_disbursement(loan_id, 150_000, b"\1" * 32, ref())
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert (loan.status, loan.disbursed) == (LoanStatus.ACTIVE, 150_000)
    with pytest.raises(InvalidInput, match="LoanLedgerDisbursementExceedsPrincipal"):
        env.ledger.record_disbursement(loan_id, 50_001, b"\1" * 32, ref())
    env.ledger.record_disbursement(loan_id, 50_000, b"\1" * 32, ref())


def test_repeated_external_reference_never_double_counts(env: LedgerEnv) -> None:
    loan_id = env.register(n=2)
    reference = ref()
    env.ledger.record_disbursement(loan_id, 100_000, b"\1" * 32, reference)
    with pytest.raises(Conflict, match="LoanLedgerReferenceUsed"):
        env.ledger.record_disbursement(loan_id, 100_000, b"\1" * 32, reference)
    with pytest.raises(Conflict, match="LoanLedgerReferenceUsed"):
        env.ledger.record_repayment(loan_id, 10, b"\2" * 32, reference)
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert (loan.disbursed, loan.repaid) == (100_000, 0)


def test_money_movements_need_the_loans_own_lender(env: LedgerEnv) -> None:
    loan_id = env.active(n=2)
    other = env.other(notary=True)
    with pytest.raises(Unauthorized, match="LoanLedgerNotLender"):
        other.record_repayment(loan_id, 10, b"\2" * 32, ref())
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        env.other(notary=False).record_repayment(loan_id, 10, b"\2" * 32, ref())
    with pytest.raises(NotFound, match="LoanLedgerUnknownLoan"):
        env.ledger.record_repayment(b"\x55" * 32, 10, b"\2" * 32, ref())


def test_repayment_allocates_oldest_first_and_completes(env: LedgerEnv) -> None:
    loan_id = env.register(n=3)
    with pytest.raises(NotActive, match="LoanLedgerNotActive"):
        env.ledger.record_repayment(loan_id, 10, b"\2" * 32, ref())
    env.ledger.record_disbursement(loan_id, 300_000, b"\1" * 32, ref())
    result = env.ledger.record_repayment(loan_id, 150_000, b"\2" * 32, ref())  # 110k + 40k
    settled = env.ledger.contract.events.InstalmentSettled().process_receipt(
        env.rt.node.w3.eth.get_transaction_receipt(result.tx_hash),  # type: ignore[arg-type]
        errors=DISCARD,
    )
    assert [e["args"]["index"] for e in settled] == [0]
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert (loan.next_unpaid, loan.paid_into_next, loan.repaid) == (1, 40_000, 150_000)
    with pytest.raises(InvalidInput, match="LoanLedgerRepaymentExceedsOutstanding"):
        env.ledger.record_repayment(loan_id, 180_001, b"\2" * 32, ref())
    env.ledger.record_repayment(loan_id, 180_000, b"\2" * 32, ref())
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert (loan.status, loan.next_unpaid, env.ledger.outstanding(loan_id)) == (
        LoanStatus.REPAID,
        3,
        0,
    )
    with pytest.raises(NotActive, match="LoanLedgerNotActive"):
        env.ledger.record_repayment(loan_id, 1, b"\2" * 32, ref())
    with pytest.raises(NotActive, match="LoanLedgerNotActive"):
        env.ledger.record_disbursement(loan_id, 1, b"\1" * 32, ref())
