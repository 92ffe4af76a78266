"""Borrowers: sign in with Ethereum (EIP-4361), then read what names their address."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from loantrace.api.auth import PrincipalDep, PublicLimited, allow
from loantrace.api.chain_gate import ChainBound
from loantrace.api.loan_routes import LoanOut, loan_out
from loantrace.api.patterns import Signature
from loantrace.api.routes import receipt_out
from loantrace.api.schemas import ReceiptOut
from loantrace.api.webhook_routes import ReminderOut
from loantrace.domain.hexcodec import parse_signature
from loantrace.domain.siwe import MAX_MESSAGE_LENGTH
from loantrace.services.borrower import BorrowerPortal
from loantrace.services.signin import SignIn

router = APIRouter(tags=["borrowers"])

BORROWER = allow("borrower")


async def get_signin(request: Request) -> SignIn:
    """Return the sign-in use cases."""
    return cast(SignIn, request.app.state.runtime.signin)


async def get_portal(request: Request) -> BorrowerPortal:
    """Return the borrower's read use cases."""
    return cast(BorrowerPortal, request.app.state.runtime.borrowers)


SignInDep = Annotated[SignIn, Depends(get_signin)]
PortalDep = Annotated[BorrowerPortal, Depends(get_portal)]


class ChallengeOut(BaseModel):
    """The fields of the EIP-4361 message to sign (the wallet adds its address)."""

    domain: str = Field(description="this service's domain, as the message must name it")
    uri: str = Field(description="this service's URI")
    chain_id: int = Field(description="the chain the agreements are notarised on")
    version: str = Field(description="always 1")
    nonce: str = Field(description="single use, valid until `expires_at`")
    statement: str = Field(description="a statement the message may carry")
    issued_at: datetime
    expires_at: datetime


class SignInIn(BaseModel):
    """A signed EIP-4361 message."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(max_length=MAX_MESSAGE_LENGTH, description="the EIP-4361 message text")
    signature: Signature = Field(description="its personal_sign signature, 65 bytes hex")


class SessionOut(BaseModel):
    """A borrower's bearer token (shown once) and when it expires."""

    token: str = Field(description="send as `Authorization: Bearer <token>`")
    address: str = Field(description="the signed-in borrower's address")
    expires_at: datetime


class MeOut(BaseModel):
    """Who is signed in."""

    role: str
    address: str | None


class BorrowerLoanOut(BaseModel):
    """A loan of the borrower's: terms, schedule, state, cost, and its reminders."""

    loan: LoanOut
    reminders: list[ReminderOut]


@router.post("/v1/auth/siwe/nonce", dependencies=[PublicLimited])
def siwe_nonce(signin: SignInDep) -> ChallengeOut:
    """Start a borrower sign-in: a fresh nonce and the fields the message must carry."""
    challenge = signin.challenge()
    return ChallengeOut.model_validate(challenge, from_attributes=True)


@router.post("/v1/auth/siwe", status_code=201, dependencies=[PublicLimited])
def siwe_sign_in(signin: SignInDep, body: SignInIn) -> SessionOut:
    """Finish a borrower sign-in: the signed message in, a short-lived bearer token out."""
    session = signin.sign_in(body.message, parse_signature(body.signature, field="signature"))
    return SessionOut.model_validate(session, from_attributes=True)


@router.get("/v1/me", dependencies=[BORROWER])
def me(principal: PrincipalDep) -> MeOut:
    """Return the signed-in borrower."""
    return MeOut(role=principal.role, address=principal.borrower)


@router.get("/v1/me/agreements", dependencies=[BORROWER, ChainBound])
def my_agreements(principal: PrincipalDep, portal: PortalDep) -> list[ReceiptOut]:
    """Return every agreement naming the signed-in borrower, with its on-chain evidence."""
    return [receipt_out(r) for r in portal.agreements(str(principal.borrower))]


@router.get("/v1/me/loans", dependencies=[BORROWER, ChainBound])
def my_loans(principal: PrincipalDep, portal: PortalDep) -> list[BorrowerLoanOut]:
    """Return the borrower's loans: schedule, amounts owed, disclosed cost, reminders."""
    return [
        BorrowerLoanOut(
            loan=loan_out(found.view),
            reminders=[
                ReminderOut.model_validate(r, from_attributes=True) for r in found.reminders
            ],
        )
        for found in portal.loans(str(principal.borrower))
    ]
