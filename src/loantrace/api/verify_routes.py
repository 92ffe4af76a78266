"""Verification over HTTP: by document or digest, the fast path batched across requests."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from loantrace.api.auth import PublicLimited
from loantrace.api.chain_gate import ChainBound
from loantrace.api.coalesce import Coalescer
from loantrace.api.deps import SettingsDep, VerifierDep
from loantrace.api.patterns import Address, Bytes32
from loantrace.api.routes import DOCUMENT_OR_DIGEST, digest_of
from loantrace.api.schemas import VerificationOut
from loantrace.domain import safejson
from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import parse_address, parse_bytes32, to_hex
from loantrace.services.receipts import MerkleEvidence
from loantrace.services.verify import VerificationReport, Verifier
from loantrace.settings import Settings

router = APIRouter()


@router.post(
    "/v1/verify",
    tags=["verify"],
    dependencies=[PublicLimited, ChainBound],
    openapi_extra=DOCUMENT_OR_DIGEST,
    response_model=VerificationOut,
)
async def verify(
    request: Request,
    verifier: VerifierDep,
    settings: SettingsDep,
    document: Annotated[UploadFile | None, File(description="the document to check")] = None,
    digest: Annotated[Bytes32 | None, Form(description="or its SHA-256, hex")] = None,
    merkle: Annotated[
        str | None, Form(description="a receipt's `merkle` object (JSON), for batched ones")
    ] = None,
    chain_id: Annotated[
        int | None,
        Form(ge=1, le=2**53 - 1, description="a receipt's `chain_id`: another chain is said so"),
    ] = None,
    contract_address: Annotated[
        Address | None, Form(description="a receipt's `contract_address` (the registry)")
    ] = None,
) -> Response:
    """Verify a document against the chain: anchor, signers, proof, status, confirmations.
    Given the receipt's chain and registry, a receipt of another chain answers `other_chain`."""
    contract = (
        parse_address(contract_address, field="contract_address") if contract_address else None
    )
    tried = document is None and digest is not None and merkle is None
    tried = tried and not verifier.elsewhere(chain_id, contract)
    if tried:
        # By digest: one of ours is answered in a batch with the other requests waiting now.
        value = to_hex(parse_bytes32(digest or "", field="digest"))
        batches: Coalescer[str, VerificationReport | None] = request.app.state.verifications
        fast = await batches.submit(value)
        if fast is not None:
            return _answer(fast)
    report = await run_in_threadpool(
        _verify, verifier, settings, document, digest, merkle, chain_id, contract, not tried
    )
    return _answer(report)


def _answer(report: VerificationReport) -> Response:
    """The report as VerificationOut's JSON, validated once (returning the model would have
    FastAPI validate it a second time)."""
    body = VerificationOut.model_validate(asdict(report)).model_dump_json()
    return Response(body, media_type="application/json")


def _verify(
    verifier: Verifier,
    settings: Settings,
    document: UploadFile | None,
    digest: str | None,
    merkle: str | None,
    chain_id: int | None,
    contract: str | None,
    fast: bool,
) -> VerificationReport:
    value = digest_of(settings, document, digest)
    evidence = MerkleEvidence.from_json(_json_object(merkle, "merkle")) if merkle else None
    return verifier.verify(value, evidence, chain_id=chain_id, contract=contract, fast=fast)


def _json_object(raw: str, field: str) -> dict[str, Any]:
    value = safejson.loads(raw, field=field)
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be a JSON object")
    return value
