"""LoanLedger: loans bound to the signed terms, the cap on every instalment, every revert path."""

from __future__ import annotations

from dataclasses import replace

import pytest
from web3.logs import DISCARD

from loantrace.chain.ledger import LoanStatus
from loantrace.domain.errors import Conflict, InvalidInput, NotActive, NotFound, Unauthorized
from loantrace.domain.ratecap import allowed_charges
from tests.chain.conftest import CAP_BPS, DAY, LedgerEnv, Row, ref


def _at_cap(env: LedgerEnv, principal: int, n: int, cap: int = CAP_BPS) -> list[Row]:
    """n equal-principal instalments 30 days apart, each charging exactly the cap allows."""
    rows, outstanding, previous = [], principal, env.start_at()
    for due_at, part, _interest, _fees in env.monthly_rows(n, principal // n):
        rows.append((due_at, part, allowed_charges(outstanding, cap, due_at - previous), 0))
        outstanding -= part
        previous = due_at
    return rows


def test_register_stores_loan_schedule_and_emits_the_signed_plan(env: LedgerEnv) -> None:
    terms = env.terms(n=12, apr_bps=1_000)
    signed = env.notarised(terms)
    result = env.ledger.register_loan(signed.agreement, terms)
    assert result is not None
    loan_id = env.rt.registry.agreement_id(signed.agreement)
    loan = env.ledger.loan_of(loan_id)
    schedule = terms.schedule()
    assert loan is not None
    assert (loan.lender, loan.status, loan.rate_cap_bps) == (
        env.rt.notary.lender,
        LoanStatus.REGISTERED,
        CAP_BPS,
    )
    assert (loan.principal, loan.scheduled_total, loan.instalment_count) == (
        1_200_000,
        schedule.total,
        12,
    )
    assert (loan.currency, loan.start_at) == ("CNY", schedule.start_at)
    first, reminded = env.ledger.instalment_of(loan_id, 0)
    assert (first.principal, first.charges, reminded) == (
        100_000,
        schedule.instalments[0].interest,
        0,
    )
    receipt = env.rt.node.w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
    bound = env.ledger.contract.events.LoanTermsBound().process_receipt(receipt, errors=DISCARD)
    args = bound[0]["args"]
    assert bytes(args["agreementDigest"]) == signed.agreement.digest
    assert bytes(args["termsDigest"]) == terms.digest()
    assert [(i["dueAt"], i["principal"], i["interest"], i["fees"]) for i in args["schedule"]] == [
        (i.due_at, i.principal, i.interest, i.fees) for i in schedule.instalments
    ]
    assert env.ledger.hash_terms(terms) == terms.digest()
    assert env.ledger.loan_count() == 1


@pytest.mark.parametrize("field", ["principal", "schedule", "currency", "start", "apr", "purpose"])
def test_register_refuses_terms_the_borrower_did_not_sign(env: LedgerEnv, field: str) -> None:
    rows = env.monthly_rows(3, 100_000, 500)
    terms = env.raw_terms(300_000, env.start_at())
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    principal, currency, start, purpose, method, apr = terms
    changed_rows = list(rows)
    if field == "principal":
        principal, changed_rows[2] = 900_000, (rows[2][0], 700_000, 500, 0)
    elif field == "schedule":
        changed_rows[1] = (rows[1][0], 100_000, 501, 0)
    elif field == "currency":
        currency = b"USD"
    elif field == "start":
        start -= DAY
    elif field == "apr":
        apr -= 1
    else:
        purpose = b"GAMBLING".ljust(32, b"\0")
    changed = (principal, currency, start, purpose, method, apr)
    with pytest.raises(InvalidInput, match="LoanLedgerTermsMismatch"):
        env.register_raw(signed.agreement, changed, changed_rows)
    env.register_raw(signed.agreement, terms, rows)  # what was signed is accepted


def test_register_refuses_another_borrower_commitment(env: LedgerEnv) -> None:
    rows = env.monthly_rows(1, 100_000, 100)
    terms = env.raw_terms(100_000, env.start_at())
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    other = replace(signed.agreement, borrower_commitment=b"\x0c" * 32)
    with pytest.raises(NotActive, match="LoanLedgerAgreementNotActive"):
        env.register_raw(other, terms, rows)


def test_a_schedule_at_the_cap_is_accepted(env: LedgerEnv) -> None:
    rows = _at_cap(env, 300_000, 3)
    terms = env.raw_terms(300_000, env.start_at(), apr_bps=CAP_BPS)
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    env.register_raw(signed.agreement, terms, rows)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_one_unit_above_the_cap_in_any_period_is_refused(env: LedgerEnv, index: int) -> None:
    rows = _at_cap(env, 300_000, 3)
    due_at, principal, interest, _fees = rows[index]
    rows[index] = (due_at, principal, interest, 1)  # one unit of fees over the cap
    terms = env.raw_terms(300_000, env.start_at(), apr_bps=1_000)
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    with pytest.raises(InvalidInput, match=f"LoanLedgerRateCapExceeded: index={index}, "):
        env.register_raw(signed.agreement, terms, rows)


def test_a_declared_apr_above_the_cap_is_refused(env: LedgerEnv) -> None:
    rows = env.monthly_rows(1, 100_000, 0)
    terms = env.raw_terms(100_000, env.start_at(), apr_bps=CAP_BPS + 1)
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    with pytest.raises(InvalidInput, match="LoanLedgerDeclaredAprAboveCap"):
        env.register_raw(signed.agreement, terms, rows)


def test_the_1200_percent_loan_of_the_issue_is_refused(env: LedgerEnv) -> None:
    # One instalment charging 900,000 of interest on 900,000 after 30 days, APR declared 10 %.
    rows = [(env.start_at() + 30 * DAY, 900_000, 900_000, 0)]
    terms = env.raw_terms(900_000, env.start_at(), apr_bps=1_000)
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    with pytest.raises(InvalidInput, match="LoanLedgerRateCapExceeded: index=0"):
        env.register_raw(signed.agreement, terms, rows)


def test_a_start_long_before_notarisation_is_refused(env: LedgerEnv) -> None:
    rows = env.monthly_rows(1, 100_000, 0)
    terms = env.raw_terms(100_000, env.start_at() - 8 * DAY)
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    with pytest.raises(InvalidInput, match="LoanLedgerStartTooEarly"):
        env.register_raw(signed.agreement, terms, rows)


def test_an_lpr_change_applies_only_to_agreements_notarised_after_it(env: LedgerEnv) -> None:
    regulator = env.other(notary=False)
    env.ledger.grant_regulator(regulator.transactor.address)
    effective = env.rt.node.now() + DAY
    rows = _at_cap(env, 300_000, 3)  # at the old cap (1,200 bps)
    terms = env.raw_terms(300_000, env.start_at(), apr_bps=1_000)
    before = env.signed_raw(terms, rows)
    env.rt.registry.notarise(before)
    regulator.record_lpr(250, effective)
    assert env.ledger.rate_cap() == CAP_BPS  # not in force yet
    env.rt.node.advance_time(DAY)
    assert env.ledger.rate_cap() == 1_000
    assert env.ledger.rate_cap_at(effective - 1) == (CAP_BPS, 300)
    assert env.ledger.rate_cap_at(effective) == (1_000, 250)
    after = env.signed_raw(terms, rows)
    env.rt.registry.notarise(after)
    env.register_raw(before.agreement, terms, rows)  # judged by the cap of its notarisation
    with pytest.raises(InvalidInput, match="LoanLedgerRateCapExceeded"):
        env.register_raw(after.agreement, terms, rows)
    loan = env.ledger.loan_of(env.rt.registry.agreement_id(before.agreement))
    assert loan is not None
    assert loan.rate_cap_bps == CAP_BPS


def test_lpr_is_recorded_by_the_regulator_only_and_never_backdated(env: LedgerEnv) -> None:
    regulator = env.other(notary=False)
    now = env.rt.node.now()
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        regulator.record_lpr(350, now + DAY)
    env.ledger.grant_regulator(regulator.transactor.address)
    with pytest.raises(InvalidInput, match="LoanLedgerLprNotForward"):
        regulator.record_lpr(350, now - DAY)
    with pytest.raises(InvalidInput, match="LoanLedgerInvalidLpr"):
        regulator.record_lpr(0, now + DAY)
    with pytest.raises(InvalidInput, match="LoanLedgerInvalidLpr"):
        regulator.record_lpr(25_001, now + DAY)
    regulator.record_lpr(350, now + 2 * DAY)
    with pytest.raises(InvalidInput, match="LoanLedgerLprNotForward"):
        regulator.record_lpr(360, now + DAY)  # before the last recorded change
    assert env.ledger.contract.functions.lprCount().call() == 2


def test_register_reverts_for_unnotarised_revoked_or_superseded_agreement(env: LedgerEnv) -> None:
    terms = env.terms(n=1)
    signed = env.signed_raw(env.raw_terms(100_000, env.start_at()), env.monthly_rows(1, 100_000))
    with pytest.raises(NotActive, match="LoanLedgerAgreementNotActive"):
        env.register_raw(
            signed.agreement, env.raw_terms(100_000, env.start_at()), env.monthly_rows(1, 100_000)
        )
    revoked = env.notarised(terms)
    env.rt.registry.revoke(revoked.agreement, 1)
    with pytest.raises(NotActive, match="LoanLedgerAgreementNotActive"):
        env.ledger.register_loan(revoked.agreement, terms)


def test_register_reverts_twice_for_other_lender_and_non_notary(env: LedgerEnv) -> None:
    terms = env.terms(n=1)
    signed = env.notarised(terms)
    with pytest.raises(Unauthorized, match="LoanLedgerNotLender"):
        env.other(notary=True).register_loan(signed.agreement, terms)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        env.other(notary=False).register_loan(signed.agreement, terms)
    env.ledger.register_loan(signed.agreement, terms)
    with pytest.raises(Conflict, match="LoanLedgerAlreadyRegistered"):
        env.ledger.register_loan(signed.agreement, terms)


@pytest.mark.parametrize(
    ("problem", "error"),
    [
        ("empty", "LoanLedgerInstalmentCount"),
        ("not increasing", "LoanLedgerDueNotAfterPrevious"),
        ("before start", "LoanLedgerDueNotAfterPrevious"),
        ("sum", "LoanLedgerPrincipalMismatch"),
        ("over", "LoanLedgerPrincipalMismatch"),
        ("zero amount", "LoanLedgerZeroInstalment"),
        ("huge", "LoanLedgerAmountTooLarge"),
    ],
)
def test_register_reverts_on_invalid_schedule(env: LedgerEnv, problem: str, error: str) -> None:
    rows = env.monthly_rows(3, 100_000, 500)
    principal = 300_000
    if problem == "empty":
        rows = []
    elif problem == "not increasing":
        rows[2] = (rows[1][0], 100_000, 500, 0)
    elif problem == "before start":
        rows[0] = (env.start_at(), 100_000, 500, 0)
    elif problem == "sum":
        principal = 300_001
    elif problem == "over":
        rows[0] = (rows[0][0], 300_001, 500, 0)
    elif problem == "zero amount":
        rows[1], rows[2] = (rows[1][0], 0, 0, 0), (rows[2][0], 200_000, 500, 0)
    else:
        rows[0] = (rows[0][0], 100_000, 2**104, 0)
    terms = env.raw_terms(principal, env.start_at())
    signed = env.signed_raw(terms, rows)
    env.rt.registry.notarise(signed)
    with pytest.raises(InvalidInput, match=error):
        env.register_raw(signed.agreement, terms, rows)


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
    assert env.ledger.has_open_loan(loan_id)
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
    first, _ = env.ledger.instalment_of(loan_id, 0)
    due_first = first.principal + first.charges
    with pytest.raises(NotActive, match="LoanLedgerNotActive"):
        env.ledger.record_repayment(loan_id, 10, b"\2" * 32, ref())
    env.ledger.record_disbursement(loan_id, 300_000, b"\1" * 32, ref())
    result = env.ledger.record_repayment(loan_id, due_first + 40_000, b"\2" * 32, ref())
    settled = env.ledger.contract.events.InstalmentSettled().process_receipt(
        env.rt.node.w3.eth.get_transaction_receipt(result.tx_hash),  # type: ignore[arg-type]
        errors=DISCARD,
    )
    assert [e["args"]["index"] for e in settled] == [0]
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert (loan.next_unpaid, loan.paid_into_next, loan.repaid) == (1, 40_000, due_first + 40_000)
    rest = env.ledger.outstanding(loan_id)
    with pytest.raises(InvalidInput, match="LoanLedgerRepaymentExceedsOutstanding"):
        env.ledger.record_repayment(loan_id, rest + 1, b"\2" * 32, ref())
    env.ledger.record_repayment(loan_id, rest, b"\2" * 32, ref())
    loan = env.ledger.loan_of(loan_id)
    assert loan is not None
    assert (loan.status, loan.next_unpaid, env.ledger.outstanding(loan_id)) == (
        LoanStatus.REPAID,
        3,
        0,
    )
    assert not env.ledger.has_open_loan(loan_id)
    with pytest.raises(NotActive, match="LoanLedgerNotActive"):
        env.ledger.record_repayment(loan_id, 1, b"\2" * 32, ref())
    with pytest.raises(NotActive, match="LoanLedgerNotActive"):
        env.ledger.record_disbursement(loan_id, 1, b"\1" * 32, ref())
