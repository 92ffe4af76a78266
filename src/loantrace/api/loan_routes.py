"""Loan routes: register, disburse, repay, read, reminders."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from loantrace.api.auth import LENDER, READERS, PrincipalDep, confine
from loantrace.api.chain_gate import ChainBound
from loantrace.api.deps import LoansDep
from loantrace.api.patterns import PRINTABLE, Bytes32, PrintableText
from loantrace.api.schemas import Amount
from loantrace.domain.access import Principal
from loantrace.domain.hexcodec import parse_bytes32
from loantrace.services.loan_index import MovementRecord
from loantrace.services.loans import LoanService, LoanView, Movement, iso

router = APIRouter(tags=["loans"])  # every route: an access rule, then a chain slot

LoanIdPath = Annotated[
    Bytes32, Path(description="the loan id, or the digest of the loan's notarised agreement; hex")
]
Reference = Annotated[
    PrintableText,
    Field(min_length=1, max_length=128, description=f"the bank's reference; {PRINTABLE}"),
]


class LoanIn(BaseModel):
    """Register the loan of a notarised agreement; the service computes the schedule."""

    model_config = ConfigDict(extra="forbid")

    digest: Bytes32 = Field(description="digest of the singly notarised agreement")


class DisbursementIn(BaseModel):
    """Money paid out to the borrower."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount
    to_account: Bytes32 = Field(description="salted commitment to the receiving account, bytes32")
    external_ref: Reference


class RepaymentIn(BaseModel):
    """Money repaid by the borrower."""

    model_config = ConfigDict(extra="forbid")

    amount: Amount
    from_account: Bytes32 = Field(description="salted commitment to the paying account, bytes32")
    external_ref: Reference


class MovementOut(BaseModel):
    """A disbursement or repayment: its chain evidence, and the bank reference if recorded here."""

    id: int | None = Field(description="this service's record of it; null if recorded elsewhere")
    loan_id: str
    kind: Literal["disbursement", "repayment"]
    amount: int
    account: str
    external_ref: str | None = Field(description="the bank's reference (on chain only hashed)")
    tx_hash: str
    block_number: int
    log_index: int | None = Field(description="null until the event is indexed")
    block_timestamp: int | None


class InstalmentOut(BaseModel):
    """One instalment and its state at chain time."""

    index: int
    due_date: str
    due_at: int
    principal: int
    interest: int
    fees: int
    amount: int
    paid: int
    status: Literal["paid", "partial", "upcoming", "due", "overdue"]
    days_past_due: int
    bucket: int


class LoanOut(BaseModel):
    """A loan as the chain holds it."""

    loan_id: str = Field(description="the agreement id (EIP-712 hash both parties signed)")
    digest: str = Field(description="SHA-256 of the agreement document")
    lender: str
    borrower_commitment: str
    principal: int
    currency: str
    apr_bps: int = Field(description="the APR declared in the signed terms")
    rate_cap_bps: int = Field(description="the cap in force at notarisation: 4 × one-year LPR")
    annual_cost_bps: int | None = Field(
        description="all-in annualised cost (IRR) of the signed plan: principal lent at the "
        "start, every instalment's principal, interest and fees on its due date; floor, in bps"
    )
    actual_cost_bps: int | None = Field(
        description="the same on the money actually disbursed, when and as it was paid out"
    )
    start_at: int
    purpose: str
    repayment_method: str
    status: Literal["unconfirmed", "registered", "active", "repaid", "defaulted"] = Field(
        description="from the indexed chain events; unconfirmed until the registration is indexed"
    )
    disbursed: int
    repaid: int
    outstanding: int
    days_past_due: int
    bucket: int
    bucket_label: str
    as_of: str
    registered_tx: str
    schedule: list[InstalmentOut]
    movements: list[MovementOut]


def _movement_out(m: MovementRecord) -> MovementOut:
    return MovementOut(
        id=m.record_id,
        loan_id=m.loan_id,
        kind=m.kind,
        amount=m.amount,
        account=m.account,
        external_ref=m.external_ref,
        tx_hash=m.tx_hash,
        block_number=m.block_number,
        log_index=m.log_index,
        block_timestamp=m.block_timestamp,
    )


