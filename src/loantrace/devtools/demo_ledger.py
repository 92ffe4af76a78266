"""The loan part of `loantrace demo`: disburse, repay, miss, time travel, signed reminders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from loantrace.bootstrap import Runtime
from loantrace.devtools.demo import DemoResult, DemoStep, signed_submission
from loantrace.devtools.receiver import WebhookReceiver
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.delinquency import SECONDS_PER_DAY
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.terms import LoanTerms
from loantrace.domain.webhooks import parse_secret
from loantrace.services.loans import Movement

ACCOUNT = bytes.fromhex("ac" * 32)


@dataclass(frozen=True)
class ReminderLine:
    """One reminder the demo's receiver accepted."""

    loan: str
    instalment: int
    stage: str
    days_past_due: int
    amount_due: int


def _loan(runtime: Runtime, number: int, terms: LoanTerms) -> bytes:
    document = f"LOAN AGREEMENT No. LEDGER-{number:04d}\n".encode()
    receipt = runtime.notary.notarise(signed_submission(runtime, document, number, None, terms))
    view = runtime.loans.register(bytes.fromhex(receipt.digest[2:]))
    loan_id = bytes.fromhex(view.loan_id[2:])
    runtime.loans.disburse(loan_id, Movement(terms.principal, ACCOUNT, f"DEMO-D-{number}"))
    return loan_id


def run_ledger_demo(runtime: Runtime, result: DemoResult) -> list[ReminderLine]:
    """Run loans A (repaid on time) and B (misses), travel in time, collect reminders."""
    now = datetime.fromtimestamp(runtime.node.now(), UTC)
    first_due = (now + timedelta(days=10)).replace(hour=0, minute=0, second=0, microsecond=0)
    terms = terms_at(
        runtime.node.now(),
        principal=300_000,
        apr_bps=1_150,
        instalments=3,
        method="equal_principal",
        first_in_days=10,
    )
    with WebhookReceiver() as receiver:
        _hook, secret = runtime.webhooks.register(lender=runtime.notary.lender, url=receiver.url)
        receiver.secret = parse_secret(secret)
        loan_a = _loan(runtime, 201, terms)
        loan_b = _loan(runtime, 202, terms)
        view = runtime.loans.view(loan_a)
        runtime.loans.repay(loan_a, Movement(view.outstanding, ACCOUNT, "DEMO-R-201"))
        due_at = int(first_due.timestamp())
        for offset_days in (-2, 0.5, 5, 35):
            target = due_at + int(offset_days * SECONDS_PER_DAY)
            runtime.node.advance_time(target - runtime.node.now())
            runtime.keeper.run_once()
        names = {to_hex(loan_a): "A (repaid)", to_hex(loan_b): "B (missed)"}
        lines = [
            ReminderLine(
                names.get(p["loan_id"], p["loan_id"]),
                p["instalment"],
                p["stage_name"],
                p["days_past_due"],
                p["amount_due"],
            )
            for p in receiver.received.accepted
        ]
        stages_b0 = [x.stage for x in lines if x.loan.startswith("B") and x.instalment == 0]
        record = result.steps.append
        record(
            DemoStep(
                "loan A: disbursed, repaid in full before due",
                to_hex(loan_a),
                runtime.loans.view(loan_a).loan.status,
                "repaid",
            )
        )
        record(
            DemoStep(
                "reminders for loan A",
                to_hex(loan_a),
                str(sum(x.loan.startswith("A") for x in lines)),
                "0",
            )
        )
        expected = "due_soon, due, bucket_1_30, overdue, bucket_31_60"
        record(
            DemoStep(
                "loan B instalment 1: reminders raised on chain",
                to_hex(loan_b),
                ", ".join(stages_b0),
                expected,
                "each stage once",
            )
        )
        keys = Counter(p["idempotency_key"] for p in receiver.received.accepted)
        record(
            DemoStep(
                "webhooks: signed, each key once",
                to_hex(loan_b),
                f"{len(keys)} unique, {receiver.received.rejected} rejected",
                f"{len(lines)} unique, 0 rejected",
            )
        )
    return lines
