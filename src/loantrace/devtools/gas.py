"""Measure the gas of notarising singly and in batches (for `loantrace gas-report`)."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.chain.ledger import encode_perform_data
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.agreement import Agreement, sign_agreement
from loantrace.domain.digest import document_digest
from loantrace.domain.manifest import build_manifest
from loantrace.domain.merkle import agreement_leaf_values
from loantrace.domain.terms import LoanTerms
from loantrace.services.notary import Submission

BATCH_SIZES = (1, 16, 256, 1024)
_TERMS = LoanTerms(
    principal=300_000,
    currency="CNY",
    apr_bps=1_200,
    instalments=6,
    repayment_method="equal_principal",
    start_date="2027-02-01",
    first_due_date="2027-03-01",
    purpose="CONSUMPTION",
)


@dataclass(frozen=True)
class GasLine:
    """Gas of one operation, and per document."""

    operation: str
    documents: int
    gas: int

    @property
    def per_document(self) -> int:
        """Return the gas per document, rounded up."""
        return -(-self.gas // self.documents)


def _submissions(
    runtime: Runtime, count: int, tag: str, terms: LoanTerms = _TERMS
) -> list[Submission]:
    borrower = Account.create()
    subs = []
    for i in range(count):
        digest = document_digest(f"gas report {tag} agreement {i}".encode())
        agreement = Agreement(
            digest=digest,
            lender=runtime.notary.lender,
            borrower=borrower.address,
            borrower_commitment=document_digest(f"commitment {tag} {i}".encode()),
            terms_digest=terms.digest(),
        )
        signature = sign_agreement(agreement, runtime.registry.domain, borrower.key)
        subs.append(
            Submission(digest, borrower.address, agreement.borrower_commitment, signature, terms)
        )
    return subs


def measure(runtime: Runtime, sizes: tuple[int, ...] = BATCH_SIZES) -> list[GasLine]:
    """Notarise one agreement singly and batches of `sizes`; return the gas of each."""
    lines = []
    single = _submissions(runtime, 1, "single")[0]
    signed, _ = runtime.notary.prepare(single)
    result = runtime.registry.notarise(signed)
    assert result is not None
    lines.append(
        GasLine("notarise (single, storage record + 2 signature checks)", 1, result.gas_used)
    )
    for size in sizes:
        prepared = [
            runtime.notary.prepare(s)[0] for s in _submissions(runtime, size, f"batch{size}")
        ]
        manifest = build_manifest([agreement_leaf_values(s) for s in prepared])
        anchored = runtime.registry.anchor_batch(manifest.root, size, manifest.sha256)
        assert anchored is not None
        lines.append(GasLine(f"anchorBatch ({size} documents)", size, anchored.gas_used))
    return lines


def measure_ledger(runtime: Runtime) -> list[GasLine]:
    """Register a 12-instalment loan, repay, and perform upkeep with 1 and 32 reminders."""
    ledger, lines = runtime.ledger, []

    def loan(tag: str, months: int, first_in_days: int) -> bytes:
        terms = terms_at(
            runtime.node.now(),
            principal=25_000 * months,
            apr_bps=1_150,
            instalments=months,
            method="equal_principal",
            first_in_days=first_in_days,
        )
        sub = _submissions(runtime, 1, tag, terms)[0]
        signed, _ = runtime.notary.prepare(sub)
        runtime.registry.notarise(signed)
        result = ledger.register_loan(signed.agreement, terms)
        assert result is not None
        if months == 12:
            lines.append(GasLine("registerLoan (12 instalments)", 1, result.gas_used))
        loan_id = runtime.registry.agreement_id(signed.agreement)
        ledger.record_disbursement(loan_id, 25_000 * months, b"\x01" * 32, sub.digest)
        return loan_id

    first = loan("ledger-12", 12, 30)
    first_due = ledger.instalment_of(first, 0)[0]
    repaid = ledger.record_repayment(
        first, first_due.principal + first_due.charges, b"\x02" * 32, b"\x03" * 32
    )
    lines.append(GasLine("recordRepayment (settles 1 instalment)", 1, repaid.gas_used))
    for i in range(9):  # 36 reminders: one performed alone, then a full batch of 32
        loan(f"ledger-upkeep-{i}", 1, 5)
    # Each 1-instalment loan passed four stages: due soon, due, bucket 1-30 and overdue.
    runtime.node.advance_time(10 * 86_400)
    entries = ledger.check_upkeep().entries
    one = encode_perform_data([(bytes.fromhex(entries[0][0][2:]), entries[0][1], entries[0][2])])
    lines.append(GasLine("performUpkeep (1 reminder)", 1, ledger.perform_upkeep(one).gas_used))
    full = ledger.check_upkeep()
    count = len(full.entries)
    lines.append(
        GasLine(
            f"performUpkeep ({count} reminders, the maximum is 32)",
            count,
            ledger.perform_upkeep(full.perform_data).gas_used,
        )
    )
    return lines
