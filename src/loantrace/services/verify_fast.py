"""The fast path of verification: our own record, plus one round trip to the chain.

For an agreement notarised by this service, the signed fields, the signatures and the anchor
are in our store; the chain is asked, in one JSON-RPC batch, for the head, the agreement's
status, its record (single) or its lender's batch (batched), and the anchor block's hash. The
verdict still comes from the chain: the record or batch must be there, under the block we
recorded, and the agreement id is the EIP-712 hash of the stored fields, so a tampered row
cannot pass. Signature recovery and Merkle checks are cached per agreement (they never change).
Whatever does not fit (a reorganised anchor, a smart-contract wallet) falls back to the full
path by returning None.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from loantrace.chain.evidence import ChainEvidence
from loantrace.domain.agreement import Domain, SignedAgreement, recover_signer, signing_hash
from loantrace.domain.errors import SignatureError
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, agreement_leaf_values, verify
from loantrace.ports.ledger import AgreementRecord
from loantrace.services.receipts import VERDICT_OF_STATUS, MerkleEvidence, signed_of


@functools.lru_cache(maxsize=65_536)
def _recovered(signed: SignedAgreement, domain: Domain) -> tuple[str | None, str | None]:
    return _recover(signed, domain, signed.lender_signature), _recover(
        signed, domain, signed.borrower_signature
    )


def _recover(signed: SignedAgreement, domain: Domain, signature: bytes) -> str | None:
    try:
        return recover_signer(signed.agreement, domain, signature)
    except SignatureError:
        return None


@functools.lru_cache(maxsize=65_536)
def _proof_holds(evidence: MerkleEvidence) -> bool:
    values = agreement_leaf_values(evidence.signed)
    return verify(evidence.root, AGREEMENT_LEAF_TYPES, values, list(evidence.proof))


def fast_report(
    record: AgreementRecord, chain: ChainEvidence, domain: Domain
) -> dict[str, object] | None:
    """Return the fields of a verification report, or None to take the full path."""
    if record.agreement_id is None or record.block_hash is None:
        return None
    signed = signed_of(record)
    agreement_id = bytes.fromhex(record.agreement_id[2:])
    if signing_hash(signed.agreement, domain) != agreement_id:
        return None  # not the fields the id names: let the full path say what is wrong
    a = signed.agreement
    recovered_lender, recovered_borrower = _recovered(signed, domain)
    if recovered_lender != a.lender or recovered_borrower != a.borrower:
        return None  # perhaps an ERC-1271 wallet: the full path judges it
    evidence = MerkleEvidence.of_record(record) if record.mode == "batch" else None
    if evidence is not None and not _proof_holds(evidence):
        return None
    snap = chain.snapshot(
        agreement_id,
        anchor_block=record.block_number,
        batch=(a.lender, evidence.root) if evidence is not None else None,
    )
    if snap.anchored_by != a.lender or snap.anchor_block_hash != bytes.fromhex(
        record.block_hash[2:]
    ):
        return None  # not (or no longer) anchored where we recorded it
    verdict = VERDICT_OF_STATUS.get(snap.status, "invalid")
    return {
        "digest": to_hex(a.digest),
        "verdict": verdict,
        "mode": record.mode,
        "agreement_id": record.agreement_id,
        "chain_id": domain.chain_id,
        "contract_address": domain.verifying_contract,
        "notarised_at": datetime.fromtimestamp(record.block_timestamp, UTC).isoformat(),
        "block_timestamp": record.block_timestamp,
        "block_number": record.block_number,
        "tx_hash": record.tx_hash,
        "lender": a.lender,
        "borrower": a.borrower,
        "recovered_lender": recovered_lender,
        "recovered_borrower": recovered_borrower,
        "signatures_match": True,
        "merkle_root": to_hex(evidence.root) if evidence is not None else None,
        "merkle_proof_valid": True if evidence is not None else None,
        "confirmations": max(0, snap.head - record.block_number + 1),
        "superseded_by": to_hex(snap.successor) if any(snap.successor) else None,
        "revoke_reason": snap.reason or None,
    }
