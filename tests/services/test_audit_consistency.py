"""The per-loan and the portfolio audit read the same indexed state and agree on every loan."""

from __future__ import annotations

from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.chain.ledger import LedgerClient
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.agreement import Agreement, SignedAgreement, sign_agreement
from loantrace.domain.audit import Rule, Severity
from loantrace.domain.digest import document_digest
from loantrace.domain.hexcodec import to_hex
from loantrace.services.loans import Movement
from tests.conftest import SubmissionFactory, admin_registry

DAY = 86_400


def _elsewhere(rt: Runtime) -> str:
    """A loan another lender registered by calling the contracts directly (not in our db)."""
    account = Account.create()
    rt.node.fund_for_dev(account)
    admin_registry(rt).grant_notary(account.address)
    transactor = Transactor(rt.node.w3, account, revert_decoder())
    registry = RegistryClient(rt.node.w3, rt.registry.address, transactor)
    ledger = LedgerClient(rt.node.w3, rt.ledger.address, transactor)
    terms = terms_at(rt.node.now(), principal=50_000, instalments=1, first_in_days=5)
    borrower = Account.create()
    agreement = Agreement(
        digest=document_digest(b"a loan of another lender"),
        lender=account.address,
        borrower=borrower.address,
        borrower_commitment=b"\x0e" * 32,
        terms_digest=terms.digest(),
    )
    domain = rt.registry.domain
    registry.notarise(
        SignedAgreement(
            agreement,
            sign_agreement(agreement, domain, account.key),
            sign_agreement(agreement, domain, borrower.key),
        )
    )
    ledger.register_loan(agreement, terms)
    loan_id = registry.agreement_id(agreement)
    ledger.record_disbursement(loan_id, 50_000, b"\x0f" * 32, b"\x10" * 32)
    return to_hex(loan_id)


def test_both_audits_agree_and_overdue_carries_the_outstanding(
    embedded_runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    rt = embedded_runtime
    terms = terms_at(rt.node.now(), principal=120_000, instalments=2, first_in_days=5)
    receipt = rt.notary.notarise(make_submission(rt, terms=terms).submission)
    view = rt.loans.register(bytes.fromhex(receipt.digest[2:]))
    ours = view.loan_id
    rt.loans.disburse(bytes.fromhex(ours[2:]), Movement(120_000, b"\x0a" * 32, "D-1"))
    theirs = _elsewhere(rt)
    rt.node.advance_time(40 * DAY)  # both loans miss their first instalment
    portfolio = rt.flows.portfolio()
    for loan_id in (ours, theirs):
        single = rt.flows.audit(loan_id)
        assert single == [f for f in portfolio if f.loan_id == loan_id]
        overdue = [f for f in single if f.rule is Rule.OVERDUE]
        assert len(overdue) == 1
        chain_outstanding = rt.ledger.outstanding(bytes.fromhex(loan_id[2:]))
        assert overdue[0].amount == chain_outstanding > 0
        days, bucket = rt.ledger.days_past_due(bytes.fromhex(loan_id[2:]))
        assert f"is {days} days past due" in overdue[0].explanation
        assert overdue[0].severity is (Severity.MEDIUM if bucket == 2 else Severity.LOW)
