"""Chain fixtures: a LoanLedger beside the registry, and loans ready to use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import pytest
from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.chain.ledger import LedgerClient, deploy_ledger
from loantrace.chain.node import connect
from loantrace.chain.registry import RegistryClient, agreement_struct, revert_decoder
from loantrace.chain.transactor import Transactor, TxResult
from loantrace.devtools.anvil import Anvil
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.agreement import Agreement, SignedAgreement, sign_agreement
from loantrace.domain.digest import document_digest
from loantrace.domain.terms import LoanTerms
from tests.conftest import (
    BoundChain,
    SessionChain,
    SubmissionFactory,
    admin_registry,
    bound_runtime,
    raw_transactor,
    signed_for,
    start_runtime,
)

DAY = 86_400
LPR_BPS = 300
CAP_BPS = 1_200  # 4 × LPR
POLICY = (3, 3, 90)  # due soon 3 days before, grace 3 days, default after 90 days past due
Row = tuple[int, int, int, int]  # (dueAt, principal, interest, fees), as the contract takes it


@dataclass
class LedgerEnv:
    """A runtime, its ledger, and helpers to make loans."""

    rt: Runtime
    ledger: LedgerClient
    make: SubmissionFactory

    def terms(
        self, *, n: int = 12, apr_bps: int = 1_000, first_in_days: int = 30, principal: int = 0
    ) -> LoanTerms:
        """Equal-principal terms starting today (chain time), 100,000 principal a month."""
        return terms_at(
            self.rt.node.now(),
            principal=principal or 100_000 * n,
            apr_bps=apr_bps,
            instalments=n,
            method="equal_principal",
            first_in_days=first_in_days,
        )

    def notarised(self, terms: LoanTerms) -> SignedAgreement:
        """Notarise a fresh agreement on `terms` singly; return it signed."""
        signed = signed_for(self.rt, self.make(self.rt, terms=terms))
        self.rt.registry.notarise(signed)
        return signed

    def register(self, *, n: int = 12, apr_bps: int = 1_000, first_in_days: int = 30) -> bytes:
        """Register a loan on a fresh agreement; return its id (the agreement id)."""
        terms = self.terms(n=n, apr_bps=apr_bps, first_in_days=first_in_days)
        signed = self.notarised(terms)
        self.ledger.register_loan(signed.agreement, terms)
        return self.rt.registry.agreement_id(signed.agreement)

    def active(self, **kwargs: int) -> bytes:
        """Register and fully disburse a loan; return its id."""
        loan_id = self.register(**kwargs)
        loan = self.ledger.loan_of(loan_id)
        assert loan is not None
        self.ledger.record_disbursement(loan_id, loan.principal, b"\x0a" * 32, ref())
        return loan_id

    # raw terms: what a lender calling the contract directly may send -------------------------

    def raw_terms(self, principal: int, start_at: int, apr_bps: int = 1_000) -> tuple[Any, ...]:
        """A `LoanTerms` tuple for the contract."""
        return (principal, b"CNY", start_at, b"CONSUMPTION".ljust(32, b"\0"), 4, apr_bps)

    def monthly_rows(self, n: int, principal_each: int, interest: int = 0) -> list[Row]:
        """n instalments 30 days apart from today, each `principal_each` + `interest`."""
        start = self.start_at()
        return [(start + (i + 1) * 30 * DAY, principal_each, interest, 0) for i in range(n)]

    def start_at(self) -> int:
        """00:00 UTC of the chain's current day."""
        return self.rt.node.now() // DAY * DAY

    def signed_raw(self, terms: tuple[Any, ...], rows: list[Row]) -> SignedAgreement:
        """An agreement both parties signed over raw terms (digest from the contract's hash)."""
        terms_digest = bytes(self.ledger.contract.functions.hashTerms(terms, rows).call())
        borrower = Account.create()
        agreement = Agreement(
            digest=document_digest(uuid.uuid4().bytes),
            lender=self.rt.notary.lender,
            borrower=borrower.address,
            borrower_commitment=b"\x0b" * 32,
            terms_digest=terms_digest,
        )
        domain = self.rt.registry.domain
        signature = sign_agreement(agreement, domain, borrower.key)
        lender_signature = sign_agreement(agreement, domain, self.rt.account.key)
        return self.rt.notary.countersign(agreement, signature, lender_signature)

    def register_raw(
        self,
        agreement: Agreement,
        terms: tuple[Any, ...],
        rows: list[Row],
        client: LedgerClient | None = None,
    ) -> TxResult:
        """Call `registerLoan` directly, as a lender bypassing the service would."""
        client = client or self.ledger
        call = client.contract.functions.registerLoan(agreement_struct(agreement), terms, rows)
        return client.transactor.send(call)

    def other(self, *, notary: bool) -> LedgerClient:
        """A client of the same ledger sending from a fresh (optionally NOTARY) account."""
        account = Account.create()
        self.rt.node.fund_for_dev(account)
        if notary:
            admin_registry(self.rt).grant_notary(account.address)
        transactor = Transactor(self.rt.node.w3, account, revert_decoder())
        return LedgerClient(self.rt.node.w3, self.ledger.address, transactor)

    def other_registry(self, client: LedgerClient) -> RegistryClient:
        """The registry, sending from `client`'s account."""
        return RegistryClient(self.rt.node.w3, self.rt.registry.address, client.transactor)


