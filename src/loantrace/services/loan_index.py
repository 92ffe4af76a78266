"""A loan as the index holds it: built only from indexed, confirmed chain events.

The request record this service keeps when it registers a loan or records a movement (the
bank's reference text, which the chain holds only as a hash) is joined in; every amount,
status and schedule comes from the chain's events. A loan whose registration is not indexed
yet is shown from the request record with status "unconfirmed" and nothing paid.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from loantrace.domain.schedule import Instalment, Schedule
from loantrace.ports.ledger import IndexedEvent, LoanRequest, MovementRequest
from loantrace.services.flowdata import instalment_of, text_code

LOAN_EVENTS = (
    "LoanRegistered",
    "LoanTermsBound",
    "LoanDisbursed",
    "LoanRepaid",
    "LoanStatusChanged",
)
STATUS_NAMES = ("none", "registered", "active", "repaid", "defaulted")
METHOD_NAMES = {1: "annuity", 2: "equal_principal", 3: "bullet", 4: "custom"}


@dataclass(frozen=True)
class MovementRecord:
    """A disbursement or repayment: chain evidence, and the bank reference when known here."""

    loan_id: str
    kind: str  # disbursement | repayment
    amount: int
    account: str
    tx_hash: str
    block_number: int
    log_index: int | None
    external_ref: str | None
    block_timestamp: int | None
    record_id: int | None


@dataclass(frozen=True)
class IndexedLoan:
    """Everything the index knows about one loan."""

    loan_id: str
    digest: str
    lender: str
    borrower_commitment: str
    principal: int
    currency: str
    apr_bps: int
    rate_cap_bps: int
    purpose: str
    repayment_method: str
    start_at: int
    schedule: Schedule
    status: str
    disbursed: int
    repaid: int
    registered_tx: str
    registered_block: int
    movements: tuple[MovementRecord, ...]


def movement_of(request: MovementRequest) -> MovementRecord:
    """Return the view of a movement this service recorded (not indexed yet)."""
    return MovementRecord(
        loan_id=request.loan_id,
        kind=request.kind,
        amount=request.amount,
        account=request.account,
        tx_hash=request.tx_hash,
        block_number=request.block_number,
        log_index=None,
        external_ref=request.external_ref,
        block_timestamp=request.block_timestamp,
        record_id=request.id,
    )


def schedule_of(start_at: int, items: Sequence[tuple[int, int, int, int]]) -> Schedule:
    """Rebuild a schedule from (due_at, principal, interest, fees) tuples."""
    return Schedule(
        instalments=tuple(
            Instalment(
                index=n,
                due_date=_day(due_at),
                due_at=due_at,
                principal=principal,
                interest=interest,
                fees=fees,
            )
            for n, (due_at, principal, interest, fees) in enumerate(items)
        ),
        start_date=_day(start_at),
    )


def indexed_loan(
    request: LoanRequest,
    events: Iterable[IndexedEvent],
    records: Iterable[MovementRequest],
    unconfirmed_schedule: Schedule,
) -> IndexedLoan:
    """Fold a loan's indexed events (in chain order) and this service's records into a view."""
    by_tx = {r.tx_hash: r for r in records}
    loan = IndexedLoan(
        loan_id=request.loan_id,
        digest=request.digest,
        lender=request.lender,
        borrower_commitment=request.borrower_commitment,
        principal=request.principal,
        currency=request.currency,
        apr_bps=request.apr_bps,
        rate_cap_bps=request.rate_cap_bps,
        purpose=request.purpose,
        repayment_method=request.repayment_method,
        start_at=request.start_at,
        schedule=unconfirmed_schedule,
        status="unconfirmed",
        disbursed=0,
        repaid=0,
        registered_tx=request.tx_hash,
        registered_block=request.block_number,
        movements=(),
    )
    fields: dict[str, object] = {}
    movements: list[MovementRecord] = []
    disbursed = repaid = 0
    for event in events:
        args = json.loads(event.args_json)
        if event.event == "LoanRegistered":
            fields.update(
                lender=args["lender"],
                borrower_commitment=args["borrowerCommitment"],
                principal=int(args["principal"]),
                apr_bps=int(args["aprBps"]),
                rate_cap_bps=int(args["rateCapBps"]),
                currency=text_code(args["currency"]),
                purpose=text_code(args["purpose"]),
                status="registered",
                registered_tx=event.tx_hash,
                registered_block=event.block_number,
            )
        elif event.event == "LoanTermsBound":
            start_at = int(args["startAt"])
            items = [instalment_of(i) for i in args["schedule"]]
            fields.update(
                start_at=start_at,
                schedule=schedule_of(start_at, items),
                repayment_method=METHOD_NAMES.get(int(args["repaymentMethod"]), "unknown"),
            )
        elif event.event == "LoanStatusChanged":
            fields["status"] = STATUS_NAMES[int(args["status"])]
        elif event.event in ("LoanDisbursed", "LoanRepaid"):
            kind = "disbursement" if event.event == "LoanDisbursed" else "repayment"
            amount = int(args["amount"])
            record = by_tx.get(event.tx_hash)
            at = int(args["disbursedAt"]) if kind == "disbursement" else None
            movements.append(
                MovementRecord(
                    loan_id=request.loan_id,
                    kind=kind,
                    amount=amount,
                    account=args["toAccount" if kind == "disbursement" else "fromAccount"],
                    tx_hash=event.tx_hash,
                    block_number=event.block_number,
                    log_index=event.log_index,
                    external_ref=None if record is None else record.external_ref,
                    block_timestamp=at if record is None else record.block_timestamp,
                    record_id=None if record is None else record.id,
                )
            )
            if kind == "disbursement":
                disbursed += amount
            else:
                repaid += amount
    if "status" not in fields:
        return loan
    return _replace(loan, fields, disbursed, repaid, tuple(movements))


def _replace(
    loan: IndexedLoan,
    fields: dict[str, object],
    disbursed: int,
    repaid: int,
    movements: tuple[MovementRecord, ...],
) -> IndexedLoan:
    return replace(
        loan,
        **fields,  # type: ignore[arg-type]
        disbursed=disbursed,
        repaid=repaid,
        movements=movements,
    )


def _day(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, UTC).date()
