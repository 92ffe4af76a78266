"""The fund-flow part of `loantrace demo`: where loan money goes, and what the audit flags."""

from __future__ import annotations

import hashlib

from loantrace.bootstrap import Runtime
from loantrace.devtools.demo import DemoResult, DemoStep, signed_submission
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.audit import Finding
from loantrace.domain.hexcodec import to_hex
from loantrace.services.loans import Movement


def account(name: str) -> bytes:
    """A demo account commitment (a real one is a salted hash of bank details)."""
    return hashlib.sha256(f"demo account {name}".encode()).digest()


SECURITIES, AFFILIATE, SHOP = account("broker"), account("affiliate"), account("grocer")


def _loan(runtime: Runtime, number: int, borrower_account: bytes) -> bytes:
    terms = terms_at(
        runtime.node.now(),
        principal=100_000,
        apr_bps=1_100,
        instalments=2,
        method="equal_principal",
        first_in_days=30,
    )
    document = f"LOAN AGREEMENT No. FLOW-{number:04d}\n".encode()
    receipt = runtime.notary.notarise(signed_submission(runtime, document, number, None, terms))
    view = runtime.loans.register(bytes.fromhex(receipt.digest[2:]))
    loan_id = bytes.fromhex(view.loan_id[2:])
    runtime.loans.disburse(loan_id, Movement(100_000, borrower_account, f"FLOW-D-{number}"))
    return loan_id


def _pay(
    runtime: Runtime, loan_id: bytes, source: bytes, target: bytes, amount: int, ref: str
) -> None:
    runtime.flows.record_transfer(
        loan_id=loan_id,
        from_account=source,
        to_account=target,
        amount=amount,
        purpose="CONSUMPTION",
        external_ref=ref,
    )


def run_flow_demo(runtime: Runtime, result: DemoResult) -> list[Finding]:
    """Route loan money four ways; audit; record whether exactly the bad ones were flagged."""
    for commitment, category in (
        (SECURITIES, "SECURITIES"),
        (AFFILIATE, "LENDER_AFFILIATE"),
        (SHOP, "CONSUMPTION"),
    ):
        (runtime.regulator or runtime).flows.label(commitment, category)  # the regulator's key
    clean = _loan(runtime, 301, account("borrower 1"))
    _pay(runtime, clean, account("borrower 1"), SHOP, 60_000, "FLOW-T-1")
    stock = _loan(runtime, 302, account("borrower 2"))
    _pay(runtime, stock, account("borrower 2"), SECURITIES, 80_000, "FLOW-T-2")
    loan_a = _loan(runtime, 303, account("borrower 3a"))
    _pay(runtime, loan_a, account("borrower 3a"), SHOP, 100_000, "FLOW-T-3")
    loan_b = _loan(runtime, 304, account("borrower 3b"))
    runtime.loans.repay(loan_a, Movement(51_000, account("borrower 3b"), "FLOW-R-303"))
    round_trip = _loan(runtime, 305, account("borrower 4"))
    _pay(runtime, round_trip, account("borrower 4"), AFFILIATE, 30_000, "FLOW-T-5")

    ours = {to_hex(x) for x in (clean, stock, loan_a, loan_b, round_trip)}
    findings = [f for f in runtime.flows.portfolio() if f.loan_id in ours]
    flagged = {(f.loan_id, str(f.rule)) for f in findings}
    expected = {
        (to_hex(stock), "prohibited_use"),
        (to_hex(loan_b), "loan_repays_loan"),
        (to_hex(round_trip), "round_trip"),
    }
    record = result.steps.append
    record(
        DemoStep(
            "audit: loan money into a securities account",
            to_hex(stock),
            _rules(flagged, stock),
            "prohibited_use",
        )
    )
    record(
        DemoStep(
            "audit: loan B's money repays loan A",
            to_hex(loan_b),
            _rules(flagged, loan_b),
            "loan_repays_loan",
        )
    )
    record(
        DemoStep(
            "audit: money back to a lender affiliate",
            to_hex(round_trip),
            _rules(flagged, round_trip),
            "round_trip",
        )
    )
    record(DemoStep("audit: a clean loan", to_hex(clean), _rules(flagged, clean) or "none", "none"))
    record(DemoStep("audit flags exactly those", "-", str(flagged == expected), "True"))
    return findings


def _rules(flagged: set[tuple[str, str]], loan_id: bytes) -> str:
    return ", ".join(sorted(rule for loan, rule in flagged if loan == to_hex(loan_id)))
