"""Verify an agreement from the chain itself: anchor, signers, proof, status, confirmations."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from loantrace.chain.evidence import ChainEvidence
from loantrace.chain.registry import RegistryClient
from loantrace.domain.agreement import Domain, SignedAgreement, recover_signer
from loantrace.domain.errors import InvalidInput, SignatureError
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.manifest import parse_manifest
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, agreement_leaf_values, verify
from loantrace.ports.ledger import LedgerUnitOfWork
from loantrace.services.receipts import VERDICT_OF_STATUS, MerkleEvidence
from loantrace.services.verify_fast import fast_reports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerificationReport:
    """What the chain says about a digest."""

    digest: str
    verdict: str  # valid | superseded | revoked | not_found | invalid | other_chain
    mode: str | None = None  # single | batch
    agreement_id: str | None = None
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
    # Every single notarisation of this document on chain, by any lender: the report above
    # answers for the first one in force (or the first one), these say who else anchored it.
    records: tuple[dict[str, object], ...] = ()


class Verifier:
    """Answer "is this exactly the notarised document, signed by whom, when, still valid?"."""

    def __init__(
        self,
        *,
        registry: RegistryClient,
        uow: Callable[[], LedgerUnitOfWork] | None,
        manifests: Callable[[bytes], bytes | None] | None = None,
        from_block: int = 0,
    ) -> None:
        """`uow` is this service's store (None: a read-only verifier with no database);
        `manifests` fetches published batch manifests by SHA-256, so a batched document is
        found without its receipt; `from_block` is where the registry's events begin."""
        self._registry = registry
        self._uow = uow
        self._manifests = manifests
        self._from_block = from_block
        self.chain = ChainEvidence(registry.contract.w3, registry.address)

    def verify(
        self,
        digest: bytes,
        evidence: MerkleEvidence | None = None,
        *,
        chain_id: int | None = None,
        contract: str | None = None,
        fast: bool = True,
    ) -> VerificationReport:
        """Verify `digest`; batched agreements need Merkle evidence (given, or from our store).

        `chain_id` and `contract` are where a receipt says the anchor is: when they name
        another chain or registry, the verdict says so instead of `not_found` (this node
        cannot judge a record of another chain; it is not evidence of forgery). `fast=False`
        when the caller has had `fast_many` answer None for it already (not asked twice).
        """
        key = to_hex(digest)
        domain = self._registry.domain
        if self.elsewhere(chain_id, contract):
            return replace(
                self._not_found(key, ""),
                verdict="other_chain",
                explanation=(
                    f"the receipt names chain {chain_id} / registry {contract}; this node is "
                    f"chain {domain.chain_id} / registry {domain.verifying_contract}: verify "
                    "it against a node of that chain"
                ),
            )
        if evidence is None:
            found = (self._fast(key) if fast else None) or self._singles(digest)
            if found:
                return found
            evidence = self._stored_evidence(key) or self._published_evidence(digest)
        if evidence is None:
            return self._not_found(key, "no notarisation of this digest on chain")
        if evidence.signed.agreement.digest != digest:
            raise InvalidInput("the Merkle evidence is for another digest")
        batch = self._registry.batch_of(evidence.root, evidence.signed.agreement.lender)
        if batch is None:
            return self._not_found(key, "the Merkle root is not anchored on chain")
        on_chain = self._registry.verify_inclusion(evidence.root, evidence.signed, evidence.proof)
        values = agreement_leaf_values(evidence.signed)
        local = verify(evidence.root, AGREEMENT_LEAF_TYPES, values, list(evidence.proof))
        proof_valid = on_chain and local
        if not proof_valid:
            return replace(
                self._not_found(key, "the proof does not place this agreement under the root"),
                mode="batch",
                merkle_root=to_hex(evidence.root),
                merkle_proof_valid=False,
            )
        anchor = self._registry.find_batch_anchor(
            evidence.root, batch.block_number, evidence.signed.agreement.lender
        )
        tx_hash = anchor.tx_hash if anchor is not None else None
        report = self._report(
            evidence.signed, "batch", batch.block_number, batch.timestamp, tx_hash
        )
        if batch.lender != evidence.signed.agreement.lender:
            return replace(report, verdict="invalid", explanation="leaf lender did not anchor it")
        return replace(report, merkle_root=to_hex(evidence.root), merkle_proof_valid=True)

    def elsewhere(self, chain_id: int | None, contract: str | None) -> bool:
        """Whether a receipt's chain id or registry names another chain than this node's."""
        domain = self._registry.domain
        return (chain_id is not None and chain_id != domain.chain_id) or (
            contract is not None and contract.lower() != domain.verifying_contract.lower()
        )

    def _fast(self, key: str) -> VerificationReport | None:
        """Our own record and one pinned chain read (see `verify_fast`); None: the full path."""
        return self.fast_many([key])[0]

    def fast_many(self, keys: Sequence[str]) -> list[VerificationReport | None]:
        """Verify many of our own agreements (0x-hex digests) at once: one store read and one
        pinned chain read for all of them. None in place of one the full path must answer
        (`verify` does that by itself; a caller batching requests calls `verify` for those).
        """
        if self._uow is None or not keys:
            return [None] * len(keys)
        with self._uow() as uow:
            found = uow.agreements.get_many(keys)
        domain = self._registry.domain
        return [
            None
            if fields is None
            else VerificationReport(**fields, explanation=_explain(str(fields["verdict"])))  # type: ignore[arg-type]
            for fields in fast_reports([found.get(k) for k in keys], self.chain, domain)
        ]

    def _singles(self, digest: bytes) -> VerificationReport | None:
        """Report on the single notarisations of `digest`: the first in force answers.

        Our own record is read at its block; a document we never notarised is searched for
        in every `AgreementNotarised` event of its digest, by any lender.
        """
        row = None
        if self._uow is not None:
            with self._uow() as uow:
                row = uow.agreements.get(to_hex(digest))
        logs = []
        if row is not None and row.mode == "single" and row.agreement_id is not None:
            own = self._registry.find_notarisation(
                bytes.fromhex(row.agreement_id[2:]), row.block_number
            )
            logs = [own] if own is not None else []
        if not logs:
            logs = self._registry.notarisations_of_digest(digest, self._from_block)
        if not logs:
            return None
        reports = []
        for found in logs:
            record = self._registry.record_of(found.agreement_id)
            if record is None:  # an event without its record: the node serves another state
                continue
            reports.append(
                self._report(
                    found.signed, "single", record.block_number, record.timestamp, found.tx_hash
                )
            )
        if not reports:
            return VerificationReport(to_hex(digest), "invalid", explanation="event without record")
        chosen = next((r for r in reports if r.verdict == "valid"), reports[0])
        summary: tuple[dict[str, object], ...] = tuple(
            {"agreement_id": r.agreement_id, "lender": r.lender, "verdict": r.verdict}
            for r in reports
        )
        return replace(chosen, records=summary)

    def _report(
        self,
        signed: SignedAgreement,
        mode: str,
        block_number: int,
        timestamp: int,
        tx_hash: str | None,
    ) -> VerificationReport:
        """Recover both signers and read status and confirmations from the chain."""
        a = signed.agreement
        domain = self._registry.domain
        recovered_lender = _recover(signed, domain, signed.lender_signature)
        recovered_borrower = _recover(signed, domain, signed.borrower_signature)
        match = self._party_signed(a.lender, recovered_lender, mode) and self._party_signed(
            a.borrower, recovered_borrower, mode
        )
        agreement_id = self._registry.agreement_id(a)
        status = self._registry.status_of(agreement_id)
        verdict = VERDICT_OF_STATUS[status.status] if match else "invalid"
        head = self._registry.contract.w3.eth.block_number
        return VerificationReport(
            digest=to_hex(a.digest),
            verdict=verdict,
            mode=mode,
            agreement_id=to_hex(agreement_id),
            chain_id=domain.chain_id,
            contract_address=domain.verifying_contract,
            notarised_at=datetime.fromtimestamp(timestamp, UTC).isoformat(),
            block_timestamp=timestamp,
            block_number=block_number,
            tx_hash=tx_hash,
            lender=a.lender,
            borrower=a.borrower,
            recovered_lender=recovered_lender,
            recovered_borrower=recovered_borrower,
            signatures_match=match,
            confirmations=max(0, int(head) - block_number + 1),
            superseded_by=to_hex(status.successor) if any(status.successor) else None,
            revoke_reason=status.reason or None,
            explanation=_explain(verdict),
        )

    def _not_found(self, digest: str, why: str) -> VerificationReport:
        domain = self._registry.domain
        return VerificationReport(
            digest,
            "not_found",
            chain_id=domain.chain_id,
            contract_address=domain.verifying_contract,
            explanation=why,
        )

    def _party_signed(self, party: str, recovered: str | None, mode: str) -> bool:
        if recovered == party:
            return True
        # A smart-contract wallet signs through ERC-1271, which the contract checked when it
        # notarised singly; ECDSA recovery cannot judge such a signature afterwards.
        code = self._registry.contract.w3.eth.get_code(party)  # type: ignore[arg-type]
        return mode == "single" and len(code) > 0

    def _published_evidence(self, digest: bytes) -> MerkleEvidence | None:
        """Find the batch of `digest` from the chain and the published manifests alone.

        Every `BatchAnchored` event names its manifest's SHA-256; each manifest fetched is
        checked against that hash and the anchored root before it is believed.
        """
        if self._manifests is None:
            return None
        for batch in self._registry.batch_logs(self._from_block):
            if not any(batch.manifest_hash):
                continue
            body = self._manifests(batch.manifest_hash)
            if body is None:
                log.warning(
                    "manifest %s of root %s not found",
                    to_hex(batch.manifest_hash),
                    to_hex(batch.root),
                )
                continue
            try:
                manifest = parse_manifest(body, batch.manifest_hash)
            except InvalidInput as exc:
                log.warning("manifest %s refused: %s", to_hex(batch.manifest_hash), exc)
                continue
            index = manifest.index_of(digest)
            if manifest.root != batch.root or index is None:
                continue
            values = manifest.values[index]
            proof = tuple(manifest.tree.proof(index))
            return MerkleEvidence.from_values(batch.root, values, proof)
        return None

    def _stored_evidence(self, digest: str) -> MerkleEvidence | None:
        if self._uow is None:
            return None
        with self._uow() as uow:
            row = uow.agreements.get(digest)
        if row is None or row.mode != "batch":
            return None
        return MerkleEvidence.of_record(row)


def _recover(signed: SignedAgreement, domain: Domain, signature: bytes) -> str | None:
    try:
        return recover_signer(signed.agreement, domain, signature)
    except SignatureError:
        return None


def _explain(verdict: str) -> str:
    return {
        "valid": "notarised on chain, signed by both named parties, in force",
        "superseded": "notarised, but replaced by an amendment (see superseded_by)",
        "revoked": "notarised, but revoked by its lender (see revoke_reason)",
        "invalid": "anchored, but the signatures do not recover to the named parties",
    }[verdict]
