"""Anyone may ask whether the contracts this service uses run the code it ships."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from loantrace.api.auth import PublicLimited
from loantrace.api.chain_gate import ChainBound
from loantrace.chain.addressbook import AddressBook, load
from loantrace.chain.integrity import CodeCheck, Verdict, check_chain
from loantrace.domain.errors import ConfigurationError

log = logging.getLogger(__name__)
router = APIRouter(tags=["verify"])


class ContractCheckOut(BaseModel):
    """One contract's code on chain against the committed build."""

    contract: str = Field(description="AgreementRegistry, LoanLedger or FundFlow")
    address: str = Field(description="where this service uses it")
    verdict: Verdict = Field(description="match, or how the code differs")
    detail: str = Field(description="the evidence: sizes, the first differing byte, an immutable")
    offset: int | None = Field(None, description="the first differing byte, if any")
    immutable: str | None = Field(None, description="the differing immutable, if any")


class IntegrityOut(BaseModel):
    """Whether every contract on chain is the build this service ships."""

    ok: bool = Field(description="true when every contract matches")
    chain_id: int
    checked_against_address_book: bool = Field(
        description="whether immutables were also checked against the recorded deployment"
    )
    contracts: list[ContractCheckOut]


@router.get("/v1/integrity", dependencies=[PublicLimited, ChainBound])
def integrity(request: Request) -> IntegrityOut:
    """Compare the runtime code of the contracts in use with the committed artifacts,
    immutables masked (or, with LOANTRACE_ADDRESS_BOOK, checked against the deployment)."""
    runtime: Any = request.app.state.runtime
    addresses = {
        "AgreementRegistry": runtime.registry.address,
        "LoanLedger": runtime.ledger.address,
        "FundFlow": runtime.fundflow.address,
    }
    book = _address_book(runtime)
    checks = check_chain(runtime.node.w3, addresses, book)
    return IntegrityOut(
        ok=all(c.ok for c in checks),
        chain_id=runtime.node.chain_id,
        checked_against_address_book=book is not None,
        contracts=[_out(c) for c in checks],
    )


def _address_book(runtime: Any) -> AddressBook | None:
    path = runtime.settings.address_book
    if path is None:
        return None
    try:
        book = load(path)
    except ConfigurationError as exc:
        log.warning("integrity without the address book: %s", exc)
        return None
    same = (book.chain_id, book.genesis_hash) == (runtime.node.chain_id, runtime.node.genesis_hash)
    return book if same else None


def _out(check: CodeCheck) -> ContractCheckOut:
    return ContractCheckOut(
        contract=check.contract,
        address=check.address,
        verdict=check.verdict,
        detail=check.detail,
        offset=check.offset,
        immutable=check.immutable,
    )
