"""Evidence certificates (存证证书): a self-contained JSON record of one notarisation.

The certificate carries everything needed to check it against the chain alone: the document's
digest, the chain (id and genesis hash), the registry, the anchoring transaction and block,
both signatures with their signers, the Merkle leaf and proof for batched agreements, and the
checks to run. `certificate_id` is the SHA-256 of the RFC 8785 canonical JSON of the rest, so
any edit of a field that the chain cannot vouch for (issue time, issuer, steps) still shows.
The format (`loantrace-certificate/1`) is described field by field in the README.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import rfc8785

from loantrace.domain.agreement import Agreement, Domain, SignedAgreement
from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import parse_address, parse_bytes32, parse_hex, to_hex

FORMAT = "loantrace-certificate/1"
MERKLE_FORMAT = "standard-v1"

STEPS: tuple[str, ...] = (
    "Compute the SHA-256 of the document; it must equal document.digest and agreement.digest.",
    "Ask an Ethereum node of the chain for its chain id and the hash of block 0; they must "
    "equal chain.chain_id and chain.genesis_hash.",
    "Read block anchor.block_number: its hash and timestamp must equal anchor.block_hash and "
    "anchor.block_timestamp. Read the receipt of anchor.tx_hash: it must be in that block, "
    "successful, sent to chain.contract_address, and carry the registry's event "
    "(AgreementNotarised of agreement.agreement_id for a single record; BatchAnchored of "
    "merkle.root by agreement.lender with merkle.manifest_hash for a batch).",
    "Compute the EIP-712 hash of the agreement fields in the registry's domain (name "
    "LoantraceAgreementRegistry, version 2, the node's chain id, chain.contract_address); it "
    "must equal agreement.agreement_id, and both signatures must recover to agreement.lender "
    "and agreement.borrower.",
    "For a batch: the leaf values must be the agreement fields, and "
    "StandardMerkleTree.verify(merkle.root, merkle.leaf_types, merkle.leaf_values, "
    "merkle.proof) of @openzeppelin/merkle-tree must hold.",
    "Ask the registry: batchOf(agreement.lender, merkle.root) (batch) or "
    "recordOf(agreement.agreement_id) (single) must name the lender.",
    "Ask the registry statusOf(agreement.agreement_id): revoked or superseded agreements are "
    "no longer in force.",
    "Recompute certificate_id: SHA-256 of the RFC 8785 canonical JSON of this certificate "
    "without its certificate_id.",
)

# The checks, in order; a failing check names the result.
CHECKS: tuple[str, ...] = (
    "format",
    "document",
    "chain",
    "anchor",
    "signatures",
    "proof",
    "anchored",
    "status",
    "certificate_id",
)


def certificate_id(certificate: dict[str, Any]) -> str:
    """Return the id of `certificate`: SHA-256 of its canonical JSON without the id."""
    body = {k: v for k, v in certificate.items() if k != "certificate_id"}
    try:
        encoded = rfc8785.dumps(body)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InvalidInput(f"the certificate is not canonicalisable JSON: {exc}") from None
    return to_hex(hashlib.sha256(encoded).digest())


def seal(certificate: dict[str, Any]) -> dict[str, Any]:
    """Return `certificate` with its `certificate_id` first."""
    body = {k: v for k, v in certificate.items() if k != "certificate_id"}
    sealed = {"format": body.get("format"), "certificate_id": certificate_id(body)}
    return sealed | body


def iso_time(timestamp: int) -> str:
    """Return a Unix time as RFC 3339 UTC with a Z, as certificates write times."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ParsedCertificate:
    """The typed fields of a certificate, parsed strictly (bad input is `malformed`)."""

    raw: dict[str, Any]
    document_digest: bytes
    chain_id: int
    genesis_hash: bytes
    contract: str
    signed: SignedAgreement
    agreement_id: bytes
    mode: str
    tx_hash: bytes
    block_number: int
    block_hash: bytes
    block_timestamp: int
    merkle_root: bytes | None
    leaf_types: tuple[str, ...]
    leaf_values: list[Any]  # as written; the proof check parses them
    proof: tuple[bytes, ...]
    manifest_hash: bytes | None

    @property
    def domain(self) -> Domain:
        """Return the EIP-712 domain the certificate claims."""
        return Domain(chain_id=self.chain_id, verifying_contract=self.contract)


