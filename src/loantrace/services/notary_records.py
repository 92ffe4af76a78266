"""The records the notary writes, and the checks it makes on stored agreements."""

from __future__ import annotations

import json

from loantrace.chain.transactor import TxResult
from loantrace.domain.agreement import Domain, SignedAgreement, recover_signer
from loantrace.domain.errors import NotActive, NotFound, SignatureError, SignatureMismatch
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.terms import LoanTerms
from loantrace.ports.ledger import AgreementRecord, AgreementRepository


def check_borrower_signature(signed: SignedAgreement, domain: Domain) -> None:
    """Raise SignatureMismatch unless the borrower signed `signed` in `domain` (as
    `SignedAgreement.check_signatures` does, for the lender's own fresh signature is sound)."""
    expected = signed.agreement.borrower
    try:
        recovered = recover_signer(signed.agreement, domain, signed.borrower_signature)
    except SignatureError as exc:
        raise SignatureMismatch(
            f"borrower signature recovers to no address ({exc}), expected borrower {expected}"
        ) from None
    if recovered != expected:
        raise SignatureMismatch(
            f"borrower signature recovers to {recovered}, expected borrower {expected}"
        )


def require_active_id(agreements: AgreementRepository, agreement_id: bytes) -> AgreementRecord:
    """Return the agreement with `agreement_id` if it is notarised here and in force."""
    record = agreements.by_agreement_id(to_hex(agreement_id))
    if record is None:
        raise NotFound(f"no agreement {to_hex(agreement_id)} is notarised here to supersede")
    if record.status != "notarised":
        raise NotActive(f"agreement {record.digest} is already {record.status}")
    return record


def require_active(agreements: AgreementRepository, digest: str) -> AgreementRecord:
    """Return the agreement `digest` if it is notarised here and in force."""
    record = agreements.get(digest)
    if record is None:
        raise NotFound(f"no agreement {digest} is notarised here")
    if record.status != "notarised":
        raise NotActive(f"agreement {digest} is already {record.status}")
    return record


def terms_json(terms: LoanTerms) -> str:
    """Return the terms as stored beside an agreement (canonical key order)."""
    return json.dumps(terms.to_json(), sort_keys=True)


def record_of_signed(
    signed: SignedAgreement,
    terms: str,
    result: TxResult,
    *,
    mode: str,
    agreement_id: str,
    batch_root: str | None = None,
    leaf_index: int | None = None,
    proof_json: str | None = None,
) -> AgreementRecord:
    """Return the record of `signed` (with its terms JSON) as `result` anchored it."""
    a = signed.agreement
    return AgreementRecord(
        digest=to_hex(a.digest),
        agreement_id=agreement_id,
        lender=a.lender,
        borrower=a.borrower,
        borrower_commitment=to_hex(a.borrower_commitment),
        terms_digest=to_hex(a.terms_digest),
        terms_json=terms,
        supersedes=to_hex(a.supersedes) if any(a.supersedes) else None,
        lender_signature=to_hex(signed.lender_signature),
        borrower_signature=to_hex(signed.borrower_signature),
        mode=mode,
        status="notarised",
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        block_timestamp=result.block_timestamp,
        block_hash=result.block_hash,
        batch_root=batch_root,
        leaf_index=leaf_index,
        proof_json=proof_json,
    )
