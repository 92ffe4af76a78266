"""Evidence certificates (JSON or signed PDF) and the published batch manifests."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Request, Response

from loantrace.api.auth import PrincipalDep, PublicLimited, allow, confine
from loantrace.api.chain_gate import ChainBound
from loantrace.api.patterns import Bytes32
from loantrace.domain.hexcodec import parse_bytes32
from loantrace.services.certificates import CertificateIssuer

router = APIRouter(tags=["certificates"])

PARTIES = allow("lender", "borrower")
PDF = "application/pdf"


async def get_issuer(request: Request) -> CertificateIssuer:
    """Return the certificate issuer of the running service."""
    return cast(CertificateIssuer, request.app.state.runtime.certificates)


IssuerDep = Annotated[CertificateIssuer, Depends(get_issuer)]


@router.get(
    "/v1/agreements/{digest}/certificate",
    dependencies=[PARTIES, ChainBound],
    responses={200: {"content": {"application/json": {}, PDF: {}}}},
)
def certificate(
    request: Request,
    principal: PrincipalDep,
    issuer: IssuerDep,
    digest: Annotated[Bytes32, Path(description="SHA-256 of the agreement document, hex")],
) -> Response:
    """Return the evidence certificate of an agreement: to its lender and to the borrower who
    signed it. JSON by default; a PAdES-signed PDF with a QR code for `Accept: application/pdf`.
    """
    record = issuer.record(parse_bytes32(digest, field="digest"))
    owner = record.lender if principal.role == "lender" else record.borrower
    confine(principal, owner, f"agreement {record.digest}")
    issued = issuer.issue(record)
    if _wants_pdf(request.headers.get("accept", "")):
        name = f"certificate-{record.digest[2:18]}.pdf"
        return Response(
            issuer.pdf(issued),
            media_type=PDF,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return _json(issued, {"Content-Disposition": 'inline; filename="certificate.json"'})


@router.get("/v1/manifests/{sha256}", dependencies=[PublicLimited])
def manifest(
    issuer: IssuerDep,
    sha256: Annotated[Bytes32, Path(description="the manifest's SHA-256, as anchored on chain")],
) -> Response:
    """Return a batch manifest by its SHA-256: the batch's leaves as an OpenZeppelin
    StandardMerkleTree dump. Anyone may fetch it and check it against the anchored root."""
    return Response(
        issuer.manifest(parse_bytes32(sha256, field="sha256")),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def _wants_pdf(accept: str) -> bool:
    """Return whether the Accept header prefers PDF to JSON (q-values honoured)."""
    best: dict[str, float] = {}
    for part in accept.split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        best[kind.lower()] = max(best.get(kind.lower(), 0.0), quality)
    return best.get(PDF, 0.0) > max(best.get("application/json", 0.0), best.get("*/*", 0.0))


def _json(data: dict[str, Any], headers: dict[str, str]) -> Response:
    import json

    return Response(json.dumps(data, indent=2), media_type="application/json", headers=headers)