def parse_certificate(data: object) -> ParsedCertificate:
    """Parse a certificate; raise InvalidInput naming the first malformed field."""
    if not isinstance(data, dict):
        raise InvalidInput("a certificate is a JSON object")
    if data.get("format") != FORMAT:
        raise InvalidInput(f"format must be {FORMAT}")
    doc, chain = _obj(data, "document"), _obj(data, "chain")
    agr, anchor = _obj(data, "agreement"), _obj(data, "anchor")
    signed = SignedAgreement(
        Agreement(
            digest=_b32(agr, "agreement", "digest"),
            lender=_addr(agr, "agreement", "lender"),
            borrower=_addr(agr, "agreement", "borrower"),
            borrower_commitment=_b32(agr, "agreement", "borrower_commitment"),
            terms_digest=_b32(agr, "agreement", "terms_digest"),
            supersedes=_b32(agr, "agreement", "supersedes"),
        ),
        parse_hex(_str(agr, "agreement", "lender_signature"), field="lender_signature"),
        parse_hex(_str(agr, "agreement", "borrower_signature"), field="borrower_signature"),
    )
    mode = _str(anchor, "anchor", "mode")
    if mode not in ("single", "batch"):
        raise InvalidInput("anchor.mode must be single or batch")
    merkle = data.get("merkle")
    root: bytes | None = None
    manifest: bytes | None = None
    types: tuple[str, ...] = ()
    raw_values: list[Any] = []
    proof: tuple[bytes, ...] = ()
    if mode == "batch":
        if not isinstance(merkle, dict) or merkle.get("format") != MERKLE_FORMAT:
            raise InvalidInput(f"a batched certificate needs merkle of format {MERKLE_FORMAT}")
        root = _b32(merkle, "merkle", "root")
        types = tuple(str(t) for t in _list(merkle, "merkle", "leaf_types"))
        raw_values = _list(merkle, "merkle", "leaf_values")  # judged by the proof check
        proof = tuple(
            parse_bytes32(str(p), field="merkle.proof") for p in _list(merkle, "merkle", "proof")
        )
        manifest = _b32(merkle, "merkle", "manifest_hash")
    elif merkle is not None:
        raise InvalidInput("a single record's certificate has merkle null")
    _no_floats(data, "certificate")
    if doc.get("hash_algorithm") != "sha256":
        raise InvalidInput("document.hash_algorithm must be sha256")
    _str(data, "certificate", "certificate_id")
    return ParsedCertificate(
        raw=data,
        document_digest=_b32(doc, "document", "digest"),
        chain_id=_int(chain, "chain", "chain_id"),
        genesis_hash=_b32(chain, "chain", "genesis_hash"),
        contract=_addr(chain, "chain", "contract_address"),
        signed=signed,
        agreement_id=_b32(agr, "agreement", "agreement_id"),
        mode=mode,
        tx_hash=_b32(anchor, "anchor", "tx_hash"),
        block_number=_int(anchor, "anchor", "block_number"),
        block_hash=_b32(anchor, "anchor", "block_hash"),
        block_timestamp=_int(anchor, "anchor", "block_timestamp"),
        merkle_root=root,
        leaf_types=types,
        leaf_values=raw_values,
        proof=proof,
        manifest_hash=manifest,
    )


def eip712_domain_matches(data: dict[str, Any]) -> bool:
    """Return whether the certificate names the registry's EIP-712 domain name and version."""
    chain = data.get("chain")
    domain = chain.get("eip712_domain") if isinstance(chain, dict) else None
    return domain == {"name": Domain.NAME, "version": Domain.VERSION}


def _no_floats(value: object, where: str) -> None:
    """Refuse numbers that are not integers: canonical JSON of floats is not portable."""
    if isinstance(value, float):
        raise InvalidInput(f"{where} holds a number that is not an integer")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_floats(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_floats(item, f"{where}[{index}]")


def _obj(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise InvalidInput(f"{key} must be an object")
    return value


def _str(data: dict[str, Any], where: str, key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str):
        raise InvalidInput(f"{where}.{key} must be a string")
    return value


def _list(data: dict[str, Any], where: str, key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise InvalidInput(f"{where}.{key} must be a list")
    return value


def _int(data: dict[str, Any], where: str, key: str) -> int:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{where}.{key} must be a non-negative integer")
    return value


def _b32(data: dict[str, Any], where: str, key: str) -> bytes:
    return parse_bytes32(_str(data, where, key), field=f"{where}.{key}")


def _addr(data: dict[str, Any], where: str, key: str) -> str:
    return parse_address(_str(data, where, key), field=f"{where}.{key}")
