"""Only an agreement's own parties decide its fate: rival lenders, batched loans, consent."""

from __future__ import annotations

import pytest
from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.chain.ledger import LedgerClient
from loantrace.chain.registry import OnChainStatus, RegistryClient, revert_decoder
from loantrace.chain.signers import LocalSigner
from loantrace.chain.transactor import Transactor
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.agreement import (
    Agreement,
    SignedAgreement,
    revocation_hash,
    sign_agreement,
    sign_revocation,
)
from loantrace.domain.errors import (
    Conflict,
    InvalidInput,
    NotActive,
    SignatureMismatch,
    Unauthorized,
)
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, StandardMerkleTree, agreement_leaf_values
from tests.conftest import Signed, SubmissionFactory, admin_registry, raw_transactor, signed_for


def _rival(rt: Runtime) -> RegistryClient:
    account = Account.create()
    rt.node.fund_for_dev(account)
    admin_registry(rt).grant_notary(account.address)
    transactor = Transactor(rt.node.w3, account, revert_decoder())
    return RegistryClient(rt.node.w3, rt.registry.address, transactor)


def _rival_copy(rt: Runtime, rival: RegistryClient, of: SignedAgreement) -> SignedAgreement:
    """The same document anchored by a rival lender with a borrower key of its own."""
    stooge = Account.create()
    agreement = Agreement(
        digest=of.agreement.digest,
        lender=rival.transactor.address,
        borrower=stooge.address,
        borrower_commitment=of.agreement.borrower_commitment,
        terms_digest=of.agreement.terms_digest,
    )
    domain = rt.registry.domain
    return SignedAgreement(
        agreement,
        sign_agreement(agreement, domain, _key_of(rival)),
        sign_agreement(agreement, domain, stooge.key),
    )


