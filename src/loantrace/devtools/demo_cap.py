"""The rate-cap part of `loantrace demo`: loans bound to the signed terms, the cap on real money.

- A plan the lender wrote itself charges one minor unit more than the cap allows in its
  third instalment: the service refuses it, and so does the contract when the lender calls
  it directly.
- The lender calls the contract directly with a principal the borrower never signed: refused.
- A loan disbursed 10 % short of its principal (interest deducted up front) and repaid on time
  is flagged by the audit: an up-front deduction, and a cost above the cap on the money lent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from loantrace.bootstrap import Runtime
from loantrace.devtools.demo import DemoResult, DemoStep, signed_submission
from loantrace.domain.errors import LoantraceError
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.ratecap import allowed_charges
from loantrace.domain.schedule import add_months
from loantrace.domain.terms import LoanTerms
from loantrace.services.loans import Movement

DAY = 86_400
ACCOUNT = bytes.fromhex("cd" * 32)


def over_cap_terms(now: int, cap_bps: int) -> LoanTerms:
    """A three-instalment plan at the cap, but one minor unit over it in instalment 3."""
    start = datetime.fromtimestamp(now, UTC).date()
    dues = [add_months(start, k) for k in (1, 2, 3)]
    epoch = datetime(1970, 1, 1, tzinfo=UTC).date()
    previous = (start - epoch).days * DAY
    outstanding, plan = 300_000, []
    for k, due in enumerate(dues):
        due_at = (due - epoch).days * DAY
        interest = allowed_charges(outstanding, cap_bps, due_at - previous) + (k == 2)
        plan.append((due.isoformat(), 100_000, interest, 0))
        outstanding -= 100_000
        previous = due_at
    return LoanTerms(
        principal=300_000,
        currency="CNY",
        apr_bps=cap_bps,
        instalments=3,
        repayment_method="custom",
        start_date=start.isoformat(),
        first_due_date=dues[0].isoformat(),
        purpose="CONSUMPTION",
        custom=tuple(plan),
    )


def _notarise(runtime: Runtime, number: int, terms: LoanTerms) -> bytes:
    document = f"LOAN AGREEMENT No. CAP-{number:04d}\n".encode()
    receipt = runtime.notary.notarise(signed_submission(runtime, document, number, None, terms))
    return bytes.fromhex(receipt.digest[2:])


def _refusal(action: object) -> str:
    try:
        action()  # type: ignore[operator]
    except LoantraceError as exc:
        return str(exc)
    return "accepted"


def run_cap_demo(runtime: Runtime, result: DemoResult) -> bytes:
    """Show the cap refusals; start the up-front deduction loan; return its loan id."""
    now = runtime.node.now()
    cap = runtime.ledger.rate_cap()
    terms = over_cap_terms(now, cap)
    digest = _notarise(runtime, 401, terms)
    refused = _refusal(lambda: runtime.loans.register(digest))
    result.steps.append(
        DemoStep(
            "register a loan one unit over the cap in instalment 3 (service)",
            to_hex(digest),
            "refused" if "instalment 3" in refused else refused,
            "refused",
            refused[:90],
        )
    )
    with_row = runtime.loans.agreement_of(digest)
    direct = _refusal(lambda: runtime.ledger.register_loan(with_row, terms))
    result.steps.append(
        DemoStep(
            "the lender calls LoanLedger directly with that schedule",
            to_hex(digest),
            "reverted" if "LoanLedgerRateCapExceeded" in direct else direct,
            "reverted",
            "LoanLedgerRateCapExceeded(index 2)" if "index=2" in direct else direct[:90],
        )
    )
    inflated = replace(
        terms, principal=900_000, custom=tuple((d, 300_000, 0, 0) for d, *_ in terms.custom or ())
    )
    tampered = _refusal(lambda: runtime.ledger.register_loan(with_row, inflated))
    result.steps.append(
        DemoStep(
            "the lender registers a principal the borrower never signed",
            to_hex(digest),
            "reverted" if "LoanLedgerTermsMismatch" in tampered else tampered,
            "reverted",
            "LoanLedgerTermsMismatch",
        )
    )
    deducted = _notarise(
        runtime,
        402,
        LoanTerms(
            principal=300_000,
            currency="CNY",
            apr_bps=1_150,
            instalments=1,
            repayment_method="bullet",
            start_date=datetime.fromtimestamp(now, UTC).date().isoformat(),
            first_due_date=(datetime.fromtimestamp(now, UTC) + timedelta(days=10))
            .date()
            .isoformat(),
            purpose="CONSUMPTION",
        ),
    )
    view = runtime.loans.register(deducted)
    loan_id = bytes.fromhex(view.loan_id[2:])
    runtime.loans.disburse(loan_id, Movement(270_000, ACCOUNT, "CAP-D-402"))
    runtime.loans.repay(loan_id, Movement(view.outstanding, ACCOUNT, "CAP-R-402"))
    return loan_id


def report_deduction(runtime: Runtime, result: DemoResult, loan_id: bytes) -> None:
    """After the first due date: the audit flags the up-front deduction and the real cost."""
    rules = sorted({str(f.rule) for f in runtime.flows.audit(to_hex(loan_id))})
    view = runtime.loans.view(loan_id)
    result.steps.append(
        DemoStep(
            "audit: 270,000 disbursed on a 300,000 loan, repaid on time",
            to_hex(loan_id),
            ", ".join(rules) or "none",
            "rate_cap_breach, upfront_deduction",
            f"signed cost {view.signed_cost_bps} bps, actual {view.actual_cost_bps} bps",
        )
    )
