"""AgreementRegistry contract: every write, revert path and role, on eth-tester and anvil."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loantrace.bootstrap import Runtime
from loantrace.chain.errors import RevertDecoder
from loantrace.chain.registry import NOTARY_ROLE, OnChainStatus, RegistryClient, revert_decoder
from loantrace.chain.signers import LocalSigner
from loantrace.chain.transactor import Transactor
from loantrace.domain.agreement import (
    Agreement,
    Domain,
    SignedAgreement,
    sign_agreement,
    signing_hash,
)
from loantrace.domain.errors import (
    AlreadyNotarised,
    InvalidInput,
    NotActive,
    NotFound,
    SignatureMismatch,
    Unauthorized,
)
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, StandardMerkleTree, agreement_leaf_values
from tests.conftest import SubmissionFactory, admin_registry, raw_registry, signed_for


def _other_client(rt: Runtime, *, notary: bool) -> RegistryClient:
    """A client of the same registry sending from a fresh account (optionally a NOTARY)."""
    account = Account.create()
    rt.node.fund_for_dev(account)
    transactor = Transactor(rt.node.w3, account, revert_decoder())
    client = RegistryClient(rt.node.w3, rt.registry.address, transactor)
    if notary:
        admin_registry(rt).grant_notary(account.address)
    return client


def _signed_by(
    client: RegistryClient, rt: Runtime, make: SubmissionFactory, supersedes: bytes | None = None
) -> SignedAgreement:
    """An agreement naming `client`'s account as lender, signed by it and a borrower."""
    made = make(rt)
    agreement = Agreement(
        digest=made.submission.digest,
        lender=client.transactor.address,
        borrower=made.borrower.address,
        borrower_commitment=made.submission.borrower_commitment,
        terms_digest=made.submission.terms.digest(),
        supersedes=supersedes or bytes(32),
    )
    domain = rt.registry.domain
    return SignedAgreement(
        agreement,
        sign_agreement(agreement, domain, _key_of(client)),
        sign_agreement(agreement, domain, made.borrower.key),
    )


