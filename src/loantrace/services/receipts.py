"""Receipts and Merkle evidence: what a lender keeps and an auditor checks."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from loantrace.chain.registry import RegistryClient
from loantrace.domain.agreement import Agreement, SignedAgreement
from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import parse_bytes32, to_hex
from loantrace.domain.merkle import (
    AGREEMENT_LEAF_TYPES,
    agreement_leaf_values,
    leaf_values_from_json,
    leaf_values_to_json,
)
from loantrace.store.models import AgreementRow

MAX_PROOF_LENGTH = 64


@dataclass(frozen=True)
class MerkleEvidence:
    """A leaf of a batch and its proof, in OpenZeppelin StandardMerkleTree form."""

    root: bytes
    signed: SignedAgreement
    proof: tuple[bytes, ...]

    @classmethod
    def of_row(cls, row: AgreementRow) -> MerkleEvidence:
        """Build the evidence of a batched agreement row."""
        if row.batch_root is None or row.proof_json is None:
            raise InvalidInput(f"agreement {row.digest} was not notarised in a batch")
        proof = tuple(parse_bytes32(p, field="proof") for p in json.loads(row.proof_json))
        return cls(
            root=parse_bytes32(row.batch_root, field="root"), signed=signed_of(row), proof=proof
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MerkleEvidence:
        """Parse a receipt's `merkle` object; reject anything malformed."""
        if not isinstance(data, dict):
            raise InvalidInput("merkle must be an object with root, leaf_types, leaf_values, proof")
        if list(data.get("leaf_types", [])) != list(AGREEMENT_LEAF_TYPES):
            raise InvalidInput(f"merkle.leaf_types must be {list(AGREEMENT_LEAF_TYPES)}")
        proof_raw = data.get("proof")
        if not isinstance(proof_raw, list) or len(proof_raw) > MAX_PROOF_LENGTH:
            raise InvalidInput(f"merkle.proof must be a list of at most {MAX_PROOF_LENGTH} hashes")
        values_raw = data.get("leaf_values")
        if not isinstance(values_raw, list):
            raise InvalidInput("merkle.leaf_values must be a list")
        values = leaf_values_from_json(values_raw, AGREEMENT_LEAF_TYPES)
        return cls(
            root=parse_bytes32(str(data.get("root", "")), field="merkle.root"),
            signed=_signed_from_values(values),
            proof=tuple(parse_bytes32(str(p), field="merkle.proof") for p in proof_raw),
        )

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object `StandardMerkleTree.verify` accepts, field by field."""
        values = agreement_leaf_values(self.signed)
        return {
            "root": to_hex(self.root),
            "leaf_types": list(AGREEMENT_LEAF_TYPES),
            "leaf_values": leaf_values_to_json(values, AGREEMENT_LEAF_TYPES),
            "proof": [to_hex(p) for p in self.proof],
        }


@dataclass(frozen=True)
class Receipt:
    """Where and when an agreement was anchored."""

    digest: str
    agreement_id: str | None
    chain_id: int
    contract_address: str
    tx_hash: str
    block_number: int
    block_timestamp: int
    status: str
    mode: str
    superseded_by: str | None
    revoke_reason: int | None
    merkle: dict[str, Any] | None


def signed_of(row: AgreementRow) -> SignedAgreement:
    """Rebuild the signed agreement of a stored row."""
    agreement = Agreement(
        digest=bytes.fromhex(row.digest[2:]),
        lender=row.lender,
        borrower=row.borrower,
        borrower_commitment=bytes.fromhex(row.borrower_commitment[2:]),
        terms_digest=bytes.fromhex(row.terms_digest[2:]),
        supersedes=bytes.fromhex(row.supersedes[2:]) if row.supersedes else bytes(32),
    )
    return SignedAgreement(
        agreement=agreement,
        lender_signature=bytes.fromhex(row.lender_signature[2:]),
        borrower_signature=bytes.fromhex(row.borrower_signature[2:]),
    )


def receipt_of(row: AgreementRow, registry: RegistryClient) -> Receipt:
    """Build the receipt of a stored agreement."""
    merkle = MerkleEvidence.of_row(row).to_json() if row.mode == "batch" else None
    return Receipt(
        digest=row.digest,
        agreement_id=row.agreement_id,
        chain_id=registry.domain.chain_id,
        contract_address=registry.address,
        tx_hash=row.tx_hash,
        block_number=row.block_number,
        block_timestamp=row.block_timestamp,
        status=row.status,
        mode=row.mode,
        superseded_by=row.superseded_by,
        revoke_reason=row.revoke_reason,
        merkle=merkle,
    )


def _signed_from_values(values: tuple[Any, ...]) -> SignedAgreement:
    digest, lender, borrower, commitment, terms, supersedes, lender_sig, borrower_sig = values
    agreement = Agreement(
        digest=digest,
        lender=lender,
        borrower=borrower,
        borrower_commitment=commitment,
        terms_digest=terms,
        supersedes=supersedes,
    )
    return SignedAgreement(agreement, bytes(lender_sig), bytes(borrower_sig))
