"""Fund-flow routes: record transfers and labels, trace a loan, audit findings (JSON or CSV)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from loantrace.api.auth import LENDER, REGULATOR, TRACERS, PrincipalDep, confine
from loantrace.api.chain_gate import ChainBound
from loantrace.api.deps import FlowsDep, LoansDep
from loantrace.api.loan_routes import LoanIdPath, Reference
from loantrace.api.patterns import EIP55, Address, Bytes32, NonZeroBytes32
from loantrace.api.schemas import Amount
from loantrace.domain.access import Principal
from loantrace.domain.audit import Finding
from loantrace.domain.errors import Unauthorized
from loantrace.domain.hexcodec import parse_address, parse_bytes32, to_hex
from loantrace.domain.tracing import FlowGraph, Movement, Policy
from loantrace.presenters import finding_json, graph_json
from loantrace.services.flows import MAX_HOPS
from loantrace.services.loans import LoanService

router = APIRouter(tags=["flows"])  # every route: an access rule, then a chain slot

Code = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$", examples=["CONSUMPTION"])]
CommitmentPath = Annotated[
    Bytes32, Path(description="salted commitment to an account, bytes32 hex")
]


class TransferIn(BaseModel):
    """A fund-use transfer of a disbursed loan."""

    model_config = ConfigDict(extra="forbid")

    from_account: NonZeroBytes32 = Field(description="salted commitment to the paying account")
    to_account: NonZeroBytes32 = Field(description="salted commitment to the receiving account")
    amount: Amount
    purpose: Code
    external_ref: Reference


class LabelIn(BaseModel):
    """A regulator's category for an account commitment."""

    model_config = ConfigDict(extra="forbid")

    category: Code


class EvidenceOut(BaseModel):
    """Where on chain a fact is."""

    tx_hash: str
    block_number: int
    log_index: int


class MovementOut(BaseModel):
    """A disbursement, transfer or repayment, with its evidence."""

    kind: str
    loan_id: str | None
    from_account: str | None
    to_account: str | None
    amount: int
    evidence: EvidenceOut


class FindingOut(BaseModel):
    """An audit finding pointing at on-chain evidence."""

    rule: str
    severity: Literal["low", "medium", "high"]
    loan_id: str
    amount: int
    explanation: str
    evidence: list[EvidenceOut]


class FindingsPage(BaseModel):
    """A page of portfolio findings."""

    total: int
    limit: int
    offset: int
    findings: list[FindingOut]


def _evidence(e: Any) -> EvidenceOut:
    return EvidenceOut(tx_hash=e.tx_hash, block_number=e.block_number, log_index=e.log_index)


def movement_out(m: Movement) -> MovementOut:
    """Return the response model of a movement."""
    return MovementOut(
        kind=m.kind,
        loan_id=m.loan_id,
        from_account=m.from_account,
        to_account=m.to_account,
        amount=m.amount,
        evidence=_evidence(m.evidence),
    )


def finding_out(f: Finding) -> FindingOut:
    """Return the response model of a finding."""
    return FindingOut.model_validate(finding_json(f))


def graph_out(graph: FlowGraph, max_hops: int) -> dict[str, Any]:
    """Return a flow graph as JSON."""
    return graph_json(graph, max_hops)


@router.post("/v1/loans/{loan_id}/transfers", status_code=201, dependencies=[LENDER, ChainBound])
def record_transfer(
    principal: PrincipalDep, flows: FlowsDep, loans: LoansDep, loan_id: LoanIdPath, body: TransferIn
) -> dict[str, Any]:
    """Record a fund-use transfer of a disbursed loan on chain (lender or REPORTER)."""
    record = flows.record_transfer(
        loan_id=_loan(principal, loans, loan_id),
        from_account=parse_bytes32(body.from_account, field="from_account"),
        to_account=parse_bytes32(body.to_account, field="to_account"),
        amount=body.amount,
        purpose=body.purpose,
        external_ref=body.external_ref,
    )
    return record.__dict__