def ref() -> bytes:
    """A fresh external reference."""
    return uuid.uuid4().bytes * 2


ENV_LEDGER = "env_ledger"


def _deploy_ledger(rt: Runtime) -> str:
    """Deploy a LoanLedger beside `rt`'s registry (not the one the registry links to)."""
    return deploy_ledger(
        rt.registry.transactor,
        rt.node.w3,
        admin=rt.notary.lender,
        registry=rt.registry.address,
        lpr_bps=LPR_BPS,
        policy=POLICY,
    )


def _ledger_env(rt: Runtime, make: SubmissionFactory, address: str | None = None) -> LedgerEnv:
    address = address or _deploy_ledger(rt)
    return LedgerEnv(rt, LedgerClient(rt.node.w3, address, raw_transactor(rt)), make)


def _with_env_ledger(shared: SessionChain) -> SessionChain:
    """`shared` with the tests' LoanLedger deployed once more, beside the session contracts."""
    rt = bound_runtime(BoundChain(shared.node, shared.deployment))
    try:
        address = _deploy_ledger(rt)
    finally:
        rt.close()
    deployment = replace(shared.deployment, extra={**shared.deployment.extra, ENV_LEDGER: address})
    return replace(shared, deployment=deployment)


# These override the session chains of tests/conftest.py for the tests in this folder: the
# same chains, with the ledger of `env` deployed once, before any test's snapshot.
@pytest.fixture(scope="session")
def shared_embedded_chain(shared_embedded_chain: SessionChain) -> SessionChain:
    """The session's embedded chain, with the ledger tests' LoanLedger deployed."""
    return _with_env_ledger(shared_embedded_chain)


@pytest.fixture(scope="session")
def shared_anvil_chain(shared_anvil_chain: SessionChain) -> SessionChain:
    """The session's anvil node, with the ledger tests' LoanLedger deployed."""
    return _with_env_ledger(shared_anvil_chain)


@pytest.fixture
def env(runtime: Runtime, chain: BoundChain, make_submission: SubmissionFactory) -> LedgerEnv:
    """A ledger beside the registry on each chain (embedded and anvil), as deployed."""
    return _ledger_env(runtime, make_submission, chain.deployment.extra[ENV_LEDGER])


@pytest.fixture
def embedded_env(
    embedded_runtime: Runtime, embedded_chain: BoundChain, make_submission: SubmissionFactory
) -> LedgerEnv:
    """A ledger on the embedded chain only (for heavier time-travel tests), as deployed."""
    return _ledger_env(
        embedded_runtime, make_submission, embedded_chain.deployment.extra[ENV_LEDGER]
    )


@pytest.fixture
def anvil_env(anvil: Anvil, make_submission: SubmissionFactory) -> LedgerEnv:
    """A fresh ledger on the real anvil node only (for anvil-specific behaviour)."""
    return _ledger_env(start_runtime(connect(anvil.url)), make_submission)
