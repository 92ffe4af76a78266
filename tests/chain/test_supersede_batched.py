"""Superseding an agreement notarised in a batch: the amendment is notarised singly."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from web3.logs import DISCARD

from loantrace.bootstrap import Runtime
from loantrace.chain.registry import OnChainStatus, RegistryClient, leaf_struct, revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.domain.agreement import SignedAgreement
from loantrace.domain.errors import (
    InvalidInput,
    NotActive,
    NotFound,
    SignatureMismatch,
    Unauthorized,
)
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, StandardMerkleTree, agreement_leaf_values
from tests.conftest import SubmissionFactory, admin_registry, signed_for


def _tree(
    rt: Runtime, make: SubmissionFactory, n: int
) -> tuple[StandardMerkleTree, list[SignedAgreement]]:
    signed = [signed_for(rt, make(rt)) for _ in range(n)]
    tree = StandardMerkleTree.of([agreement_leaf_values(s) for s in signed], AGREEMENT_LEAF_TYPES)
    return tree, signed


def _anchored(
    rt: Runtime, make: SubmissionFactory, n: int = 3
) -> tuple[StandardMerkleTree, list[SignedAgreement]]:
    tree, signed = _tree(rt, make, n)
    rt.registry.anchor_batch(tree.root, n)
    return tree, signed


def _amendment(rt: Runtime, make: SubmissionFactory, previous: SignedAgreement) -> SignedAgreement:
    """An amendment of `previous`, signed by the lender and a borrower."""
    return signed_for(rt, make(rt, supersedes=rt.registry.agreement_id(previous.agreement)))


def _client(rt: Runtime, *, notary: bool) -> RegistryClient:
    """The registry, sending from a fresh funded account (optionally a NOTARY)."""
    account = Account.create()
    rt.node.fund_for_dev(account)
    if notary:
        admin_registry(rt).grant_notary(account.address)
    transactor = Transactor(rt.node.w3, account, revert_decoder())
    return RegistryClient(rt.node.w3, rt.registry.address, transactor)


def test_supersede_batched_marks_previous_and_links_successor(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    registry = runtime.registry
    tree, signed = _anchored(runtime, make_submission)
    previous_id = registry.agreement_id(signed[0].agreement)
    amendment = _amendment(runtime, make_submission, signed[0])
    result = registry.supersede_batched(tree.root, signed[0], tree.proof(0), amendment)
    amendment_id = registry.agreement_id(amendment.agreement)
    status = registry.status_of(previous_id)
    assert (status.status, status.successor) == (OnChainStatus.SUPERSEDED, amendment_id)
    assert registry.status_of(amendment_id).status is OnChainStatus.NOTARISED
    record = registry.record_of(amendment_id)
    assert record is not None
    assert (record.lender, record.block_number) == (runtime.notary.lender, result.block_number)
    receipt = runtime.node.w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
    events = registry.contract.events.AgreementSuperseded().process_receipt(receipt, DISCARD)
    (superseded,) = events
    assert (
        superseded["args"]["agreementId"],
        superseded["args"]["successorId"],
        superseded["args"]["lender"],
    ) == (previous_id, amendment_id, runtime.notary.lender)
    notarised = registry.find_notarisation(amendment_id, result.block_number)
    assert notarised is not None
    assert notarised.signed == amendment
    _id, _batch, batched = registry.contract.functions.batchedAgreement(
        tree.root, leaf_struct(signed[0]), tree.proof(0)
    ).call()
    assert batched == OnChainStatus.SUPERSEDED
    other = registry.status_of(registry.agreement_id(signed[1].agreement))
    assert other.status is OnChainStatus.NONE  # the rest of the batch stays in force


def test_supersede_batched_reverts_for_unknown_root_or_bad_proof(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    tree, signed = _tree(runtime, make_submission, 3)
    amendment = _amendment(runtime, make_submission, signed[0])
    with pytest.raises(NotFound, match="AgreementRegistryUnknownAgreement"):
        runtime.registry.supersede_batched(tree.root, signed[0], tree.proof(0), amendment)
    runtime.registry.anchor_batch(tree.root, 3)
    with pytest.raises(InvalidInput, match="AgreementRegistryInvalidProof"):
        runtime.registry.supersede_batched(tree.root, signed[0], tree.proof(1), amendment)
    with pytest.raises(InvalidInput, match="AgreementRegistryInvalidProof"):
        runtime.registry.supersede_batched(tree.root, signed[1], tree.proof(0), amendment)


def test_supersede_batched_reverts_for_another_lender(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    tree, signed = _anchored(runtime, make_submission)
    amendment = _amendment(runtime, make_submission, signed[0])
    other = _client(runtime, notary=True)
    with pytest.raises(Unauthorized, match="AgreementRegistryNotLender"):
        other.supersede_batched(tree.root, signed[0], tree.proof(0), amendment)
    foreign, theirs = _tree(runtime, make_submission, 2)  # our agreements, their batch
    other.anchor_batch(foreign.root, 2)
    mine = _amendment(runtime, make_submission, theirs[0])
    with pytest.raises(NotFound, match="AgreementRegistryUnknownAgreement"):  # not anchored by us
        runtime.registry.supersede_batched(foreign.root, theirs[0], foreign.proof(0), mine)
    made = signed_for(runtime, make_submission(runtime))
    theirs_in_ours = replace(
        made, agreement=replace(made.agreement, lender=other.transactor.address)
    )
    mixed = StandardMerkleTree.of([agreement_leaf_values(theirs_in_ours)], AGREEMENT_LEAF_TYPES)
    runtime.registry.anchor_batch(mixed.root, 1)  # our batch, their agreement
    with pytest.raises(Unauthorized, match="AgreementRegistryNotLender"):
        runtime.registry.supersede_batched(
            mixed.root,
            theirs_in_ours,
            mixed.proof(0),
            _amendment(runtime, make_submission, theirs_in_ours),
        )
    outsider = _client(runtime, notary=False)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        outsider.supersede_batched(tree.root, signed[0], tree.proof(0), amendment)


def test_supersede_batched_reverts_once_previous_is_revoked_or_superseded(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    registry = runtime.registry
    tree, signed = _anchored(runtime, make_submission)
    registry.revoke_batched(tree.root, signed[1], tree.proof(1), 2)
    with pytest.raises(NotActive, match="AgreementRegistryNotActive"):
        registry.supersede_batched(
            tree.root, signed[1], tree.proof(1), _amendment(runtime, make_submission, signed[1])
        )
    registry.supersede_batched(
        tree.root, signed[0], tree.proof(0), _amendment(runtime, make_submission, signed[0])
    )
    with pytest.raises(NotActive, match="AgreementRegistryNotActive"):
        registry.supersede_batched(
            tree.root, signed[0], tree.proof(0), _amendment(runtime, make_submission, signed[0])
        )
    with pytest.raises(NotActive, match="AgreementRegistryNotActive"):
        registry.revoke_batched(tree.root, signed[0], tree.proof(0), 2)


def test_supersede_batched_reverts_when_amendment_names_another_agreement(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    tree, signed = _anchored(runtime, make_submission)
    of_another = _amendment(runtime, make_submission, signed[1])
    with pytest.raises(InvalidInput, match="AgreementRegistrySupersedesMismatch"):
        runtime.registry.supersede_batched(tree.root, signed[0], tree.proof(0), of_another)
    plain = signed_for(runtime, make_submission(runtime))
    with pytest.raises(InvalidInput, match="AgreementRegistrySupersedesMismatch"):
        runtime.registry.supersede_batched(tree.root, signed[0], tree.proof(0), plain)
    status = runtime.registry.status_of(runtime.registry.agreement_id(signed[0].agreement))
    assert status.status is OnChainStatus.NONE


def test_supersede_batched_reverts_on_bad_amendment_signatures(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    tree, signed = _anchored(runtime, make_submission)
    amendment = _amendment(runtime, make_submission, signed[0])
    stranger = Account.create()
    forged_borrower = replace(amendment, borrower_signature=amendment.lender_signature)
    forged_lender = replace(
        amendment,
        lender_signature=Account.unsafe_sign_hash(
            runtime.registry.agreement_id(amendment.agreement), stranger.key
        ).signature,
    )
    for forged in (forged_borrower, forged_lender):
        with pytest.raises(SignatureMismatch, match="AgreementRegistryInvalidSignature"):
            runtime.registry.supersede_batched(tree.root, signed[0], tree.proof(0), forged)
    status = runtime.registry.status_of(runtime.registry.agreement_id(signed[0].agreement))
    assert status.status is OnChainStatus.NONE
    runtime.registry.supersede_batched(tree.root, signed[0], tree.proof(0), amendment)