def loan_out(view: LoanView) -> LoanOut:
    """Return the response model of a loan view."""
    by_index = {s.index: s for s in view.states}
    schedule = [
        InstalmentOut(
            index=i.index,
            due_date=i.due_date.isoformat(),
            due_at=i.due_at,
            principal=i.principal,
            interest=i.interest,
            fees=i.fees,
            amount=i.amount,
            paid=by_index[i.index].paid,
            status=by_index[i.index].status,
            days_past_due=by_index[i.index].days_past_due,
            bucket=by_index[i.index].bucket,
        )
        for i in view.schedule.instalments
    ]
    loan = view.loan
    return LoanOut(
        loan_id=loan.loan_id,
        digest=loan.digest,
        lender=loan.lender,
        borrower_commitment=loan.borrower_commitment,
        principal=loan.principal,
        currency=loan.currency,
        apr_bps=loan.apr_bps,
        rate_cap_bps=loan.rate_cap_bps,
        annual_cost_bps=view.signed_cost_bps,
        actual_cost_bps=view.actual_cost_bps,
        start_at=loan.start_at,
        purpose=loan.purpose,
        repayment_method=loan.repayment_method,
        status=loan.status,
        disbursed=loan.disbursed,
        repaid=loan.repaid,
        outstanding=view.outstanding,
        days_past_due=view.days_past_due,
        bucket=view.bucket,
        bucket_label=view.bucket_label,
        as_of=iso(view.as_of),
        registered_tx=loan.registered_tx,
        schedule=schedule,
        movements=[_movement_out(m) for m in view.loan.movements],
    )


@router.post("/v1/loans", status_code=201, dependencies=[LENDER, ChainBound])
def register_loan(principal: PrincipalDep, loans: LoansDep, body: LoanIn) -> LoanOut:
    """Register the loan of a notarised agreement, with the schedule of its terms."""
    digest = parse_bytes32(body.digest, field="digest")
    confine(principal, loans.agreement_of(digest).lender, f"agreement {body.digest}")
    return loan_out(loans.register(digest))


@router.post(
    "/v1/loans/{loan_id}/disbursements", status_code=201, dependencies=[LENDER, ChainBound]
)
def disburse(
    principal: PrincipalDep,
    loans: LoansDep,
    loan_id: LoanIdPath,
    body: DisbursementIn,
    response: Response,
) -> MovementOut:
    """Record a disbursement; a retry with the same external_ref returns the first (200)."""
    movement = Movement(
        body.amount, parse_bytes32(body.to_account, field="to_account"), body.external_ref
    )
    row, new = loans.disburse(own_loan(principal, loans, loan_id), movement)
    response.status_code = 201 if new else 200
    return _movement_out(row)


@router.post("/v1/loans/{loan_id}/repayments", status_code=201, dependencies=[LENDER, ChainBound])
def repay(
    principal: PrincipalDep,
    loans: LoansDep,
    loan_id: LoanIdPath,
    body: RepaymentIn,
    response: Response,
) -> MovementOut:
    """Record a repayment (oldest instalment first); a retry returns the first (200)."""
    movement = Movement(
        body.amount, parse_bytes32(body.from_account, field="from_account"), body.external_ref
    )
    row, new = loans.repay(own_loan(principal, loans, loan_id), movement)
    response.status_code = 201 if new else 200
    return _movement_out(row)


@router.get("/v1/loans/{loan_id}", dependencies=[READERS, ChainBound])
def get_loan(principal: PrincipalDep, loans: LoansDep, loan_id: LoanIdPath) -> LoanOut:
    """Return the loan, its schedule with per-instalment status, outstanding and delinquency."""
    view = loans.view(parse_bytes32(loan_id, field="loan_id"))
    confine(principal, view.loan.lender, f"loan {loan_id}")
    return loan_out(view)


def own_loan(principal: Principal, loans: LoanService, loan_id: str) -> bytes:
    """Return the loan reference if the caller may act on it (404 for another tenant's)."""
    ref = parse_bytes32(loan_id, field="loan_id")
    if principal.tenant is not None:
        confine(principal, loans.lender_of(ref), f"loan {loan_id}")
    return ref
