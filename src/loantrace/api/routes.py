"""Routes: parse, call a service, return a response model."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, File, Form, Header, Path, Query, Request, Response, UploadFile
from pydantic import ValidationError

from loantrace.api.auth import (
    LENDER,
    OPERATORS,
    READERS,
    PrincipalDep,
    Public,
    PublicLimited,
    confine,
)
from loantrace.api.chain_gate import ChainBound
from loantrace.api.deps import (
    LoansDep,
    NotaryDep,
    RuntimeDep,
    SettingsDep,
)
from loantrace.api.patterns import EIP55, Address, Bytes32, Signature
from loantrace.api.queued import (
    ACCEPTED,
    Anchoring,
    IntakeDep,
    accept,
    accepted,
    look_up,
    prefers_async,
    queued_out,
)
from loantrace.api.schemas import (
    AgreementIn,
    AgreementStatusOut,
    BatchIn,
    BatchOut,
    ReceiptOut,
    RevokeIn,
    TermsIn,
    TypedDataOut,
)
from loantrace.domain import safejson
from loantrace.domain.access import Principal
from loantrace.domain.agreement import Agreement, typed_data
from loantrace.domain.digest import document_digest
from loantrace.domain.errors import InvalidInput, PayloadTooLarge, Unauthorized
from loantrace.domain.hexcodec import parse_address, parse_bytes32, parse_signature, to_hex
from loantrace.domain.terms import LoanTerms
from loantrace.presenters import receipt_json
from loantrace.services.intake import Queued
from loantrace.services.loans import LoanService
from loantrace.services.notary import Notary, Submission
from loantrace.services.receipts import Receipt
from loantrace.services.transactions import transaction_status
from loantrace.settings import Settings

router = APIRouter()

# The schema says what `digest_of` enforces: exactly one of the two.
DOCUMENT_OR_DIGEST: dict[str, Any] = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"oneOf": [{"required": ["document"]}, {"required": ["digest"]}]}
            }
        }
    }
}

_CHUNK = 1024 * 1024


def read_document(upload: UploadFile, limit: int) -> bytes:
    """Read an upload, refusing it once it passes `limit` bytes."""
    chunks, size = [], 0
    while chunk := upload.file.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the document exceeds the upload limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def digest_of(settings: Settings, document: UploadFile | None, digest: str | None) -> bytes:
    if (document is None) == (digest is None):
        raise InvalidInput("send exactly one of `document` (file upload) or `digest` (hex)")
    if document is not None:
        return document_digest(read_document(document, settings.max_upload_bytes))
    return parse_bytes32(digest or "", field="digest")


def _terms(raw: str) -> LoanTerms:
    if safejson.nesting_depth(raw.encode(), stop_above=safejson.MAX_DEPTH) > safejson.MAX_DEPTH:
        raise InvalidInput(f"terms is nested deeper than {safejson.MAX_DEPTH} levels")
    try:
        return TermsIn.model_validate_json(raw).to_domain()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'terms'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidInput(f"terms: {problems}") from None


def submission_of(item: AgreementIn, field: str) -> Submission:
    """Parse one JSON agreement into a submission; errors name `field`."""
    return Submission(
        digest=parse_bytes32(item.digest, field=f"{field}.digest"),
        borrower=parse_address(item.borrower, field=f"{field}.borrower"),
        borrower_commitment=parse_bytes32(
            item.borrower_commitment, field=f"{field}.borrower_commitment"
        ),
        borrower_signature=parse_signature(
            item.borrower_signature, field=f"{field}.borrower_signature"
        ),
        terms=item.terms.to_domain(),
        lender_signature=(
            parse_signature(item.lender_signature, field=f"{field}.lender_signature")
            if item.lender_signature is not None
            else None
        ),
    )


def receipt_out(receipt: Receipt) -> ReceiptOut:
    """Return the response model of a receipt."""
    return ReceiptOut.model_validate(receipt_json(receipt))


@router.post(
    "/v1/agreements",
    status_code=201,
    response_model=ReceiptOut,
    responses=ACCEPTED,
    tags=["agreements"],
    dependencies=[LENDER, ChainBound],
    openapi_extra=DOCUMENT_OR_DIGEST,
)
async def notarise(
    request: Request,
    principal: PrincipalDep,
    notary: NotaryDep,
    intake: IntakeDep,
    settings: SettingsDep,
    response: Response,
    borrower: Annotated[Address, Form(description=f"borrower's signing address; {EIP55}")],
    borrower_commitment: Annotated[Bytes32, Form(description="salted commitment, bytes32 hex")],
    borrower_signature: Annotated[Signature, Form(description="EIP-712 signature, 65 bytes hex")],
    terms: Annotated[str, Form(description="key terms as a JSON object (see TermsIn)")],
    document: Annotated[UploadFile | None, File(description="the signed document")] = None,
    digest: Annotated[Bytes32 | None, Form(description="SHA-256 of the document, hex")] = None,
    lender_signature: Annotated[
        Signature | None,
        Form(description="the lender's EIP-712 signature; omit: the service signs"),
    ] = None,
    supersedes: Annotated[
        Bytes32 | None, Form(description="agreement id (or local digest) this amendment replaces")
    ] = None,
    anchoring: Annotated[
        Anchoring | None,
        Form(
            description="single: its own transaction, 201 with the receipt; batch: 202, queued "
            "for the next Merkle batch; default LOANTRACE_DEFAULT_ANCHORING (amendments: single)"
        ),
    ] = None,
    prefer: Annotated[
        str | None,
        Header(description="`respond-async` (RFC 7240) asks for batch when `anchoring` is unset"),
    ] = None,
) -> ReceiptOut | Response:
    """Notarise one signed agreement (a document upload or its digest) on chain, in its own
    transaction (201 with the receipt) or in the next Merkle batch (202 with a status URL)."""
    _signs_for(principal, notary)
    submission = Submission(
        digest=(
            digest_of(settings, None, digest)
            if document is None
            else await anyio.to_thread.run_sync(digest_of, settings, document, digest)
        ),
        borrower=parse_address(borrower, field="borrower"),
        borrower_commitment=parse_bytes32(borrower_commitment, field="borrower_commitment"),
        borrower_signature=parse_signature(borrower_signature, field="borrower_signature"),
        terms=_terms(terms),
        lender_signature=(
            parse_signature(lender_signature, field="lender_signature")
            if lender_signature
            else None
        ),
        supersedes=parse_bytes32(supersedes, field="supersedes") if supersedes else None,
    )
    asks_async = anchoring is None and prefers_async(prefer)
    mode = anchoring or ("batch" if asks_async else settings.default_anchoring)
    batch = mode == "batch" and (anchoring is not None or submission.supersedes is None)
    waiting = (
        None
        if batch or submission.supersedes is not None
        else await look_up(request, intake, submission.digest)
    )
    if batch or waiting is not None:
        # Queued already (a repeat asking for single too): its acceptance, not a 2nd anchor.
        outcome = await accept(request, intake, submission)
        if isinstance(outcome, Queued):
            return accepted(outcome, preference_applied=asks_async)
        response.status_code = 200  # notarised already: its receipt, nothing queued
        return receipt_out(outcome)
    receipt, new = await anyio.to_thread.run_sync(notary.notarise_once, submission)
    if not new:
        response.status_code = 200  # a retry: the first receipt, nothing sent again
    return receipt_out(receipt)


@router.post(
    "/v1/agreements/batch",
    status_code=201,
    response_model=BatchOut,
    tags=["agreements"],
    dependencies=[LENDER, ChainBound],
)
def notarise_batch(principal: PrincipalDep, notary: NotaryDep, body: BatchIn) -> Response:
    """Anchor many agreements under one Merkle root; each receipt carries its proof."""
    _signs_for(principal, notary)
    submissions = [
        submission_of(item, f"agreements[{i}]") for i, item in enumerate(body.agreements)
    ]
    receipts = notary.notarise_batch(submissions)
    root = receipts[0].merkle["root"] if receipts[0].merkle else ""
    out = BatchOut(root=root, count=len(receipts), receipts=[receipt_out(r) for r in receipts])
    # Validated once, here: returning the model would have FastAPI validate every receipt of
    # the batch a second time.
    return Response(out.model_dump_json(), status_code=201, media_type="application/json")


@router.get(
    "/v1/agreements/typed-data", tags=["agreements"], dependencies=[PublicLimited, ChainBound]
)
def agreement_typed_data(
    notary: NotaryDep,
    loans: LoansDep,
    digest: Annotated[Bytes32, Query(description="SHA-256 of the document, hex")],
    borrower: Annotated[Address, Query(description=f"borrower's signing address; {EIP55}")],
    borrower_commitment: Annotated[Bytes32, Query(description="salted commitment, bytes32 hex")],
    terms: Annotated[str, Query(description="key terms as a JSON object (see TermsIn)")],
    lender: Annotated[
        Address | None, Query(description=f"defaults to this service's lender; {EIP55}")
    ] = None,
    supersedes: Annotated[
        Bytes32 | None, Query(description="agreement id (or local digest) an amendment replaces")
    ] = None,
) -> TypedDataOut:
    """Return the EIP-712 typed data both parties sign: the terms and full schedule included."""
    loan_terms = _terms(terms)
    agreement = Agreement(
        digest=parse_bytes32(digest, field="digest"),
        lender=parse_address(lender, field="lender") if lender else notary.lender,
        borrower=parse_address(borrower, field="borrower"),
        borrower_commitment=parse_bytes32(borrower_commitment, field="borrower_commitment"),
        terms_digest=loan_terms.digest(),
        supersedes=notary.resolve_previous(
            parse_bytes32(supersedes, field="supersedes") if supersedes else None
        ),
    )
    document = typed_data(agreement, notary.domain, loan_terms)
    disclosure = asdict(loans.disclosure(loan_terms))
    return TypedDataOut.model_validate(document | {"disclosure": disclosure})


DigestPath = Annotated[Bytes32, Path(description="SHA-256 of the agreement document, hex")]


@router.get("/v1/agreements/{digest}", tags=["agreements"], dependencies=[READERS, ChainBound])
async def get_agreement(
    request: Request,
    principal: PrincipalDep,
    notary: NotaryDep,
    loans: LoansDep,
    intake: IntakeDep,
    digest: DigestPath,
) -> AgreementStatusOut:
    """Return the status and receipt of a notarised agreement, or the acceptance of one
    queued for the next batch (a lender: its own only)."""
    # The queue first (it moves, once), looked up with the concurrent status requests.
    queued = await look_up(request, intake, parse_bytes32(digest, field="digest"))
    if queued is not None:
        confine(principal, queued.lender, f"agreement {queued.digest}")
        return queued_out(queued)
    return await anyio.to_thread.run_sync(_receipt_out, principal, loans, notary, digest)


def _receipt_out(
    principal: Principal, loans: LoanService, notary: Notary, digest: str
) -> AgreementStatusOut:
    value = _own_agreement(principal, loans, digest)
    return receipt_out(notary.receipt(value))


@router.get(
    "/v1/agreements/{digest}/revocation-typed-data",
    tags=["agreements"],
    dependencies=[LENDER, ChainBound],
)
def revocation_typed_data_of(
    principal: PrincipalDep,
    notary: NotaryDep,
    loans: LoansDep,
    digest: DigestPath,
    reason: Annotated[int, Query(ge=1, le=255, description="the reason code to consent to")],
) -> TypedDataOut:
    """Return the EIP-712 typed data the borrower signs to consent to revoking an agreement."""
    document = notary.revocation_request(_own_agreement(principal, loans, digest), reason)
    return TypedDataOut.model_validate(document)


@router.post(
    "/v1/agreements/{digest}/revoke", tags=["agreements"], dependencies=[LENDER, ChainBound]
)
def revoke(
    principal: PrincipalDep,
    notary: NotaryDep,
    loans: LoansDep,
    digest: DigestPath,
    body: RevokeIn,
) -> ReceiptOut:
    """Revoke a notarised agreement (its lender only; with the borrower's consent while it
    backs an open loan) with a reason code."""
    consent = (
        parse_signature(body.borrower_signature, field="borrower_signature")
        if body.borrower_signature
        else b""
    )
    receipt = notary.revoke(_own_agreement(principal, loans, digest), body.reason, consent)
    return receipt_out(receipt)


def _signs_for(principal: Principal, notary: Notary) -> None:
    """A lender key may notarise only as the lender whose signing key this service holds."""
    if (principal.lender or "").lower() != notary.lender.lower():
        raise Unauthorized(
            f"this service signs for lender {notary.lender}, not for {principal.lender}"
        )


def _own_agreement(principal: Principal, loans: LoanService, digest: str) -> bytes:
    """Return the digest of an agreement the caller may see (404 for another tenant's)."""
    value = parse_bytes32(digest, field="digest")
    if principal.tenant is not None:
        confine(principal, loans.agreement_of(value).lender, f"agreement {to_hex(value)}")
    return value


@router.get("/healthz", tags=["ops"], dependencies=[Public])
async def healthz() -> dict[str, str]:
    """Report that the process is up (on the event loop: a hung node cannot starve it)."""
    return {"status": "ok"}


@router.get("/readyz", tags=["ops"], dependencies=[Public])
def readyz(runtime: RuntimeDep) -> dict[str, Any]:
    """Report whether the chain and the database are reachable, and whom this service signs
    for (its lender address, public on chain anyway)."""
    return {
        "status": "ready",
        "checks": runtime.readiness(),
        "lender": runtime.notary.lender,
        "lenders": [desk.signer.address for desk in runtime.desks.values()],
    }


@router.get("/v1/transactions/{tx_hash}", tags=["ops"], dependencies=[OPERATORS, ChainBound])
def transaction(
    runtime: RuntimeDep,
    tx_hash: Annotated[Bytes32, Path(description="hash of a transaction this service sent")],
) -> dict[str, Any]:
    """Return where a transaction this service accepted stands (the 202 status URL)."""
    status = transaction_status(
        runtime.registry.transactor, parse_bytes32(tx_hash, field="tx_hash")
    )
    return asdict(status)
