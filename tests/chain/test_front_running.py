"""A rival NOTARY that front-runs a lender's batch anchor neither blocks nor owns the batch."""

from __future__ import annotations

from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, StandardMerkleTree, agreement_leaf_values
from tests.conftest import SubmissionFactory, admin_registry, signed_for


def _rival(rt: Runtime) -> RegistryClient:
    account = Account.create()
    rt.node.fund_for_dev(account)
    admin_registry(rt).grant_notary(account.address)  # a lender of its own on the same registry
    return RegistryClient(
        rt.node.w3, rt.registry.address, Transactor(rt.node.w3, account, revert_decoder())
    )


def test_a_front_run_root_lands_in_the_rivals_namespace_only(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    rt, rival = runtime, _rival(runtime)
    signed = [signed_for(rt, make_submission(rt)) for _ in range(3)]
    tree = StandardMerkleTree.of([agreement_leaf_values(s) for s in signed], AGREEMENT_LEAF_TYPES)
    proof = tree.proof(0)
    rival.anchor_batch(tree.root, 3)  # seen in the mempool, sent first with a higher fee
    assert rt.registry.batch_of(tree.root) is None  # the lender has anchored nothing yet
    assert rt.registry.verify_inclusion(tree.root, signed[0], proof) is False  # not by the rival
    rt.registry.anchor_batch(tree.root, 3)  # the lender's own anchor still lands
    ours = rt.registry.batch_of(tree.root)
    theirs = rival.batch_of(tree.root)
    assert ours is not None
    assert theirs is not None
    assert (ours.lender, theirs.lender) == (rt.account.address, rival.transactor.address)
    assert rt.registry.verify_inclusion(tree.root, signed[0], proof) is True
