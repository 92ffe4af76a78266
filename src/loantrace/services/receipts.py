"""Receipts and Merkle evidence: what a lender keeps and an auditor checks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from loantrace.chain.registry import OnChainStatus, RegistryClient
from loantrace.domain.agreement import Agreement, SignedAgreement
from loantrace.domain.errors import InvalidInput
from loantrace.domain.hexcodec import parse_bytes32, to_hex
from loantrace.domain.merkle import (
    AGREEMENT_LEAF_TYPES,
    agreement_leaf_values,
    leaf_values_from_json,
    leaf_values_to_json,
)

MAX_PROOF_LENGTH = 64

# What a verifier calls each on-chain status (None: a batched agreement still in force).
VERDICT_OF_STATUS: dict[int, str] = {
    OnChainStatus.NONE: "valid",
    OnChainStatus.NOTARISED: "valid",
    OnChainStatus.SUPERSEDED: "superseded",
    OnChainStatus.REVOKED: "revoked",
}


class SignedFields(Protocol):
    """What a signed agreement is rebuilt from: a stored record, or a queued agreement."""

    @property
    def digest(self) -> str: ...
    @property
    def lender(self) -> str: ...
    @property
    def borrower(self) -> str: ...
    @property
    def borrower_commitment(self) -> str: ...
    @property
    def terms_digest(self) -> str: ...
    @property
    def supersedes(self) -> str | None: ...
    @property
    def lender_signature(self) -> str: ...
    @property
    def borrower_signature(self) -> str: ...


class StoredAgreement(Protocol):
    """What a receipt is built from: a `ports.ledger.AgreementRecord`, or (until the verifier
    is ported to the ledger port) the `AgreementRow` it reads itself."""

    @property
    def digest(self) -> str: ...
    @property
    def agreement_id(self) -> str | None: ...
    @property
    def lender(self) -> str: ...
    @property
    def borrower(self) -> str: ...
    @property
    def borrower_commitment(self) -> str: ...
    @property
    def terms_digest(self) -> str: ...
    @property
    def supersedes(self) -> str | None: ...
    @property
    def lender_signature(self) -> str: ...
    @property
    def borrower_signature(self) -> str: ...
    @property
    def mode(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def superseded_by(self) -> str | None: ...
    @property
    def revoke_reason(self) -> int | None: ...
    @property
    def tx_hash(self) -> str: ...
    @property
    def block_number(self) -> int: ...
    @property
    def block_timestamp(self) -> int: ...
    @property
    def batch_root(self) -> str | None: ...
    @property
    def proof_json(self) -> str | None: ...
    @property
    def block_hash(self) -> str | None: ...


@dataclass(frozen=True)
class MerkleEvidence:
    """A leaf of a batch and its proof, in OpenZeppelin StandardMerkleTree form."""

    root: bytes
    signed: SignedAgreement
    proof: tuple[bytes, ...]

    @classmethod
    def of_record(cls, record: StoredAgreement) -> MerkleEvidence:
        """Build the evidence of a batched agreement."""
        if record.batch_root is None or record.proof_json is None:
            raise InvalidInput(f"agreement {record.digest} was not notarised in a batch")
        proof = tuple(parse_bytes32(p, field="proof") for p in json.loads(record.proof_json))
        root = parse_bytes32(record.batch_root, field="root")
        return cls(root=root, signed=signed_of(record), proof=proof)

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

    @classmethod
    def from_values(
        cls, root: bytes, values: Sequence[object], proof: Sequence[bytes]
    ) -> MerkleEvidence:
        """Build evidence from a manifest's leaf values (AGREEMENT_LEAF_TYPES order)."""
        return cls(root=root, signed=_signed_from_values(tuple(values)), proof=tuple(proof))

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
    lender: str
    borrower: str
    lender_signature: str
    borrower_signature: str
    block_hash: str | None
    genesis_hash: str


def signed_of(record: SignedFields) -> SignedAgreement:
    """Rebuild the signed agreement of a stored (or queued) agreement."""
    agreement = Agreement(
        digest=bytes.fromhex(record.digest[2:]),
        lender=record.lender,
        borrower=record.borrower,
        borrower_commitment=bytes.fromhex(record.borrower_commitment[2:]),
        terms_digest=bytes.fromhex(record.terms_digest[2:]),
        supersedes=bytes.fromhex(record.supersedes[2:]) if record.supersedes else bytes(32),
    )
    return SignedAgreement(
        agreement=agreement,
        lender_signature=bytes.fromhex(record.lender_signature[2:]),
        borrower_signature=bytes.fromhex(record.borrower_signature[2:]),
    )


def receipt_of(record: StoredAgreement, registry: RegistryClient) -> Receipt:
    """Build the receipt of a stored agreement."""
    merkle = MerkleEvidence.of_record(record).to_json() if record.mode == "batch" else None
    return Receipt(
        digest=record.digest,
        agreement_id=record.agreement_id,
        chain_id=registry.domain.chain_id,
        contract_address=registry.address,
        tx_hash=record.tx_hash,
        block_number=record.block_number,
        block_timestamp=record.block_timestamp,
        status=record.status,
        mode=record.mode,
        superseded_by=record.superseded_by,
        revoke_reason=record.revoke_reason,
        merkle=merkle,
        lender=record.lender,
        borrower=record.borrower,
        lender_signature=record.lender_signature,
        borrower_signature=record.borrower_signature,
        block_hash=record.block_hash,
        genesis_hash=registry.genesis_hash,
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
