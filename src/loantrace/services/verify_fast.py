"""The fast path of verification: our own records, plus one pinned read of the chain.

For agreements notarised by this service, the signed fields, the signatures and the anchor
are in our store; the chain is asked, in two round trips however many agreements are
verified at once, for the head and then, pinned at that head, each agreement's status, its
record (single) or its lender's batch (batched), and the anchor blocks' hashes. The verdict
still comes from the chain: the record or batch must be there, under the block we recorded,
and the agreement id is the EIP-712 hash of the stored fields, so a tampered row cannot pass.
Signature recovery and Merkle checks are cached for the most recently verified agreements (a
bounded cache, so memory does not grow with the number of agreements). Whatever does not fit
(a reorganised anchor, a smart-contract wallet) falls back to the full path: its place in
the answer is None.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from loantrace.chain.evidence import ChainEvidence, Snapshot, SnapshotQuery
from loantrace.domain.agreement import Domain, SignedAgreement, recover_from_hash, signing_hash
from loantrace.domain.errors import SignatureError
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, agreement_leaf_values, verify
from loantrace.ports.ledger import AgreementRecord
from loantrace.services.receipts import VERDICT_OF_STATUS, MerkleEvidence, signed_of

# Agreements whose signature and proof checks are remembered. At ~1.5 KB each this bounds
# the cache to a few MB; a miss costs about 0.4 ms (two recoveries with coincurve).
CHECKED_ENTRIES = 4_096


@dataclass(frozen=True)
class _Case:
    """An agreement of ours that passed the local checks, and what to ask the chain."""

    record: AgreementRecord
    signed: SignedAgreement
    recovered: tuple[str, str]
    query: SnapshotQuery

    @property
    def root(self) -> bytes | None:
        """The root of its batch; None for a single record."""
        return self.query.batch[1] if self.query.batch is not None else None


def _checked(
    signed: SignedAgreement, agreement_id: bytes, evidence: MerkleEvidence | None, domain: Domain
) -> tuple[str, str] | None:
    """Return the recovered (lender, borrower) when the fields hash to `agreement_id`, both
    signatures recover to the named parties and the proof (if any) holds; None otherwise."""
    a = signed.agreement
    if signing_hash(a, domain) != agreement_id:
        return None  # not the fields the id names: let the full path say what is wrong
    lender = _recover(agreement_id, signed.lender_signature)
    borrower = _recover(agreement_id, signed.borrower_signature)
    if lender != a.lender or borrower != a.borrower:
        return None  # perhaps an ERC-1271 wallet: the full path judges it
    if evidence is not None:
        values = agreement_leaf_values(evidence.signed)
        if not verify(evidence.root, AGREEMENT_LEAF_TYPES, values, list(evidence.proof)):
            return None
    return lender, borrower


def _recover(signing_hash_: bytes, signature: bytes) -> str | None:
    try:
        return recover_from_hash(signing_hash_, signature)
    except SignatureError:
        return None


def _prepare(record: AgreementRecord | None, domain: Domain) -> _Case | None:
    """Check one stored record locally; None when the fast path cannot answer for it."""
    if record is None or record.status == "queued":
        return None
    return _prepared(record, domain)


@functools.lru_cache(maxsize=CHECKED_ENTRIES)
def _prepared(record: AgreementRecord, domain: Domain) -> _Case | None:
    """The local checks of an anchored record, remembered for the same record (every field
    equal): what the chain is asked is then built once per agreement, not per request."""
    if record.agreement_id is None or record.block_hash is None:
        return None
    signed = signed_of(record)
    agreement_id = bytes.fromhex(record.agreement_id[2:])
    evidence = MerkleEvidence.of_record(record) if record.mode == "batch" else None
    recovered = _checked(signed, agreement_id, evidence, domain)
    if recovered is None:
        return None
    batch = (signed.agreement.lender, evidence.root) if evidence is not None else None
    query = SnapshotQuery(agreement_id, record.block_number, batch)
    return _Case(record, signed, recovered, query)


def fast_reports(
    records: Sequence[AgreementRecord | None], chain: ChainEvidence, domain: Domain
) -> list[dict[str, object] | None]:
    """Return the fields of a verification report for each record, in order; None where
    the full path must answer (no record, a failed local check, or a chain disagreement)."""
    cases = [_prepare(record, domain) for record in records]
    snaps = iter(chain.snapshots([case.query for case in cases if case is not None]))
    return [None if case is None else _report(case, next(snaps), domain) for case in cases]


def _report(case: _Case, snap: Snapshot | None, domain: Domain) -> dict[str, object] | None:
    record, a = case.record, case.signed.agreement
    if snap is None or record.block_hash is None:
        return None
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
        "recovered_lender": case.recovered[0],
        "recovered_borrower": case.recovered[1],
        "signatures_match": True,
        "merkle_root": to_hex(case.root) if case.root is not None else None,
        "merkle_proof_valid": True if case.root is not None else None,
        "confirmations": max(0, snap.head - record.block_number + 1),
        "superseded_by": to_hex(snap.successor) if any(snap.successor) else None,
        "revoke_reason": snap.reason or None,
    }
