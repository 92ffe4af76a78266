"""Borrowers' personal data: enrol (lender), read (own lender, regulator), erase (own lender,
admin). Responses carrying personal data are never cached."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from loantrace.api.auth import LENDER, PrincipalDep, allow
from loantrace.api.patterns import Bytes32
from loantrace.domain.access import Principal
from loantrace.domain.errors import Unauthorized
from loantrace.domain.hexcodec import parse_bytes32
from loantrace.domain.personal import (
    MAX_BANK_ACCOUNT,
    MAX_ID_NUMBER,
    MAX_NAME,
    MAX_PHONE,
    PersonalData,
)
from loantrace.services.personal import Enrolment, Erasure, Opened, PersonalDataService

router = APIRouter(tags=["borrowers"])

PERSONAL_READERS = allow("lender", "regulator")
ERASERS = allow("lender", "admin")


async def get_personal(request: Request) -> PersonalDataService:
    """Return the personal data use cases."""
    return cast(PersonalDataService, request.app.state.runtime.personal)


PersonalDep = Annotated[PersonalDataService, Depends(get_personal)]
CommitmentPath = Annotated[Bytes32, Path(description="the borrower commitment (32 bytes, 0x-hex)")]


class BorrowerIn(BaseModel):
    """A borrower's personal data; only its commitments ever go on chain."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_NAME, description="full legal name")
    id_number: str = Field(
        min_length=4, max_length=MAX_ID_NUMBER, description="identity document number"
    )
    phone: str = Field(min_length=5, max_length=MAX_PHONE, description="phone number")
    bank_account: str = Field(
        min_length=6,
        max_length=MAX_BANK_ACCOUNT + 12,
        description="bank card number or IBAN (spaces are dropped)",
    )


class EnrolmentOut(BaseModel):
    """The commitments to put on chain in place of the borrower's data."""

    borrower_commitment: str = Field(description="HMAC commitment to name and ID number")
    account_commitment: str = Field(description="HMAC commitment to the bank account")


class PersonalDataOut(BaseModel):
    """A borrower's personal data and the salts that open its commitments."""

    commitment: str = Field(description="the borrower commitment")
    account_commitment: str = Field(description="the bank account commitment")
    lender: str = Field(description="the lender that enrolled the borrower")
    name: str = Field(description="full legal name (NFC)")
    id_number: str = Field(description="identity document number (upper case)")
    phone: str = Field(description="phone number")
    bank_account: str = Field(description="bank account (upper case, no spaces)")
    salt: str = Field(description="opens the borrower commitment with name and ID number")
    account_salt: str = Field(description="opens the account commitment with the account")


class ErasureOut(BaseModel):
    """When the borrower's personal data was erased; its commitments stay on chain."""

    commitment: str = Field(description="the borrower commitment")
    erased_at: datetime = Field(description="the first erasure; erasing again changes nothing")


def enrolment_out(enrolment: Enrolment) -> EnrolmentOut:
    """Return the response model of an enrolment."""
    return EnrolmentOut(
        borrower_commitment=enrolment.borrower_commitment,
        account_commitment=enrolment.account_commitment,
    )


def personal_data_out(opened: Opened) -> PersonalDataOut:
    """Return the response model of opened personal data."""
    return PersonalDataOut(
        commitment=opened.commitment,
        account_commitment=opened.account_commitment,
        lender=opened.lender,
        name=opened.data.name,
        id_number=opened.data.id_number,
        phone=opened.data.phone,
        bank_account=opened.data.bank_account,
        salt=opened.salt,
        account_salt=opened.account_salt,
    )


def erasure_out(erasure: Erasure) -> ErasureOut:
    """Return the response model of an erasure."""
    return ErasureOut(commitment=erasure.commitment, erased_at=erasure.erased_at)


@router.post("/v1/borrowers", status_code=201, dependencies=[LENDER])
def enrol_borrower(
    principal: PrincipalDep, personal: PersonalDep, body: BorrowerIn, response: Response
) -> EnrolmentOut:
    """Enrol a borrower: its data is sealed here, its commitments are returned."""
    lender = _lender_scope(principal)
    if lender is None:
        raise Unauthorized("only a lender enrols borrowers")
    data = PersonalData(body.name, body.id_number, body.phone, body.bank_account)
    response.headers["Cache-Control"] = "no-store"
    return enrolment_out(personal.enrol(lender, data))


@router.get("/v1/borrowers/{commitment}/personal-data", dependencies=[PERSONAL_READERS])
def read_personal_data(
    principal: PrincipalDep, personal: PersonalDep, commitment: CommitmentPath, response: Response
) -> PersonalDataOut:
    """A borrower's personal data and salts (its lender, or a regulator); 410 once erased."""
    opened = personal.read(
        parse_bytes32(commitment, field="commitment"), lender=_lender_scope(principal)
    )
    response.headers["Cache-Control"] = "no-store"
    return personal_data_out(opened)


@router.delete("/v1/borrowers/{commitment}/personal-data", dependencies=[ERASERS])
def erase_personal_data(
    principal: PrincipalDep, personal: PersonalDep, commitment: CommitmentPath
) -> ErasureOut:
    """Erase a borrower's personal data (its lender, or an admin); commitments stay on chain."""
    erasure = personal.erase(
        parse_bytes32(commitment, field="commitment"), lender=_lender_scope(principal)
    )
    return erasure_out(erasure)


def _lender_scope(principal: Principal) -> str | None:
    """Return the lender a caller is confined to (None: any lender, for its role)."""
    if principal.role != "lender":
        return None
    if not principal.lender:
        raise Unauthorized("this lender key is bound to no lender")
    return principal.lender