@router.post("/v1/accounts/{commitment}/label", dependencies=[REGULATOR, ChainBound])
def label_account(
    flows: FlowsDep,
    commitment: Annotated[
        NonZeroBytes32, Path(description="salted commitment to an account, bytes32 hex")
    ],
    body: LabelIn,
) -> dict[str, Any]:
    """Label an account commitment with a category on chain (REGULATOR or admin)."""
    account = parse_bytes32(commitment, field="commitment")
    result = flows.label(account, body.category)
    return {"account": to_hex(account), "category": body.category, "tx_hash": result.tx_hash}


@router.get("/v1/loans/{loan_id}/flows", dependencies=[TRACERS, ChainBound])
def loan_flows(
    principal: PrincipalDep,
    flows: FlowsDep,
    loans: LoansDep,
    loan_id: LoanIdPath,
    policy: Annotated[Policy, Query()] = Policy.FIFO,
    max_hops: Annotated[int, Query(ge=1, le=MAX_HOPS)] = 6,
) -> dict[str, Any]:
    """Follow a loan's money downstream: nodes, edges with tainted amounts, destinations."""
    key = to_hex(_loan(principal, loans, loan_id))
    return graph_out(flows.trace(key, policy=policy, max_hops=max_hops), max_hops)


@router.get("/v1/loans/{loan_id}/audit", dependencies=[TRACERS, ChainBound])
def loan_audit(
    principal: PrincipalDep, flows: FlowsDep, loans: LoansDep, loan_id: LoanIdPath
) -> list[FindingOut]:
    """Return the audit findings of one loan."""
    key = to_hex(_loan(principal, loans, loan_id))
    return [finding_out(f) for f in flows.audit(key)]


@router.get(
    "/v1/audit/findings",
    response_model=None,
    dependencies=[TRACERS, ChainBound],
    responses={200: {"content": {"application/json": {}, "text/csv": {}}}},
)
def portfolio_findings(
    principal: PrincipalDep,
    flows: FlowsDep,
    lender: Annotated[Address | None, Query(description=f"lender address; {EIP55}")] = None,
    rule: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
    severity: Annotated[Literal["low", "medium", "high"] | None, Query()] = None,
    from_block: Annotated[int | None, Query(ge=0)] = None,
    to_block: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> FindingsPage | Response:
    """Portfolio findings, filtered and paginated; `format=csv` exports them all.

    A lender key sees only its own findings."""
    if lender is not None:
        lender = parse_address(lender, field="lender")
    if principal.tenant is not None:
        if lender is not None and lender.lower() != principal.tenant.lower():
            raise Unauthorized("a lender key reads only its own findings")
        lender = principal.tenant
    findings = flows.portfolio(
        lender=lender, rule=rule, severity=severity, from_block=from_block, to_block=to_block
    )
    if format == "csv":
        return Response(_csv(findings), media_type="text/csv")
    page = findings[offset : offset + limit]
    return FindingsPage(
        total=len(findings), limit=limit, offset=offset, findings=[finding_out(f) for f in page]
    )


@router.get("/v1/accounts/{commitment}/flows", dependencies=[REGULATOR, ChainBound])
def account_flows(flows: FlowsDep, commitment: CommitmentPath) -> dict[str, Any]:
    """Every movement into or out of an account commitment, and its category."""
    account = to_hex(parse_bytes32(commitment, field="commitment"))
    category, movements = flows.account_flows(account)
    return {
        "account": account,
        "category": category,
        "movements": [movement_out(m).model_dump() for m in movements],
    }


def _csv(findings: list[Finding]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["rule", "severity", "loan_id", "amount", "explanation", "evidence"])
    for f in findings:
        evidence = " ".join(f"{e.tx_hash}:{e.block_number}:{e.log_index}" for e in f.evidence)
        writer.writerow([f.rule, f.severity, f.loan_id, f.amount, f.explanation, evidence])
    return out.getvalue()


def _loan(principal: Principal, loans: LoanService, loan_id: str) -> bytes:
    """Return the loan id of a path value (a loan id, or the digest of a loan's agreement);
    a lender may name only its own loans (404 for another's)."""
    ref = loans.loan_id_of(parse_bytes32(loan_id, field="loan_id"))
    if principal.tenant is not None:
        confine(principal, loans.lender_of(ref), f"loan {loan_id}")
    return ref
