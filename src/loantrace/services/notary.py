"""Use cases that write: notarise singly, in a Merkle batch, supersede, revoke."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from loantrace.chain.registry import RegistryClient
from loantrace.chain.signers import LocalSigner, Signer
from loantrace.chain.transactor import TxResult
from loantrace.domain.agreement import (
    Agreement,
    Domain,
    SignedAgreement,
    revocation_typed_data,
    sign_agreement,
    typed_data,
)
from loantrace.domain.errors import (
    AlreadyNotarised,
    ChainError,
    InvalidInput,
    NotFound,
    SignatureMismatch,
)
from loantrace.domain.hexcodec import ZERO32, to_hex
from loantrace.domain.manifest import Manifest, build_manifest
from loantrace.domain.merkle import (
    agreement_leaf_values,
)
from loantrace.domain.terms import LoanTerms
from loantrace.ports.ledger import (
    AgreementRecord,
    BatchRecord,
    DuplicateRecord,
    LedgerUnitOfWork,
)
from loantrace.services.notary_records import (
    check_borrower_signature,
    record_of_signed,
    require_active,
    require_active_id,
    terms_json,
)
from loantrace.services.receipts import MerkleEvidence, Receipt, receipt_of, signed_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submission:
    """One signed agreement as a lender submits it.

    `supersedes` names the amended agreement by its agreement id (or, for convenience, by
    the document digest of an agreement notarised here); the signed field is the id.
    """

    digest: bytes
    borrower: str
    borrower_commitment: bytes
    borrower_signature: bytes
    terms: LoanTerms
    lender_signature: bytes | None = None
    supersedes: bytes | None = None


class Notary:
    """Notarise agreements for the lender whose NOTARY key this service holds.

    Storage is reached only through a unit of work (`uow()` opens one transaction).
    """

    def __init__(
        self,
        *,
        registry: RegistryClient,
        uow: Callable[[], LedgerUnitOfWork],
        signer: Signer,
        max_batch: int,
        on_batch: Callable[[int], None] = lambda agreements: None,
        on_manifest: Callable[[Manifest], None] = lambda manifest: None,
    ) -> None:
        """`on_manifest` publishes each batch manifest (e.g. to a mirrored folder) once it is
        stored and before its root is anchored."""
        self._registry = registry
        self._on_batch = on_batch
        self._on_manifest = on_manifest
        self._uow = uow
        self._signer = signer
        self._max_batch = max_batch

    @property
    def lender(self) -> str:
        """Return the lender (NOTARY) address this service signs and sends as."""
        return self._signer.address

    def agreement_of(self, submission: Submission) -> Agreement:
        """Return the agreement both parties sign for `submission` (supersedes resolved)."""
        return Agreement(
            digest=submission.digest,
            lender=self.lender,
            borrower=submission.borrower,
            borrower_commitment=submission.borrower_commitment,
            terms_digest=submission.terms.digest(),
            supersedes=self.resolve_previous(submission.supersedes),
        )

    def resolve_previous(self, ref: bytes | None) -> bytes:
        """Return the agreement id an amendment supersedes, given its id or local digest."""
        if ref is None:
            return ZERO32
        with self._uow() as uow:
            record = uow.agreements.get(to_hex(ref))
        if record is not None and record.agreement_id is not None:
            return bytes.fromhex(record.agreement_id[2:])
        return ref

    def prepare(self, submission: Submission) -> tuple[SignedAgreement, LoanTerms]:
        """Build the agreement, add the lender signature if missing, check both signatures."""
        agreement = self.agreement_of(submission)  # hashes the terms once, here
        signed = self._countersign(
            agreement, submission.borrower_signature, submission.lender_signature, submission.terms
        )
        return signed, submission.terms

    def countersign(
        self,
        agreement: Agreement,
        borrower_signature: bytes,
        lender_signature: bytes | None = None,
        *,
        terms: LoanTerms | None = None,
    ) -> SignedAgreement:
        """Sign `agreement` as the lender (unless signed already) and check both signatures."""
        if lender_signature is None and (terms is None or terms.digest() != agreement.terms_digest):
            # The lender signs what the borrower signed: the typed data, terms in full.
            raise InvalidInput("the lender signs only over terms matching the terms digest")
        return self._countersign(agreement, borrower_signature, lender_signature, terms)

    def _countersign(
        self,
        agreement: Agreement,
        borrower_signature: bytes,
        lender_signature: bytes | None,
        terms: LoanTerms | None,
    ) -> SignedAgreement:
        """`countersign` for an agreement whose terms digest is `terms`' (checked already)."""
        if not any(agreement.digest):
            raise InvalidInput("digest must not be zero")
        domain = self._registry.domain
        # A local key signs the same EIP-712 hash as the typed data without re-encoding the
        # schedule, and its fresh deterministic signature needs no recovery: the borrower's does.
        own = lender_signature is None and isinstance(self._signer, LocalSigner)
        if isinstance(self._signer, LocalSigner) and own:
            lender_signature = sign_agreement(agreement, domain, self._signer.private_key)
        elif lender_signature is None:
            if terms is None:
                raise InvalidInput("the lender signs only over the terms in full")
            lender_signature = self._signer.sign_typed_data(typed_data(agreement, domain, terms))
        signed = SignedAgreement(agreement, lender_signature, borrower_signature)
        try:
            if own:
                check_borrower_signature(signed, domain)
            else:
                signed.check_signatures(domain)
        except SignatureMismatch:
            # Smart-contract wallets sign through ERC-1271: only the chain can judge them.
            if not self._has_contract_signer(signed):
                raise
        return signed

    @property
    def domain(self) -> Domain:
        """Return the registry's EIP-712 domain (chain and contract bound)."""
        return self._registry.domain

    def receipt(self, digest: bytes) -> Receipt:
        """Return the receipt of an agreement notarised here, its status read from the chain."""
        key = to_hex(digest)
        with self._uow() as uow:
            record = uow.agreements.get(key)
        if record is None:
            raise NotFound(f"no agreement {key} is notarised here")
        return receipt_of(record, self._registry)

    def revocation_request(self, digest: bytes, reason: int) -> dict[str, Any]:
        """Return the EIP-712 typed data a borrower signs to consent to revoking `digest`."""
        key = to_hex(digest)
        with self._uow() as uow:
            record = uow.agreements.get(key)
        if record is None or record.agreement_id is None:
            raise NotFound(f"no agreement {key} is notarised here")
        return revocation_typed_data(bytes.fromhex(record.agreement_id[2:]), reason, self.domain)

    def notarise(self, submission: Submission) -> Receipt:
        """Notarise one agreement (or amendment) on chain and record it; return its receipt."""
        return self.notarise_once(submission)[0]

    def notarise_once(self, submission: Submission) -> tuple[Receipt, bool]:
        """Notarise one agreement; a repeat of the same request returns the first receipt.

        Returns the receipt and whether this call notarised it (False: a retry, or a
        concurrent duplicate that adopted the first transaction). The same document with
        other parties or terms is a conflict.
        """
        signed, terms = self.prepare(submission)
        digest = to_hex(signed.agreement.digest)
        with self._uow() as uow:
            existing = uow.agreements.get(digest)
            previous = None
            if existing is None and submission.supersedes is not None:
                previous = require_active_id(uow.agreements, signed.agreement.supersedes)
        if existing is not None:
            return self.replayed(existing, signed), False
        try:
            if previous is not None and previous.mode == "batch":
                evidence = MerkleEvidence.of_record(previous)
                result: TxResult | None = self._registry.supersede_batched(
                    evidence.root, signed_of(previous), evidence.proof, signed
                )
            else:
                result = self._registry.notarise(signed)
        except AlreadyNotarised:
            result = self._recover_single(signed)
        assert result is not None
        record = record_of_signed(
            signed, terms_json(terms), result, mode="single", agreement_id=self._id(signed)
        )
        try:
            with self._uow() as uow:
                uow.agreements.add([record])
                if previous is not None:
                    uow.agreements.mark_superseded(previous.digest, successor=digest)
        except DuplicateRecord:  # a concurrent duplicate recorded it first
            with self._uow() as uow:
                first = uow.agreements.get(digest)
            if first is None:
                raise
            return self.replayed(first, signed), False
        log.info("notarised digest=%s tx=%s gas=%s", digest, result.tx_hash, result.gas_used)
        return receipt_of(record, self._registry), True

    def replayed(self, record: AgreementRecord, signed: SignedAgreement) -> Receipt:
        """Return the receipt of `record` for a repeat of `signed`; refuse other parties."""
        if signed_of(record).agreement != signed.agreement:
            raise AlreadyNotarised(
                f"agreement {record.digest} is already notarised here with other parties or terms"
            )
        return receipt_of(record, self._registry)

    def notarise_batch(self, submissions: Sequence[Submission]) -> list[Receipt]:
        """Anchor many agreements under one Merkle root; return a receipt with proof for each."""
        if not submissions:
            raise InvalidInput("a batch needs at least one agreement")
        if len(submissions) > self._max_batch:
            raise InvalidInput(f"a batch holds at most {self._max_batch} agreements")
        if any(s.supersedes for s in submissions):
            raise InvalidInput("amendments (supersedes) are notarised singly, not in a batch")
        digests = [to_hex(s.digest) for s in submissions]
        repeated = sorted({d for d in digests if digests.count(d) > 1})
        if repeated:
            raise InvalidInput(f"the batch repeats digests: {', '.join(repeated)}")
        prepared = [self.prepare(s) for s in submissions]
        with self._uow() as uow:
            known = uow.agreements.known_digests(digests)
        if known:
            raise AlreadyNotarised(f"already notarised: {', '.join(sorted(known))}")
        records = self.anchor_signed([(signed, terms_json(terms)) for signed, terms in prepared])
        return [receipt_of(record, self._registry) for record in records]

    def anchor_signed(
        self,
        items: Sequence[tuple[SignedAgreement, str]],
        *,
        claim: Callable[[LedgerUnitOfWork, str], None] | None = None,
        settle: Callable[[LedgerUnitOfWork], None] | None = None,
        skip_recorded: bool = False,
    ) -> list[AgreementRecord]:
        """Anchor checked, signed agreements (each with its terms JSON) under one Merkle root
        and record them; return the records in input order.

        `claim(uow, root)` runs in the transaction that stores the manifest, before anything
        is sent; `settle(uow)` in the one that records the batch. The same items give the
        same root, so a retry adopts the transaction already sent for it. With
        `skip_recorded`, an agreement recorded meanwhile by another path is left out of the
        records (its leaf stays in the batch) instead of failing the whole batch.
        """
        if not 0 < len(items) <= self._max_batch:
            raise InvalidInput(f"a batch holds 1 to {self._max_batch} agreements")
        manifest = build_manifest([agreement_leaf_values(signed) for signed, _ in items])
        tree = manifest.tree
        root = to_hex(tree.root)
        with self._uow() as uow:  # published before anchoring: the root never lacks its leaves
            uow.agreements.put_manifest(to_hex(manifest.sha256), root, self.lender, manifest.body)
            if claim is not None:
                claim(uow, root)
        self._on_manifest(manifest)
        try:
            result = self._registry.anchor_batch(tree.root, len(items), manifest.sha256)
        except AlreadyNotarised:
            result = self._recover_batch(tree.root)
        if result is None:
            raise ChainError(f"anchoring {root} gave no transaction")
        records = [
            record_of_signed(
                signed,
                terms,
                result,
                mode="batch",
                agreement_id=self._id(signed),
                batch_root=root,
                leaf_index=index,
                proof_json=json.dumps([to_hex(p) for p in tree.proof(index)]),
            )
            for index, (signed, terms) in enumerate(items)
        ]
        batch = BatchRecord(
            root=root,
            lender=self.lender,
            count=len(records),
            tx_hash=result.tx_hash,
            block_number=result.block_number,
            block_timestamp=result.block_timestamp,
        )
        with self._uow() as uow:
            if skip_recorded:
                known = uow.agreements.known_digests([r.digest for r in records])
                if known:
                    log.warning("batch %s: recorded meanwhile, left out: %s", root, sorted(known))
                records = [r for r in records if r.digest not in known]
            uow.agreements.add_batch(batch)
            uow.agreements.add(records)
            if settle is not None:
                settle(uow)
        log.info("anchored root=%s count=%s gas=%s", root, len(items), result.gas_used)
        self._on_batch(len(items))
        return records

    def revoke(self, digest: bytes, reason: int, borrower_consent: bytes = b"") -> Receipt:
        """Revoke a notarised agreement (single or batched) with a reason code.

        While the agreement backs an open loan the contract also needs the borrower's
        EIP-712 signature of `Revocation(agreementId, reason)`.
        """
        if not 1 <= reason <= 255:
            raise InvalidInput("reason must be an integer code from 1 to 255")
        key = to_hex(digest)
        with self._uow() as uow:
            record = require_active(uow.agreements, key)
        signed = signed_of(record)
        if record.mode == "single":
            self._registry.revoke(signed.agreement, reason, borrower_consent)
        else:
            evidence = MerkleEvidence.of_record(record)
            self._registry.revoke_batched(
                evidence.root, signed, evidence.proof, reason, borrower_consent
            )
        with self._uow() as uow:
            uow.agreements.mark_revoked(key, reason=reason)
            updated = uow.agreements.get(key)
        assert updated is not None
        log.info("revoked digest=%s reason=%s", key, reason)
        return receipt_of(updated, self._registry)

    def _recover_single(self, signed: SignedAgreement) -> TxResult:
        """Adopt our own earlier notarisation whose database write was lost (a retry)."""
        digest = signed.agreement.digest
        agreement_id = self._registry.agreement_id(signed.agreement)
        record = self._registry.record_of(agreement_id)
        found = (
            self._registry.find_notarisation(agreement_id, record.block_number) if record else None
        )
        if found is None or found.signed != signed:
            raise AlreadyNotarised(f"agreement {to_hex(digest)} is already notarised on chain")
        result = self._registry.find_notarisation_result(agreement_id, found.block_number)
        if result is None:
            raise AlreadyNotarised(f"agreement {to_hex(digest)} is already notarised on chain")
        log.warning(
            "recovered notarisation of %s from chain (tx %s)", to_hex(digest), result.tx_hash
        )
        return result

    def _recover_batch(self, root: bytes) -> TxResult:
        """Adopt our own earlier anchoring of the very same batch whose database write was lost."""
        batch = self._registry.batch_of(root)
        result = self._registry.find_batch_anchor(root, batch.block_number) if batch else None
        if batch is None or batch.lender != self.lender or result is None:
            raise AlreadyNotarised(f"Merkle root {to_hex(root)} is already anchored")
        log.warning("recovered batch %s from chain (tx %s)", to_hex(root), result.tx_hash)
        return result

    def _id(self, signed: SignedAgreement) -> str:
        return to_hex(self._registry.agreement_id(signed.agreement))

    def _has_contract_signer(self, signed: SignedAgreement) -> bool:
        w3 = self._registry.contract.w3
        parties = (signed.agreement.lender, signed.agreement.borrower)
        return any(len(w3.eth.get_code(p)) > 0 for p in parties)  # type: ignore[arg-type]
