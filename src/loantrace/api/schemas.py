"""Request and response schemas of the HTTP API (kept apart from rows and domain objects)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from loantrace.domain.terms import MAX_INSTALMENTS, MAX_PRINCIPAL, LoanTerms

HEX32 = r"^(0x)?[0-9a-fA-F]{64}$"
HEX_ADDRESS = r"^(0x)?[0-9a-fA-F]{40}$"


class TermsIn(BaseModel):
    """Key terms of the agreement; money in integer minor units (fen, cents)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    principal: int = Field(gt=0, le=MAX_PRINCIPAL, examples=[500_000])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])
    apr_bps: int = Field(ge=0, le=100_000, examples=[1_450])
    instalments: int = Field(ge=1, le=MAX_INSTALMENTS, examples=[12])
    repayment_method: Literal["annuity", "equal_principal", "bullet"] = "annuity"
    first_due_date: str = Field(examples=["2027-01-15"])
    purpose: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$", examples=["CONSUMPTION"])

    def to_domain(self) -> LoanTerms:
        """Return the validated domain terms."""
        return LoanTerms(**self.model_dump())


class AgreementIn(BaseModel):
    """One agreement of a batch, by digest."""

    model_config = ConfigDict(extra="forbid")

    digest: str = Field(description="SHA-256 of the document, 32 bytes hex")
    borrower: str = Field(description="borrower's pseudonymous signing address")
    borrower_commitment: str = Field(description="salted commitment to the borrower, bytes32")
    borrower_signature: str = Field(description="borrower's EIP-712 signature, 65 bytes hex")
    lender_signature: str | None = Field(
        None, description="lender's EIP-712 signature; omitted = the service signs as lender"
    )
    terms: TermsIn


class BatchIn(BaseModel):
    """Many agreements anchored under one Merkle root."""

    model_config = ConfigDict(extra="forbid")

    agreements: list[AgreementIn] = Field(min_length=1)


class RevokeIn(BaseModel):
    """Why an agreement is revoked."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: int = Field(ge=1, le=255, description="reason code 1..255 (meaning is the lender's)")


class MerkleOut(BaseModel):
    """Inputs of OpenZeppelin `StandardMerkleTree.verify(root, leaf_types, leaf_values, proof)`."""

    root: str
    leaf_types: list[str]
    leaf_values: list[str]
    proof: list[str]


class ReceiptOut(BaseModel):
    """Where and when an agreement was anchored."""

    digest: str
    chain_id: int
    contract_address: str
    tx_hash: str
    block_number: int
    block_timestamp: int
    status: Literal["notarised", "superseded", "revoked"]
    mode: Literal["single", "batch"]
    superseded_by: str | None = None
    revoke_reason: int | None = None
    merkle: MerkleOut | None = None


class BatchOut(BaseModel):
    """Receipts of a batch, one per agreement, in request order."""

    root: str
    count: int
    receipts: list[ReceiptOut]


class VerificationOut(BaseModel):
    """What the chain says about a document."""

    digest: str
    verdict: Literal["valid", "superseded", "revoked", "not_found", "invalid"]
    mode: Literal["single", "batch"] | None = None
    chain_id: int | None = None
    contract_address: str | None = None
    notarised_at: str | None = None
    block_timestamp: int | None = None
    block_number: int | None = None
    tx_hash: str | None = None
    lender: str | None = None
    borrower: str | None = None
    recovered_lender: str | None = None
    recovered_borrower: str | None = None
    signatures_match: bool | None = None
    merkle_root: str | None = None
    merkle_proof_valid: bool | None = None
    confirmations: int | None = None
    superseded_by: str | None = None
    revoke_reason: int | None = None
    explanation: str = ""


class TypedDataOut(BaseModel):
    """EIP-712 JSON a wallet signs (eth_signTypedData_v4)."""

    types: dict[str, list[dict[str, str]]]
    primaryType: str  # noqa: N815 - EIP-712 field name
    domain: dict[str, Any]
    message: dict[str, Any]
