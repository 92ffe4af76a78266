"""The notary use cases over in-memory fakes of their storage port and of the registry."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import cast

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from loantrace.chain.registry import RegistryClient
from loantrace.chain.signers import LocalSigner
from loantrace.chain.transactor import TxResult
from loantrace.domain.agreement import (
    Agreement,
    Domain,
    SignedAgreement,
    agreement_id,
    sign_agreement,
)
from loantrace.domain.errors import AlreadyNotarised
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.manifest import parse_manifest
from loantrace.services.notary import Notary, Submission
from tests.conftest import SAMPLE_TERMS
from tests.services.fakes import FakeLedgerStore

NOW = 1_800_000_000


class FakeRegistry:
    """The chain side of the notary: records every call, answers as if mined at once.

    A transaction hash is derived from the call, as the outbox adopts the transaction already
    sent for the same intent: the same call again is the same transaction.
    """

    def __init__(self) -> None:
        self.domain = Domain(chain_id=31_337, verifying_contract="0x" + "ee" * 20)
        self.address = self.domain.verifying_contract
        self.calls: list[tuple[str, str]] = []
        self.manifests: list[bytes] = []
        self.genesis_hash = "0x" + "99" * 32
        self.on_send: Callable[[], None] | None = None  # another request, meanwhile

    def agreement_id(self, agreement: Agreement) -> bytes:
        return agreement_id(agreement, self.domain)

    def notarise(self, signed: SignedAgreement) -> TxResult:
        return self._send("notarise", signed.agreement.digest)

    def anchor_batch(self, root: bytes, count: int, manifest_hash: bytes) -> TxResult:
        self.manifests.append(manifest_hash)
        return self._send("anchor_batch", root)

    def revoke_batched(
        self,
        root: bytes,
        signed: SignedAgreement,
        proof: Sequence[bytes],
        reason: int,
        borrower_consent: bytes,
    ) -> TxResult:
        return self._send("revoke_batched", signed.agreement.digest)

    def _send(self, name: str, key: bytes) -> TxResult:
        self.calls.append((name, to_hex(key)))
        if self.on_send is not None:
            self.on_send()
        tx_hash = "0x" + hashlib.sha256(f"{name}:{to_hex(key)}".encode()).hexdigest()
        return TxResult(tx_hash, 100 + len(self.calls), "0x" + "00" * 32, NOW, 60_000, ())


LENDER: LocalAccount = Account.from_key(b"\x0a" * 32)
BORROWER: LocalAccount = Account.from_key(b"\x0b" * 32)


def _notary(store: FakeLedgerStore, registry: FakeRegistry) -> Notary:
    return Notary(
        registry=cast(RegistryClient, registry),
        uow=store.uow,
        signer=LocalSigner(LENDER),
        max_batch=8,
    )


def _submission(
    notary: Notary, document: bytes, supersedes: bytes | None = None, *, borrower_text: str = ""
) -> Submission:
    commitment = hashlib.sha256(b"borrower" + borrower_text.encode()).digest()
    agreement = Agreement(
        digest=hashlib.sha256(document).digest(),
        lender=notary.lender,
        borrower=BORROWER.address,
        borrower_commitment=commitment,
        terms_digest=SAMPLE_TERMS.digest(),
        supersedes=notary.resolve_previous(supersedes),
    )
    return Submission(
        digest=agreement.digest,
        borrower=BORROWER.address,
        borrower_commitment=commitment,
        borrower_signature=sign_agreement(agreement, notary.domain, BORROWER.key),
        terms=SAMPLE_TERMS,
        supersedes=supersedes,
    )


def test_a_retried_notarisation_returns_the_first_receipt() -> None:
    store, registry = FakeLedgerStore(), FakeRegistry()
    notary = _notary(store, registry)
    first, new = notary.notarise_once(_submission(notary, b"doc-1"))
    again, new_again = notary.notarise_once(_submission(notary, b"doc-1"))
    assert (new, new_again) == (True, False)
    assert again == first
    assert registry.calls == [("notarise", first.digest)]
    with pytest.raises(AlreadyNotarised, match="other parties or terms"):
        notary.notarise_once(_submission(notary, b"doc-1", borrower_text="someone else"))
    assert notary.receipt(bytes.fromhex(first.digest[2:])) == first


def test_a_concurrent_duplicate_resolves_to_the_first_record() -> None:
    store, registry = FakeLedgerStore(), FakeRegistry()
    notary, replica = _notary(store, registry), _notary(store, registry)
    submission = _submission(notary, b"doc-1")

    def replica_commits_first() -> None:
        registry.on_send = None
        replica.notarise(submission)

    registry.on_send = replica_commits_first
    receipt, new = notary.notarise_once(submission)
    assert not new
    assert receipt == replica.receipt(submission.digest)
    assert list(store.tables.agreements) == [receipt.digest]


def test_an_amendment_that_fails_half_way_leaves_the_original_in_force() -> None:
    store, registry = FakeLedgerStore(), FakeRegistry()
    notary = _notary(store, registry)
    original = notary.notarise(_submission(notary, b"doc-1"))
    amendment = _submission(notary, b"doc-1 amended", bytes.fromhex(original.digest[2:]))
    store.fail_on = "mark_superseded"
    with pytest.raises(OSError, match="half-way"):
        notary.notarise(amendment)
    assert list(store.tables.agreements) == [original.digest]  # the amendment is not recorded
    assert store.tables.agreements[original.digest].status == "notarised"
    store.fail_on = None
    recorded = notary.notarise(amendment)
    superseded = notary.receipt(bytes.fromhex(original.digest[2:]))
    assert (superseded.status, superseded.superseded_by) == ("superseded", recorded.digest)


def test_a_batch_that_fails_half_way_records_nothing() -> None:
    store, registry = FakeLedgerStore(), FakeRegistry()
    notary = _notary(store, registry)
    batch = [_submission(notary, f"doc-{n}".encode()) for n in range(3)]
    store.fail_on = "add_agreements"  # after the batch itself was added
    with pytest.raises(OSError, match="half-way"):
        notary.notarise_batch(batch)
    assert (store.tables.batches, store.tables.agreements) == ({}, {})
    store.fail_on = None
    receipts = notary.notarise_batch(batch)
    assert [r.mode for r in receipts] == ["batch"] * 3
    assert all(r.merkle is not None for r in receipts)
    assert len(store.tables.batches) == 1
    revoked = notary.revoke(bytes.fromhex(receipts[1].digest[2:]), reason=2)
    assert (revoked.status, revoked.revoke_reason) == ("revoked", 2)
    assert registry.calls[-1] == ("revoke_batched", receipts[1].digest)


def test_a_batch_manifest_is_stored_before_its_root_is_anchored() -> None:
    store, registry = FakeLedgerStore(), FakeRegistry()
    notary = _notary(store, registry)
    batch = [_submission(notary, f"manifest-{n}".encode()) for n in range(3)]
    store.fail_on = "put_manifest"
    with pytest.raises(OSError, match="half-way"):
        notary.notarise_batch(batch)
    assert registry.calls == []  # nothing anchored without its published leaves
    store.fail_on = None
    receipts = notary.notarise_batch(batch)
    (sha, (root, body)) = next(iter(store.tables.manifests.items()))
    assert registry.manifests == [bytes.fromhex(sha[2:])]
    assert hashlib.sha256(body).hexdigest() == sha[2:]
    parsed = parse_manifest(body, bytes.fromhex(sha[2:]))
    assert to_hex(parsed.root) == root == receipts[0].merkle["root"]  # type: ignore[index]
    for receipt in receipts:
        assert parsed.index_of(bytes.fromhex(receipt.digest[2:])) is not None
