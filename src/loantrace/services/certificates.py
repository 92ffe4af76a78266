"""Evidence certificates: issue one for a notarised agreement; check one against the chain."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from loantrace.chain.evidence import ChainEvidence
from loantrace.chain.registry import OnChainStatus, RegistryClient
from loantrace.domain.agreement import recover_signer, signing_hash
from loantrace.domain.certificate import (
    FORMAT,
    MERKLE_FORMAT,
    STEPS,
    ParsedCertificate,
    certificate_id,
    eip712_domain_matches,
    iso_time,
    parse_certificate,
    seal,
)
from loantrace.domain.errors import InvalidInput, NotFound, SignatureError, Unavailable
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.merkle import (
    AGREEMENT_LEAF_TYPES,
    agreement_leaf_values,
    leaf_values_from_json,
    verify,
)
from loantrace.ports.ledger import AgreementRecord, LedgerUnitOfWork
from loantrace.services.receipts import VERDICT_OF_STATUS, MerkleEvidence, signed_of


class CertificateIssuer:
    """Issue certificates for agreements notarised by this service."""

    def __init__(
        self,
        *,
        registry: RegistryClient,
        uow: Callable[[], LedgerUnitOfWork],
        genesis_hash: str,
        base_url: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        render_pdf: Callable[[dict[str, Any]], bytes] | None = None,
    ) -> None:
        """`base_url` is where the public verification page is (the QR code's target);
        `render_pdf` renders and signs a certificate as PDF."""
        self._render_pdf = render_pdf
        self._registry = registry
        self._uow = uow
        self._genesis = genesis_hash
        self._base = base_url.rstrip("/")
        self._clock = clock

    def record(self, digest: bytes) -> AgreementRecord:
        """Return our record of `digest`; NotFound when this service did not notarise it."""
        with self._uow() as uow:
            record = uow.agreements.get(to_hex(digest))
        if record is None or record.agreement_id is None:
            raise NotFound(f"no agreement {to_hex(digest)} is notarised here")
        return record

    def pdf(self, certificate: dict[str, Any]) -> bytes:
        """Return the signed PDF of an issued certificate."""
        if self._render_pdf is None:
            raise Unavailable("this service renders no PDF certificates")
        return self._render_pdf(certificate)

    def manifest(self, sha256: bytes) -> bytes:
        """Return a batch manifest published here, by its SHA-256; NotFound otherwise."""
        with self._uow() as uow:
            body = uow.agreements.manifest(to_hex(sha256))
        if body is None:
            raise NotFound(f"no manifest {to_hex(sha256)} is published here")
        return body

    def issue(self, record: AgreementRecord) -> dict[str, Any]:
        """Return the sealed certificate of `record`, its status read from the chain now."""
        signed = signed_of(record)
        w3 = self._registry.contract.w3
        block = w3.eth.get_block(record.block_number)
        head = int(w3.eth.block_number)
        agreement_id = bytes.fromhex(str(record.agreement_id)[2:])
        status = self._registry.status_of(agreement_id)
        merkle = None
        if record.mode == "batch":
            evidence = MerkleEvidence.of_record(record).to_json()
            with self._uow() as uow:
                stored = uow.agreements.manifest_of_root(evidence["root"])
            merkle = {
                "format": MERKLE_FORMAT,
                **evidence,
                "manifest_hash": stored[0] if stored else to_hex(bytes(32)),
            }
        a = signed.agreement
        body = {
            "format": FORMAT,
            "issued_at": self._clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "issuer": {"name": "loantrace", "base_url": self._base},
            "document": {"hash_algorithm": "sha256", "digest": to_hex(a.digest)},
            "chain": {
                "chain_id": self._registry.domain.chain_id,
                "genesis_hash": self._genesis,
                "contract_address": self._registry.address,
                "eip712_domain": {"name": "LoantraceAgreementRegistry", "version": "2"},
            },
            "agreement": {
                "agreement_id": record.agreement_id,
                "digest": to_hex(a.digest),
                "lender": a.lender,
                "borrower": a.borrower,
                "borrower_commitment": to_hex(a.borrower_commitment),
                "terms_digest": to_hex(a.terms_digest),
                "supersedes": to_hex(a.supersedes),
                "lender_signature": to_hex(signed.lender_signature),
                "borrower_signature": to_hex(signed.borrower_signature),
            },
            "anchor": {
                "mode": record.mode,
                "tx_hash": record.tx_hash,
                "block_number": record.block_number,
                "block_hash": to_hex(bytes(block["hash"])),
                "block_timestamp": int(block["timestamp"]),
                "block_time": iso_time(int(block["timestamp"])),
            },
            "merkle": merkle,
            "status_at_issue": {
                "status": VERDICT_OF_STATUS[status.status],
                "block_number": head,
                "superseded_by": to_hex(status.successor) if any(status.successor) else None,
                "revoke_reason": status.reason or None,
            },
            "verify_url": f"{self._base}/?digest={to_hex(a.digest)}",
            "steps": list(STEPS),
        }
        return seal(body)


@dataclass(frozen=True)
class Check:
    """One check of a certificate and what it found."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class CertificateVerdict:
    """The result of checking a certificate: `valid`, or the code of the first failed check."""

    result: str
    certificate_id: str | None
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether every check passed."""
        return self.result == "valid"

    def to_json(self) -> dict[str, Any]:
        """Return the verdict as the JSON both verifiers print."""
        return {
            "result": self.result,
            "ok": self.ok,
            "checks": [asdict(c) for c in self.checks],
            "certificate_id": self.certificate_id,
        }


class _Failed(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def check_certificate(
    data: object,
    chain: ChainEvidence | Callable[[str], ChainEvidence],
    *,
    document: bytes | None = None,
    registry: str | None = None,
) -> CertificateVerdict:
    """Check a certificate against the chain alone; stop at the first failing check.

    `chain` reads the node; given as a factory, it is bound to the certificate's registry.
    `registry`, when given, is the registry address the caller trusts.
    """
    checks: list[Check] = []
    claimed = data.get("certificate_id") if isinstance(data, dict) else None
    claimed_id = claimed if isinstance(claimed, str) else None

    def passed(name: str, detail: str) -> None:
        checks.append(Check(name, True, detail))

    try:
        try:
            cert = parse_certificate(data)
        except InvalidInput as exc:
            raise _Failed("malformed", str(exc)) from None
        passed("format", FORMAT)
        reader = chain if isinstance(chain, ChainEvidence) else chain(cert.contract)
        passed("document", _document(cert, document))
        passed("chain", _chain(cert, reader, registry))
        passed("anchor", _anchor(cert, reader))
        passed("signatures", _signatures(cert, reader.chain_id()))
        if cert.mode == "batch":
            passed("proof", _proof(cert))
        passed("anchored", _anchored(cert, reader))
        passed("status", _status(cert, reader))
        if certificate_id(cert.raw) != cert.raw["certificate_id"]:
            raise _Failed("altered_certificate", "certificate_id is not the hash of the rest")
        passed("certificate_id", "the hash of the certificate's content")
    except _Failed as failed:
        name = _CHECK_OF.get(failed.code, failed.code)
        checks.append(Check(name, False, failed.detail))
        return CertificateVerdict(failed.code, claimed_id, checks)
    return CertificateVerdict("valid", claimed_id, checks)


_CHECK_OF = {
    "malformed": "format",
    "wrong_document": "document",
    "wrong_chain": "chain",
    "anchor_mismatch": "anchor",
    "bad_signature": "signatures",
    "proof_mismatch": "proof",
    "unknown_root": "anchored",
    "unknown_record": "anchored",
    "revoked": "status",
    "superseded": "status",
    "altered_certificate": "certificate_id",
}


def _document(cert: ParsedCertificate, document: bytes | None) -> str:
    if cert.document_digest != cert.signed.agreement.digest:
        raise _Failed("wrong_document", "document.digest is not the agreement's digest")
    if document is None:
        return "no document given: the digest is taken from the certificate"
    if hashlib.sha256(document).digest() != cert.document_digest:
        raise _Failed("wrong_document", "the document's SHA-256 is not the certified digest")
    return "the document's SHA-256 is the certified digest"


def _chain(cert: ParsedCertificate, reader: ChainEvidence, registry: str | None) -> str:
    chain_id = reader.chain_id()
    if chain_id != cert.chain_id:
        raise _Failed("wrong_chain", f"the node is chain {chain_id}, not {cert.chain_id}")
    genesis = reader.block(0)
    if genesis is None or genesis.hash != cert.genesis_hash:
        raise _Failed("wrong_chain", "the node's genesis block is not the certified one")
    if registry is not None and registry.lower() != cert.contract.lower():
        raise _Failed("wrong_chain", f"the certificate names registry {cert.contract}")
    if not eip712_domain_matches(cert.raw):
        raise _Failed("wrong_chain", "chain.eip712_domain is not the registry's domain")
    if not reader.is_registry_build():
        raise _Failed("wrong_chain", f"{cert.contract} holds no AgreementRegistry of this build")
    return f"chain {chain_id}, genesis {to_hex(genesis.hash)}"


def _anchor(cert: ParsedCertificate, reader: ChainEvidence) -> str:
    block = reader.block(cert.block_number)
    if block is None or block.hash != cert.block_hash:
        raise _Failed("anchor_mismatch", f"block {cert.block_number} has another hash")
    if block.timestamp != cert.block_timestamp:
        raise _Failed("anchor_mismatch", f"block {cert.block_number} has another timestamp")
    tx = reader.transaction(cert.tx_hash)
    if tx is None or tx.block_hash != cert.block_hash or not tx.succeeded:
        raise _Failed("anchor_mismatch", "the transaction is not a successful one of that block")
    if tx.to is None or tx.to.lower() != cert.contract.lower():
        raise _Failed("anchor_mismatch", "the transaction was not sent to the registry")
    for event in tx.events:
        if _is_certified_event(cert, event.name, event.args):
            return f"{event.name} in tx {to_hex(cert.tx_hash)}"
    raise _Failed("anchor_mismatch", "the transaction does not carry the certified event")


def _is_certified_event(cert: ParsedCertificate, name: str, args: dict[str, Any]) -> bool:
    lender = cert.signed.agreement.lender.lower()
    if cert.mode == "single":
        return (
            name == "AgreementNotarised"
            and bytes(args["agreementId"]) == cert.agreement_id
            and bytes(args["digest"]) == cert.signed.agreement.digest
            and str(args["lender"]).lower() == lender
        )
    return (
        name == "BatchAnchored"
        and bytes(args["root"]) == cert.merkle_root
        and str(args["lender"]).lower() == lender
        and bytes(args["manifestHash"]) == cert.manifest_hash
    )


def _signatures(cert: ParsedCertificate, chain_id: int) -> str:
    a = cert.signed.agreement
    domain = cert.domain
    if chain_id != domain.chain_id or signing_hash(a, domain) != cert.agreement_id:
        raise _Failed("bad_signature", "agreement_id is not the EIP-712 hash of the agreement")
    for role, party, signature in (
        ("lender", a.lender, cert.signed.lender_signature),
        ("borrower", a.borrower, cert.signed.borrower_signature),
    ):
        try:
            signer = recover_signer(a, domain, signature)
        except SignatureError:
            raise _Failed("bad_signature", f"the {role} signature cannot be recovered") from None
        if signer != party:
            raise _Failed("bad_signature", f"the {role} signature is by {signer}, not {party}")
    return "both signatures recover to the named parties"


def _proof(cert: ParsedCertificate) -> str:
    assert cert.merkle_root is not None
    if cert.leaf_types != AGREEMENT_LEAF_TYPES:
        raise _Failed("proof_mismatch", f"leaf_types are not {list(AGREEMENT_LEAF_TYPES)}")
    try:
        values = leaf_values_from_json(cert.leaf_values, AGREEMENT_LEAF_TYPES)
    except InvalidInput as exc:
        raise _Failed(
            "proof_mismatch", f"the leaf values are not an agreement leaf: {exc}"
        ) from None
    if values != agreement_leaf_values(cert.signed):
        raise _Failed("proof_mismatch", "the leaf values are not the agreement's fields")
    if not verify(cert.merkle_root, cert.leaf_types, values, cert.proof):
        raise _Failed("proof_mismatch", "the proof does not lead to the root")
    return f"the leaf is under root {to_hex(cert.merkle_root)}"


def _anchored(cert: ParsedCertificate, reader: ChainEvidence) -> str:
    lender = cert.signed.agreement.lender
    if cert.mode == "batch":
        assert cert.merkle_root is not None
        if reader.batch_lender(lender, cert.merkle_root) is None:
            raise _Failed("unknown_root", "the registry has no such batch of the lender")
        return "the registry holds the lender's batch"
    if reader.record_lender(cert.agreement_id) is None:
        raise _Failed("unknown_record", "the registry has no record of this agreement id")
    return "the registry holds the record"


def _status(cert: ParsedCertificate, reader: ChainEvidence) -> str:
    status, successor, reason = reader.status(cert.agreement_id)
    if status == OnChainStatus.REVOKED:
        raise _Failed("revoked", f"revoked with reason {reason}")
    if status == OnChainStatus.SUPERSEDED:
        raise _Failed("superseded", f"superseded by {to_hex(successor)}")
    return "in force"


def load_certificate(text: str) -> object:
    """Parse certificate JSON text; malformed JSON is reported by `check_certificate`."""
    try:
        return json.loads(text)
    except ValueError:
        return None
