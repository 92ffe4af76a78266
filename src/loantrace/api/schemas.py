"""Request and response schemas of the HTTP API (kept apart from rows and domain objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from loantrace.api.patterns import EIP55, ParsedAddress, ParsedBytes32, ParsedSignature, Signature
from loantrace.domain.terms import MAX_INSTALMENTS, MAX_PRINCIPAL, LoanTerms
from loantrace.services.submissions import terms_from_json


def _whole_number(value: object) -> object:
    """Read a JSON number without a fraction (`5.0`) as the integer JSON Schema says it is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


WHOLE_NUMBER = BeforeValidator(_whole_number)
"""Let a strict integer field take `5.0` too; strings and booleans stay refused."""
Amount = Annotated[
    int, Field(strict=True, gt=0, le=2**53 - 1, description="minor units"), WHOLE_NUMBER
]


class InstalmentIn(BaseModel):
    """One instalment of a plan the lender writes itself (repayment_method "custom")."""

    model_config = ConfigDict(extra="forbid", strict=True)

    due_date: str = Field(examples=["2027-01-15"])
    principal: int = Field(ge=0, le=MAX_PRINCIPAL)
    interest: int = Field(ge=0, le=MAX_PRINCIPAL)
    fees: int = Field(0, ge=0, le=MAX_PRINCIPAL)


class TermsIn(BaseModel):
    """Key terms of the agreement; money in integer minor units (fen, cents).

    The borrower signs these terms and the full repayment schedule they give (computed by
    the method, or written out for "custom"); the ledger registers exactly that schedule.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    principal: int = Field(gt=0, le=MAX_PRINCIPAL, examples=[500_000])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["CNY"])
    apr_bps: int = Field(ge=0, le=100_000, examples=[1_150])
    instalments: int = Field(ge=1, le=MAX_INSTALMENTS, examples=[12])
    repayment_method: Literal["annuity", "equal_principal", "bullet", "custom"] = "annuity"
    start_date: str | None = Field(
        None,
        description="when the loan starts (the first period runs from here); "
        "default: one month before first_due_date",
        examples=["2026-12-15"],
    )
    first_due_date: str = Field(examples=["2027-01-15"])
    purpose: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,31}$", examples=["CONSUMPTION"])
    fee_per_instalment: int = Field(0, ge=0, le=MAX_PRINCIPAL, description="fees per instalment")
    schedule: list[InstalmentIn] | None = Field(
        None, max_length=MAX_INSTALMENTS, description="the plan, for repayment_method custom"
    )

    def to_domain(self) -> LoanTerms:
        """Return the validated domain terms."""
        return terms_from_json(self.model_dump(exclude_none=True))


class AgreementIn(BaseModel):
    """One agreement of a batch, by digest.

    The hex fields' patterns are in the schema, but the parsers refuse a malformed value, so
    that the error names the item (`agreements[3].digest`)."""

    model_config = ConfigDict(extra="forbid")

    digest: ParsedBytes32 = Field(description="SHA-256 of the document, 32 bytes hex")
    borrower: ParsedAddress = Field(description=f"borrower's pseudonymous signing address; {EIP55}")
    borrower_commitment: ParsedBytes32 = Field(
        description="salted commitment to the borrower, bytes32"
    )
    borrower_signature: ParsedSignature = Field(
        description="borrower's EIP-712 signature, 65 bytes hex"
    )
    lender_signature: ParsedSignature | None = Field(
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

    reason: Annotated[int, WHOLE_NUMBER] = Field(
        ge=1, le=255, description="reason code 1..255 (meaning is the lender's)"
    )
    borrower_signature: Signature | None = Field(
        None,
        description="the borrower's EIP-712 signature of Revocation(agreementId, reason); "
        "required while the agreement backs an open loan",
    )


class MerkleOut(BaseModel):
    """Inputs of OpenZeppelin `StandardMerkleTree.verify(root, leaf_types, leaf_values, proof)`."""

    root: str
    leaf_types: list[str]
    leaf_values: list[str]
    proof: list[str]


class ReceiptOut(BaseModel):
    """Where and when an agreement was anchored."""

    digest: str
    agreement_id: str | None = Field(
        None, description="the EIP-712 hash both parties signed: the record's key on chain"
    )
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
    lender: str = Field(description="the lender who signed and notarised it")
    borrower: str = Field(description="the borrower who signed it")
    lender_signature: str = Field(description="the lender's EIP-712 signature")
    borrower_signature: str = Field(description="the borrower's EIP-712 signature")
    block_hash: str | None = Field(
        None, description="hash of the anchoring block (None for records made before 0.2)"
    )
    genesis_hash: str = Field(description="hash of block 0: names the chain beyond its id")


class QueuedOut(BaseModel):
    """An agreement accepted for the next Merkle batch and not anchored yet: checked and
    stored; its receipt (with the Merkle proof) is at `status_url` once the batch is mined."""

    digest: str
    status: Literal["queued"] = "queued"
    mode: Literal["batch"] = "batch"
    lender: str = Field(description="the lender who signed it and will anchor it")
    accepted_at: datetime = Field(description="when it was accepted (UTC); a repeat keeps it")
    status_url: str = Field(description="GET it: this shape while queued, then the receipt")


AgreementStatusOut = Annotated[ReceiptOut | QueuedOut, Field(discriminator="status")]
"""A notarised agreement's receipt, or a queued one's acceptance."""


class PendingOut(BaseModel):
    """A transaction recorded and broadcast but not mined within the receipt timeout: it is
    not lost (the sender resends it); a retry of the request adopts it."""

    status: Literal["pending"]
    tx_hash: str
    status_url: str = Field(description="GET it for where the transaction stands")
    detail: str


AcceptedOut = Annotated[QueuedOut | PendingOut, Field(discriminator="status")]
"""A 202: queued for the next batch, or sent and not mined yet."""


class BatchOut(BaseModel):
    """Receipts of a batch, one per agreement, in request order."""

    root: str
    count: int
    receipts: list[ReceiptOut]


class VerificationOut(BaseModel):
    """What the chain says about a document."""

    digest: str
    verdict: Literal["valid", "superseded", "revoked", "not_found", "invalid", "other_chain"]
    mode: Literal["single", "batch"] | None = None
    agreement_id: str | None = Field(None, description="the record that answered")
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
    records: list[dict[str, Any]] = Field(
        default_factory=list,
        description="every single notarisation of this document on chain, by any lender",
    )


class TypedDataOut(BaseModel):
    """EIP-712 JSON a wallet signs (eth_signTypedData_v4)."""

    types: dict[str, list[dict[str, str]]]
    primaryType: str  # noqa: N815 - EIP-712 field name
    domain: dict[str, Any]
    message: dict[str, Any]
    disclosure: dict[str, Any] | None = Field(
        None,
        description="not signed: the plan's all-in annual cost (IRR, bps) beside the rate cap "
        "in force, and its totals; a wallet signs only types, primaryType, domain, message",
    )