def test_a_rival_anchoring_the_same_digest_first_blocks_nothing(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    real = signed_for(runtime, make_submission(runtime))
    rival = _rival(runtime)
    copy = _rival_copy(runtime, rival, real)
    rival.notarise(copy)
    runtime.registry.notarise(real)  # not blocked
    rival.revoke(copy.agreement, 9)  # the rival revokes only its own record
    real_id = runtime.registry.agreement_id(real.agreement)
    assert runtime.registry.status_of(real_id).status is OnChainStatus.NOTARISED
    with pytest.raises(Unauthorized, match="AgreementRegistryNotLender"):
        rival.revoke(real.agreement, 9)
    found = runtime.registry.notarisations_of_digest(real.agreement.digest)
    assert [f.signed.agreement.lender for f in found] == [
        rival.transactor.address,
        runtime.notary.lender,
    ]


def test_verification_says_which_lenders_record_answered(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    real = signed_for(runtime, make_submission(runtime))
    rival = _rival(runtime)
    copy = _rival_copy(runtime, rival, real)
    rival.notarise(copy)
    rival.revoke(copy.agreement, 9)
    runtime.registry.notarise(real)
    report = runtime.verifier.verify(real.agreement.digest)
    assert report.verdict == "valid"
    assert report.lender == runtime.notary.lender
    assert report.agreement_id == "0x" + runtime.registry.agreement_id(real.agreement).hex()
    assert [(r["lender"], r["verdict"]) for r in report.records] == [
        (rival.transactor.address, "revoked"),
        (runtime.notary.lender, "valid"),
    ]


def _batch(
    rt: Runtime, make: SubmissionFactory
) -> tuple[StandardMerkleTree, list[SignedAgreement], list[Signed]]:
    terms = terms_at(rt.node.now(), principal=200_000, instalments=2, method="equal_principal")
    made = [make(rt, terms=terms) for _ in range(3)]
    signed = [signed_for(rt, m) for m in made]
    tree = StandardMerkleTree.of([agreement_leaf_values(s) for s in signed], AGREEMENT_LEAF_TYPES)
    rt.registry.anchor_batch(tree.root, len(signed))
    return tree, signed, made


def test_a_rival_cannot_revoke_an_agreement_of_another_lenders_batch(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    _tree, signed, _ = _batch(runtime, make_submission)
    rival = _rival(runtime)
    copy = _rival_copy(runtime, rival, signed[0])
    rival_tree = StandardMerkleTree.of(
        [agreement_leaf_values(copy), agreement_leaf_values(signed[1])], AGREEMENT_LEAF_TYPES
    )
    rival.anchor_batch(rival_tree.root, 2)
    rival.revoke_batched(rival_tree.root, copy, rival_tree.proof(0), 7)
    with pytest.raises(Unauthorized, match="AgreementRegistryNotLender"):
        rival.revoke_batched(rival_tree.root, signed[1], rival_tree.proof(1), 7)
    for s in signed:
        status = runtime.registry.status_of(runtime.registry.agreement_id(s.agreement))
        assert status.status is OnChainStatus.NONE  # batched and untouched


def test_a_loan_registers_on_a_batched_agreement_with_its_proof(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    tree, signed, made = _batch(runtime, make_submission)
    terms = made[1].submission.terms
    ledger = LedgerClient(runtime.node.w3, runtime.ledger.address, raw_transactor(runtime))
    with pytest.raises(InvalidInput, match="AgreementRegistryInvalidProof"):
        ledger.register_batched_loan(tree.root, signed[1], tree.proof(0), terms)
    other_terms = terms_at(runtime.node.now(), principal=300_000, instalments=3)
    with pytest.raises(InvalidInput, match="LoanLedgerTermsMismatch"):
        ledger.register_batched_loan(tree.root, signed[1], tree.proof(1), other_terms)
    ledger.register_batched_loan(tree.root, signed[1], tree.proof(1), terms)
    loan = ledger.loan_of(runtime.registry.agreement_id(signed[1].agreement))
    assert loan is not None
    assert loan.principal == 200_000
    with pytest.raises(Conflict, match="LoanLedgerAlreadyRegistered"):
        ledger.register_batched_loan(tree.root, signed[1], tree.proof(1), terms)


def test_a_batched_loan_needs_a_real_borrower_signature_and_its_lender(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    terms = terms_at(runtime.node.now(), principal=100_000, instalments=1)
    good = signed_for(runtime, make_submission(runtime, terms=terms))
    forged = SignedAgreement(good.agreement, good.lender_signature, good.lender_signature)
    tree = StandardMerkleTree.of(
        [agreement_leaf_values(forged), agreement_leaf_values(good)], AGREEMENT_LEAF_TYPES
    )
    runtime.registry.anchor_batch(tree.root, 2)  # signatures are not checked when anchoring
    with pytest.raises(SignatureMismatch, match="AgreementRegistryInvalidSignature"):
        runtime.ledger.register_batched_loan(tree.root, forged, tree.proof(0), terms)
    account = Account.create()
    runtime.node.fund_for_dev(account)
    admin_registry(runtime).grant_notary(account.address)
    other = LedgerClient(
        runtime.node.w3,
        runtime.ledger.address,
        Transactor(runtime.node.w3, account, revert_decoder()),
    )
    with pytest.raises(Unauthorized, match="LoanLedgerNotLender"):
        other.register_batched_loan(tree.root, good, tree.proof(1), terms)


def test_revoking_an_agreement_that_backs_an_open_loan_needs_the_borrower(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    terms = terms_at(runtime.node.now(), principal=100_000, instalments=1)
    made = make_submission(runtime, terms=terms)
    signed = signed_for(runtime, made)
    runtime.registry.notarise(signed)
    runtime.ledger.register_loan(signed.agreement, terms)
    agreement_id = runtime.registry.agreement_id(signed.agreement)
    with pytest.raises(Unauthorized, match="AgreementRegistryBorrowerConsentRequired"):
        runtime.registry.revoke(signed.agreement, 2)
    stranger = sign_revocation(agreement_id, 2, runtime.registry.domain, Account.create().key)
    with pytest.raises(SignatureMismatch, match="AgreementRegistryInvalidSignature"):
        runtime.registry.revoke(signed.agreement, 2, stranger)
    wrong_reason = sign_revocation(agreement_id, 3, runtime.registry.domain, made.borrower.key)
    with pytest.raises(SignatureMismatch, match="AgreementRegistryInvalidSignature"):
        runtime.registry.revoke(signed.agreement, 2, wrong_reason)
    consent = sign_revocation(agreement_id, 2, runtime.registry.domain, made.borrower.key)
    assert bytes(
        runtime.registry.contract.functions.hashRevocation(agreement_id, 2).call()
    ) == revocation_hash(agreement_id, 2, runtime.registry.domain)
    result = runtime.registry.revoke(signed.agreement, 2, consent)
    event = runtime.registry.contract.events.AgreementRevoked().process_log(result.logs[0])
    assert event["args"]["borrowerConsented"] is True
    assert runtime.registry.status_of(agreement_id).status is OnChainStatus.REVOKED


def test_once_the_loan_is_repaid_the_lender_revokes_alone(
    runtime: Runtime, make_submission: SubmissionFactory
) -> None:
    terms = terms_at(runtime.node.now(), principal=100_000, instalments=1)
    signed = signed_for(runtime, make_submission(runtime, terms=terms))
    runtime.registry.notarise(signed)
    runtime.ledger.register_loan(signed.agreement, terms)
    loan_id = runtime.registry.agreement_id(signed.agreement)
    runtime.ledger.record_disbursement(loan_id, 100_000, b"\x01" * 32, b"\x02" * 32)
    runtime.ledger.record_repayment(
        loan_id, runtime.ledger.outstanding(loan_id), b"\x01" * 32, b"\x03" * 32
    )
    runtime.registry.revoke(signed.agreement, 1)
    assert runtime.registry.status_of(loan_id).status is OnChainStatus.REVOKED
    raw = LedgerClient(runtime.node.w3, runtime.ledger.address, raw_transactor(runtime))
    with pytest.raises(NotActive, match="LoanLedgerAgreementNotActive"):
        raw.register_loan(signed.agreement, terms)


def test_the_loan_ledger_is_set_once_by_the_admin(runtime: Runtime) -> None:
    assert runtime.registry.loan_ledger() == runtime.ledger.address
    with pytest.raises(Conflict, match="AgreementRegistryLoanLedgerAlreadySet"):
        admin_registry(runtime).set_loan_ledger(runtime.ledger.address)
    rival = _rival(runtime)
    with pytest.raises(Unauthorized, match="AccessControlUnauthorizedAccount"):
        rival.set_loan_ledger(runtime.ledger.address)


def _key_of(client: RegistryClient) -> bytes:
    """The private key of a client's local signer."""
    signer = client.transactor.signer
    assert isinstance(signer, LocalSigner)
    return bytes(signer.account.key)
