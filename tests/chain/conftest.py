"""Chain fixtures: a LoanLedger beside the registry, and loans ready to use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from eth_account import Account

from loantrace.chain.anvil import Anvil
from loantrace.chain.ledger import LedgerClient, ScheduledInstalment, deploy_ledger
from loantrace.chain.node import connect
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.services.runtime import Runtime
from tests.conftest import SubmissionFactory, signed_for, start_runtime

DAY = 86_400
CAP_BPS = 1_200
POLICY = (3, 3, 90)  # due soon 3 days before, grace 3 days, default after 90 days past due


@dataclass
class LedgerEnv:
    """A runtime, its ledger, and helpers to make loans."""

    rt: Runtime
    ledger: LedgerClient
    make: SubmissionFactory

    def notarised_digest(self) -> bytes:
        """Notarise a fresh agreement singly; return its digest."""
        signed = signed_for(self.rt, self.make(self.rt))
        self.rt.registry.notarise(signed)
        return signed.agreement.digest

    def schedule(self, n: int = 12, *, first_in_days: int = 30) -> list[ScheduledInstalment]:
        """n monthly-ish instalments of 100,000 principal + 10,000 interest."""
        start = self.rt.node.now() + first_in_days * DAY
        return [ScheduledInstalment(start + i * 30 * DAY, 100_000, 10_000) for i in range(n)]

    def register(self, *, n: int = 12, apr_bps: int = 1_000, first_in_days: int = 30) -> bytes:
        """Register a loan on a fresh agreement; return its id."""
        digest = self.notarised_digest()
        self.ledger.register_loan(
            loan_id=digest,
            borrower_commitment=b"\x0b" * 32,
            principal=100_000 * n,
            apr_bps=apr_bps,
            currency="CNY",
            purpose="CONSUMPTION",
            schedule=self.schedule(n, first_in_days=first_in_days),
        )
        return digest

    def active(self, **kwargs: int) -> bytes:
        """Register and fully disburse a loan; return its id."""
        loan_id = self.register(**kwargs)
        loan = self.ledger.loan_of(loan_id)
        assert loan is not None
        self.ledger.record_disbursement(loan_id, loan.principal, b"\x0a" * 32, ref())
        return loan_id

    def other(self, *, notary: bool) -> LedgerClient:
        """A client of the same ledger sending from a fresh (optionally NOTARY) account."""
        account = Account.create()
        self.rt.node.fund_for_dev(account)
        if notary:
            self.rt.registry.grant_notary(account.address)
        transactor = Transactor(self.rt.node.w3, account, revert_decoder())
        return LedgerClient(self.rt.node.w3, self.ledger.address, transactor)

    def other_registry(self, client: LedgerClient) -> RegistryClient:
        """The registry, sending from `client`'s account."""
        return RegistryClient(self.rt.node.w3, self.rt.registry.address, client.transactor)


def ref() -> bytes:
    """A fresh external reference."""
    return uuid.uuid4().bytes * 2


def _ledger_env(rt: Runtime, make: SubmissionFactory) -> LedgerEnv:
    address = deploy_ledger(
        rt.registry.transactor,
        rt.node.w3,
        admin=rt.notary.lender,
        registry=rt.registry.address,
        rate_cap_bps=CAP_BPS,
        policy=POLICY,
    )
    return LedgerEnv(rt, LedgerClient(rt.node.w3, address, rt.registry.transactor), make)


@pytest.fixture
def env(runtime: Runtime, make_submission: SubmissionFactory) -> LedgerEnv:
    """A fresh ledger on each chain (embedded and anvil)."""
    return _ledger_env(runtime, make_submission)


@pytest.fixture
def embedded_env(embedded_runtime: Runtime, make_submission: SubmissionFactory) -> LedgerEnv:
    """A fresh ledger on the embedded chain only (for heavier time-travel tests)."""
    return _ledger_env(embedded_runtime, make_submission)


@pytest.fixture
def anvil_env(anvil: Anvil, make_submission: SubmissionFactory) -> LedgerEnv:
    """A fresh ledger on the real anvil node only (for anvil-specific behaviour)."""
    return _ledger_env(start_runtime(connect(anvil.url)), make_submission)
