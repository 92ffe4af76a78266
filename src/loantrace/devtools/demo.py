"""The `loantrace demo` scenario on the embedded chain: notarise, batch, tamper, verify."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.domain.agreement import Agreement, sign_agreement
from loantrace.domain.digest import document_digest, new_salt, party_commitment
from loantrace.domain.terms import LoanTerms
from loantrace.services.notary import Submission


@dataclass
class DemoStep:
    """One line of the demo summary."""

    action: str
    digest: str
    outcome: str
    expected: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Return whether the outcome is the expected one."""
        return self.outcome == self.expected


@dataclass
class DemoResult:
    """Everything the demo did, for printing and for tests."""

    chain_id: int
    contract: str
    lender: str
    steps: list[DemoStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether every step had its expected outcome."""
        return all(step.ok for step in self.steps)


def sample_document(number: int) -> bytes:
    """Return a sample agreement document (no real personal data)."""
    return (
        f"LOAN AGREEMENT No. DEMO-{number:04d}\n"
        f"Principal: {1000 + number * 250}.00 CNY, 12 monthly instalments, APR 11.50%\n"
        "Lender: Demo Lending Platform Ltd.  Borrower: identified by commitment only.\n"
        "Both parties signed this agreement electronically (EIP-712).\n"
    ).encode()


def signed_submission(
    runtime: Runtime,
    document: bytes,
    number: int,
    supersedes: bytes | None,
    terms: LoanTerms | None = None,
) -> Submission:
    """Return a submission of `document` signed by a fresh demo borrower."""
    borrower = Account.create()
    terms = terms or LoanTerms(
        principal=100_000 + number * 25_000,
        currency="CNY",
        apr_bps=1_150,
        instalments=12,
        repayment_method="annuity",
        start_date=(date(2026, 12, 1) + timedelta(days=number)).isoformat(),
        first_due_date=(date(2027, 1, 1) + timedelta(days=number)).isoformat(),
        purpose="CONSUMPTION",
    )
    commitment = party_commitment({"national_id": f"DEMO-{number}", "name": "n/a"}, new_salt())
    agreement = Agreement(
        digest=document_digest(document),
        lender=runtime.notary.lender,
        borrower=borrower.address,
        borrower_commitment=commitment,
        terms_digest=terms.digest(),
        supersedes=runtime.notary.resolve_previous(supersedes),
    )
    signature = sign_agreement(agreement, runtime.registry.domain, borrower.key)
    return Submission(
        digest=agreement.digest,
        borrower=borrower.address,
        borrower_commitment=commitment,
        borrower_signature=signature,
        terms=terms,
        supersedes=supersedes,
    )


def run_demo(runtime: Runtime, *, batch_size: int = 8) -> DemoResult:
    """Run the scenario and return what happened at each step."""
    result = DemoResult(runtime.node.chain_id, runtime.registry.address, runtime.notary.lender)
    docs = {n: sample_document(n) for n in range(1, 3 + batch_size)}

    def record(action: str, doc: bytes, outcome: str, expected: str, detail: str = "") -> None:
        digest = "0x" + hashlib.sha256(doc).hexdigest()  # what `sha256sum` prints
        result.steps.append(DemoStep(action, digest, outcome, expected, detail))

    for n in (1, 2):
        receipt = runtime.notary.notarise(signed_submission(runtime, docs[n], n, None))
        record(
            f"notarise DEMO-{n:04d} singly",
            docs[n],
            receipt.status,
            "notarised",
            f"block {receipt.block_number}",
        )
    batch = [signed_submission(runtime, docs[n], n, None) for n in range(3, 3 + batch_size)]
    receipts = runtime.notary.notarise_batch(batch)
    root = receipts[0].merkle["root"] if receipts[0].merkle else "?"
    record(
        f"notarise {batch_size} in one Merkle batch",
        docs[3],
        receipts[0].status,
        "notarised",
        f"root {root[:18]}…",
    )

    for n in (1, 3):
        report = runtime.verifier.verify(document_digest(docs[n]))
        record(
            f"verify DEMO-{n:04d} ({report.mode})",
            docs[n],
            report.verdict,
            "valid",
            f"signers match: {report.signatures_match}",
        )
    tampered = docs[2].replace(b"11.50%", b"71.50%")
    report = runtime.verifier.verify(document_digest(tampered))
    record(
        "verify a tampered copy of DEMO-0002",
        tampered,
        report.verdict,
        "not_found",
        "one character changed: APR 11.50% -> 71.50%",
    )

    amendment_doc = docs[1] + b"Amendment: first due date moved by 7 days.\n"
    runtime.notary.notarise(signed_submission(runtime, amendment_doc, 99, document_digest(docs[1])))
    report = runtime.verifier.verify(document_digest(docs[1]))
    record("supersede DEMO-0001 by an amendment, verify", docs[1], report.verdict, "superseded")
    runtime.notary.revoke(document_digest(docs[4]), reason=2)
    report = runtime.verifier.verify(document_digest(docs[4]))
    record(
        "revoke batched DEMO-0004, verify",
        docs[4],
        report.verdict,
        "revoked",
        f"reason {report.revoke_reason}",
    )
    return result