def test_notarise_records_lender_time_and_event_with_signatures(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    signed = signed_for(runtime, make_submission(runtime))
    result = runtime.registry.notarise(signed)
    assert result is not None
    agreement_id = runtime.registry.agreement_id(signed.agreement)
    record = runtime.registry.record_of(agreement_id)
    assert record is not None
    assert record.lender == runtime.notary.lender
    assert record.block_number == result.block_number
    assert record.timestamp == result.block_timestamp
    log = runtime.registry.find_notarisation(agreement_id, record.block_number)
    assert log is not None
    assert log.signed == signed
    assert log.agreement_id == agreement_id
    assert log.tx_hash == result.tx_hash
    assert runtime.registry.status_of(agreement_id).status is OnChainStatus.NOTARISED
    assert runtime.registry.notarisations_of_digest(signed.agreement.digest) == [log]


def test_contract_eip712_hash_equals_python_signing_hash(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    agreement = signed_for(runtime, make_submission(runtime)).agreement
    assert runtime.registry.hash_agreement(agreement) == signing_hash(
        agreement, runtime.registry.domain
    )


def test_notarise_reverts_when_digest_already_notarised(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    registry = raw_registry(runtime)  # repeats reach the contract
    signed = signed_for(runtime, make_submission(runtime))
    registry.notarise(signed)
    with pytest.raises(AlreadyNotarised, match="AgreementRegistryAlreadyNotarised"):
        registry.notarise(signed)


def test_notarise_reverts_when_borrower_signature_is_from_another_key(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    sub = make_submission(runtime).submission
    good = signed_for(runtime, make_submission(runtime))
    forged = SignedAgreement(good.agreement, good.lender_signature, sub.borrower_signature)
    with pytest.raises(SignatureMismatch, match="AgreementRegistryInvalidSignature"):
        runtime.registry.notarise(forged)


@pytest.mark.parametrize("where", ["chain_id", "contract"])
def test_notarise_reverts_when_signature_replayed_from_another_domain(
    runtime: Runtime, make_submission: SubmissionFactory, where: str
) -> None:
    signed = signed_for(runtime, make_submission(runtime))
    domain = runtime.registry.domain
    other = (
        Domain(chain_id=domain.chain_id + 1, verifying_contract=domain.verifying_contract)
        if where == "chain_id"
        else Domain(chain_id=domain.chain_id, verifying_contract="0x" + "11" * 20)
    )
    replayed = sign_agreement(signed.agreement, other, runtime.account.key)
    with pytest.raises(SignatureMismatch):
        runtime.registry.notarise(SignedAgreement(signed.agreement, replayed, replayed))
    lender_replay = SignedAgreement(signed.agreement, replayed, signed.borrower_signature)
    with pytest.raises(SignatureMismatch):
        runtime.registry.notarise(lender_replay)


def test_notarise_reverts_for_account_without_notary_role(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    outsider = _other_client(runtime, notary=False)
    signed = _signed_by(outsider, runtime, make_submission)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        outsider.notarise(signed)


def test_notarise_reverts_when_lender_is_not_the_caller(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    other = _other_client(runtime, notary=True)
    signed = signed_for(runtime, make_submission(runtime))  # names runtime's lender
    with pytest.raises(Unauthorized, match="AgreementRegistryLenderMismatch"):
        other.notarise(signed)


def test_notarise_reverts_on_zero_digest(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    signed = signed_for(runtime, make_submission(runtime))
    zero = replace(signed, agreement=replace(signed.agreement, digest=bytes(32)))
    with pytest.raises(InvalidInput, match="AgreementRegistryZeroDigest"):
        runtime.registry.notarise(zero)


def test_granting_notary_requires_admin(runtime: Runtime) -> None:
    outsider = _other_client(runtime, notary=False)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        outsider.grant_notary(outsider.transactor.address)
    admin_registry(runtime).grant_notary(outsider.transactor.address)
    assert runtime.registry.has_role(NOTARY_ROLE, outsider.transactor.address)


def _tree(
    rt: Runtime, make: SubmissionFactory, n: int
) -> tuple[StandardMerkleTree, list[SignedAgreement]]:
    signed = [signed_for(rt, make(rt)) for _ in range(n)]
    tree = StandardMerkleTree.of([agreement_leaf_values(s) for s in signed], AGREEMENT_LEAF_TYPES)
    return tree, signed


def test_anchor_batch_records_root_and_checks_inclusion_on_chain(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    tree, signed = _tree(runtime, make_submission, 5)
    result = runtime.registry.anchor_batch(tree.root, 5)
    assert result is not None
    batch = runtime.registry.batch_of(tree.root)
    assert batch is not None
    assert (batch.lender, batch.block_number) == (runtime.notary.lender, result.block_number)
    for i, s in enumerate(signed):
        assert runtime.registry.leaf_hash(s) == tree.leaf_hash(i)
        assert runtime.registry.verify_inclusion(tree.root, s, tree.proof(i))
    assert not runtime.registry.verify_inclusion(tree.root, signed[0], tree.proof(1))


def test_anchor_batch_reverts_on_duplicate_empty_or_zero_root(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    registry = raw_registry(runtime)  # repeats reach the contract
    tree, _ = _tree(runtime, make_submission, 2)
    registry.anchor_batch(tree.root, 2)
    with pytest.raises(AlreadyNotarised, match="AgreementRegistryBatchAlreadyAnchored"):
        registry.anchor_batch(tree.root, 2)
    with pytest.raises(InvalidInput, match="AgreementRegistryEmptyBatch"):
        registry.anchor_batch(b"\x01" * 32, 0)
    with pytest.raises(InvalidInput, match="AgreementRegistryZeroDigest"):
        registry.anchor_batch(bytes(32), 1)


def test_anchor_batch_reverts_for_account_without_notary_role(runtime: Runtime) -> None:
    outsider = _other_client(runtime, notary=False)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        outsider.anchor_batch(b"\x02" * 32, 1)


def test_verify_inclusion_is_false_for_unanchored_root(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    tree, signed = _tree(runtime, make_submission, 2)
    assert not runtime.registry.verify_inclusion(tree.root, signed[0], tree.proof(0))


def test_supersede_marks_previous_and_links_successor(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    first = signed_for(runtime, make_submission(runtime))
    runtime.registry.notarise(first)
    first_id = runtime.registry.agreement_id(first.agreement)
    amendment = signed_for(runtime, make_submission(runtime, supersedes=first_id))
    runtime.registry.notarise(amendment)
    status = runtime.registry.status_of(first_id)
    assert status.status is OnChainStatus.SUPERSEDED
    assert status.successor == runtime.registry.agreement_id(amendment.agreement)
    again = signed_for(runtime, make_submission(runtime, supersedes=first_id))
    with pytest.raises(NotActive, match="AgreementRegistryNotActive"):
        runtime.registry.notarise(again)


def test_supersede_reverts_for_unknown_previous_and_other_lender(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    unknown = signed_for(runtime, make_submission(runtime, supersedes=b"\x07" * 32))
    with pytest.raises(NotFound, match="AgreementRegistryUnknownAgreement"):
        runtime.registry.notarise(unknown)
    first = signed_for(runtime, make_submission(runtime))
    runtime.registry.notarise(first)
    other = _other_client(runtime, notary=True)
    amendment = _signed_by(
        other, runtime, make_submission, supersedes=runtime.registry.agreement_id(first.agreement)
    )
    with pytest.raises(Unauthorized, match="AgreementRegistryNotLender"):
        other.notarise(amendment)


def test_supersede_reverts_when_amendment_names_another_previous(runtime: Runtime) -> None:
    call = runtime.registry.contract.functions.supersede(
        b"\x01" * 32,
        (
            b"\x02" * 32,
            runtime.notary.lender,
            runtime.notary.lender,
            b"\0" * 32,
            b"\0" * 32,
            b"\x03" * 32,
        ),
        b"",
        b"",
    )
    with pytest.raises(InvalidInput, match="AgreementRegistrySupersedesMismatch"):
        runtime.registry.transactor.send(call)
    plain = runtime.registry.contract.functions.notarise(
        (
            b"\x02" * 32,
            runtime.notary.lender,
            runtime.notary.lender,
            b"\0" * 32,
            b"\0" * 32,
            b"\x03" * 32,
        ),
        b"",
        b"",
    )
    with pytest.raises(InvalidInput, match="AgreementRegistrySupersedesMismatch"):
        runtime.registry.transactor.send(plain)


def test_revoke_by_lender_only_with_reason_once(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    registry = raw_registry(runtime)  # repeats reach the contract
    signed = signed_for(runtime, make_submission(runtime))
    agreement = signed.agreement
    with pytest.raises(NotFound, match="AgreementRegistryUnknownAgreement"):
        registry.revoke(agreement, 1)
    registry.notarise(signed)
    with pytest.raises(InvalidInput, match="AgreementRegistryInvalidReason"):
        registry.revoke(agreement, 0)
    other = _other_client(runtime, notary=True)
    with pytest.raises(Unauthorized, match="AgreementRegistryNotLender"):
        other.revoke(agreement, 1)
    outsider = _other_client(runtime, notary=False)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        outsider.revoke(agreement, 1)
    registry.revoke(agreement, 3)
    status = registry.status_of(registry.agreement_id(agreement))
    assert (status.status, status.reason) == (OnChainStatus.REVOKED, 3)
    with pytest.raises(NotActive, match="AgreementRegistryNotActive"):
        registry.revoke(agreement, 3)


def test_revoke_batched_needs_valid_proof_lender_and_active_status(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    registry = raw_registry(runtime)  # repeats reach the contract
    tree, signed = _tree(runtime, make_submission, 3)
    with pytest.raises(NotFound, match="AgreementRegistryUnknownAgreement"):
        registry.revoke_batched(tree.root, signed[0], tree.proof(0), 1)
    registry.anchor_batch(tree.root, 3)
    with pytest.raises(InvalidInput, match="AgreementRegistryInvalidProof"):
        registry.revoke_batched(tree.root, signed[0], tree.proof(1), 1)
    with pytest.raises(InvalidInput, match="AgreementRegistryInvalidReason"):
        registry.revoke_batched(tree.root, signed[0], tree.proof(0), 0)
    other = _other_client(runtime, notary=True)
    with pytest.raises(Unauthorized, match="AgreementRegistryNotLender"):
        other.revoke_batched(tree.root, signed[0], tree.proof(0), 1)
    registry.revoke_batched(tree.root, signed[0], tree.proof(0), 4)
    status = registry.status_of(registry.agreement_id(signed[0].agreement))
    assert (status.status, status.reason) == (OnChainStatus.REVOKED, 4)
    with pytest.raises(NotActive, match="AgreementRegistryNotActive"):
        registry.revoke_batched(tree.root, signed[0], tree.proof(0), 4)


def test_revert_decoder_returns_none_for_unknown_selector() -> None:
    decoder = RevertDecoder([])
    assert decoder.decode(b"\xde\xad\xbe\xef") is None
    assert "unknown data" in str(decoder.to_domain(b"\xde\xad\xbe\xef"))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    size=st.integers(min_value=1, max_value=12),
    index=st.integers(min_value=0, max_value=11),
    which=st.integers(min_value=0, max_value=63),
    bit=st.integers(min_value=0, max_value=255),
)
def test_every_leaf_proof_verifies_through_contract_and_flipped_bit_fails(
    embedded_runtime: Runtime,
    make_submission: SubmissionFactory,
    size: int,
    index: int,
    which: int,
    bit: int,
) -> None:
    rt = embedded_runtime
    tree, signed = _tree(rt, make_submission, size)
    rt.registry.anchor_batch(tree.root, size)
    for i, s in enumerate(signed):
        assert rt.registry.verify_inclusion(tree.root, s, tree.proof(i))
    index %= size
    proof = tree.proof(index)
    if proof:
        flipped = bytearray(proof[which % len(proof)])
        flipped[bit // 8] ^= 1 << (bit % 8)
        proof[which % len(proof)] = bytes(flipped)
        assert not rt.registry.verify_inclusion(tree.root, signed[index], proof)
    sig = bytearray(signed[index].borrower_signature)
    sig[bit % 65] ^= 1 << (bit % 8)
    tampered = SignedAgreement(signed[index].agreement, signed[index].lender_signature, bytes(sig))
    assert not rt.registry.verify_inclusion(tree.root, tampered, tree.proof(index))


def _key_of(client: RegistryClient) -> bytes:
    """The private key of a client's local signer."""
    signer = client.transactor.signer
    assert isinstance(signer, LocalSigner)
    return bytes(signer.account.key)
