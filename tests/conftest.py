"""Shared fixtures: chains (embedded and a real anvil node), databases, a started runtime."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import settings as hypothesis_settings
from web3.types import RPCEndpoint

from loantrace.bootstrap import Runtime
from loantrace.chain.node import Node, connect
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.signers import LocalSigner
from loantrace.chain.transactor import Transactor
from loantrace.devtools.anvil import Anvil
from loantrace.domain.agreement import Agreement, SignedAgreement, sign_agreement
from loantrace.domain.digest import document_digest, new_salt, party_commitment
from loantrace.domain.errors import ConfigurationError
from loantrace.domain.terms import LoanTerms
from loantrace.services.indexer import CURSOR as INDEX_CURSOR
from loantrace.services.notary import Submission
from loantrace.settings import DEV_DEPLOYER_KEY, Settings
from loantrace.store.db import read_cursor

# Property tests judge results, not speed: on a loaded 2-core CI machine one example can take
# far longer than hypothesis' default 200 ms deadline, which would fail a correct test.
hypothesis_settings.register_profile("loantrace", deadline=None)
hypothesis_settings.load_profile("loantrace")

POSTGRES_ADMIN_URL = os.environ.get(
    "LOANTRACE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _required(name: str) -> bool:
    return os.environ.get(name) == "1"


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """A real anvil node for the whole session (skipped only if not installed and not required).

    Under pytest-xdist every worker is its own session, so each has its own node.
    """
    try:
        node = Anvil()
    except ConfigurationError as exc:
        if _required("LOANTRACE_TEST_REQUIRE_ANVIL"):
            raise
        pytest.skip(f"anvil unavailable: {exc}")
    with node:
        yield node


@dataclass(frozen=True)
class Deployment:
    """The contracts a dev runtime deploys, deployed once on a session chain."""

    registry: str
    ledger: str
    fundflow: str
    start_block: int  # where a runtime that had deployed them would start reading events
    extra: dict[str, str] = field(default_factory=dict)  # contracts a test package adds


@dataclass(frozen=True)
class SessionChain:
    """A chain kept for the whole session with the contracts deployed on it."""

    node: Node
    deployment: Deployment
    url: str | None  # None: the embedded chain, which lives in this process

    def connect(self) -> Node:
        """A node for one test: the embedded chain itself, or a new JSON-RPC connection."""
        return self.node if self.url is None else connect(self.url)


def deploy_contracts(node: Node) -> Deployment:
    """Deploy registry, ledger and fund flow as a dev runtime does; return where they are."""
    rt = start_runtime(node)
    try:
        cursor = read_cursor(rt.engine, name=INDEX_CURSOR)
        assert cursor is not None, "a deploying runtime saves its indexer cursor"
        return Deployment(rt.registry.address, rt.ledger.address, rt.fundflow.address, cursor + 1)
    finally:
        rt.close()


@pytest.fixture(scope="session")
def shared_embedded_chain() -> SessionChain:
    """One embedded chain for the session, contracts deployed; tests get it reverted."""
    node = connect(None)
    return SessionChain(node, deploy_contracts(node), url=None)


@pytest.fixture(scope="session")
def shared_anvil_chain(anvil: Anvil) -> SessionChain:
    """The session anvil with the contracts deployed once; tests get it reverted."""
    node = connect(anvil.url)
    return SessionChain(node, deploy_contracts(node), url=anvil.url)


def _rpc(node: Node, method: str, *params: object) -> Any:
    response = node.w3.provider.make_request(RPCEndpoint(method), list(params))
    if "error" in response:
        raise RuntimeError(f"{method} failed: {response['error']}")
    return response["result"]


@contextmanager
def reverted(node: Node) -> Iterator[None]:
    """Undo on exit every block, balance, nonce and clock change made on `node`.

    A block is mined first so that the latest block is timestamped now, as right after a
    deployment (the snapshot's own block may be minutes old). After the revert the node
    hands out the reverted nonces again: a database that outlives the test (the session's
    PostgreSQL) must not record transactions sent inside, or a later runtime would resend them.
    """
    head = node.head()
    if node.embedded:
        tester = node.tester
        snapshot = tester.take_snapshot()
        tester.mine_blocks(1)
        try:
            yield
        finally:
            tester.revert_to_snapshot(snapshot)
    else:
        snapshot = _rpc(node, "evm_snapshot")
        _rpc(node, "evm_mine")
        try:
            yield
        finally:
            if not _rpc(node, "evm_revert", snapshot):
                raise RuntimeError(f"evm_revert({snapshot}) refused: the session chain is dirty")
    if node.head() != head:
        raise RuntimeError(f"the session chain is at block {node.head()} after reverting to {head}")


@dataclass(frozen=True)
class BoundChain:
    """A session chain as one test sees it: a node, reverted after the test, and the contracts."""

    node: Node
    deployment: Deployment


def _test_chain(request: pytest.FixtureRequest, kind: str) -> Iterator[BoundChain]:
    shared: SessionChain = request.getfixturevalue(f"shared_{kind}_chain")
    node = shared.connect()
    with reverted(node):
        yield BoundChain(node, shared.deployment)


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request: pytest.FixtureRequest) -> Iterator[BoundChain]:
    """The session's embedded chain, then its anvil node, with the contracts; reverted after."""
    yield from _test_chain(request, request.param)


@pytest.fixture
def embedded_chain(request: pytest.FixtureRequest) -> Iterator[BoundChain]:
    """The session's embedded chain with the contracts, reverted after the test."""
    yield from _test_chain(request, "embedded")


@pytest.fixture
def anvil_chain(request: pytest.FixtureRequest) -> Iterator[BoundChain]:
    """The session's anvil node with the contracts, reverted after the test."""
    yield from _test_chain(request, "anvil")


@pytest.fixture
def node(chain: BoundChain) -> Node:
    """A chain: the embedded eth-tester chain, then a real anvil node over JSON-RPC."""
    return chain.node


@pytest.fixture
def embedded_node(embedded_chain: BoundChain) -> Node:
    """The embedded chain (shared by the session, reverted after the test)."""
    return embedded_chain.node


def start_runtime(node: Node, database_url: str = "sqlite://", **overrides: object) -> Runtime:
    """Start a dev runtime on `node`, deploying a fresh registry."""
    rpc = None if node.embedded else "http://node.invalid"  # the node object is passed in
    overrides.setdefault("webhook_allow_hosts", "127.0.0.1/32")  # test receivers run there
    settings = Settings(mode="dev", rpc_url=rpc, database_url=database_url, **overrides)  # type: ignore[arg-type]
    return Runtime.start(settings, node=node)


def admin_registry(rt: Runtime) -> RegistryClient:
    """The runtime's registry, sending as the contracts' admin (the dev deployer): the
    service itself is never the admin, so tests grant roles through this."""
    admin = Transactor(rt.node.w3, LocalSigner.from_key(DEV_DEPLOYER_KEY), revert_decoder())
    return RegistryClient(rt.node.w3, rt.registry.address, admin)


def bound_runtime(
    chain: BoundChain, database_url: str = "sqlite://", **overrides: object
) -> Runtime:
    """Start a dev runtime on `chain`'s node using the contracts already deployed there."""
    deployment = chain.deployment
    return start_runtime(
        chain.node,
        database_url,
        registry_address=deployment.registry,
        ledger_address=deployment.ledger,
        fundflow_address=deployment.fundflow,
        ledger_start_block=deployment.start_block,
        **overrides,
    )


@pytest.fixture
def runtime(chain: BoundChain) -> Iterator[Runtime]:
    """A started runtime (session contracts, fresh in-memory SQLite) on each chain."""
    rt = bound_runtime(chain)
    yield rt
    rt.close()


@pytest.fixture
def embedded_runtime(embedded_chain: BoundChain) -> Iterator[Runtime]:
    """A started runtime on the embedded chain only."""
    rt = bound_runtime(embedded_chain)
    yield rt
    rt.close()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"loantrace_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if _required("LOANTRACE_TEST_REQUIRE_POSTGRES"):
            raise
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def service_env(rt: Runtime, rpc_url: str, database: str) -> dict[str, str]:
    """The environment of a `loantrace` subprocess sharing `rt`'s key, contracts and database."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LOANTRACE_MODE": "dev",
        "LOANTRACE_RPC_URL": rpc_url,
        "LOANTRACE_DATABASE_URL": database,
        "LOANTRACE_NOTARY_KEY": "0x" + bytes(rt.account.key).hex(),
        "LOANTRACE_REGISTRY_ADDRESS": rt.registry.address,
        "LOANTRACE_LEDGER_ADDRESS": rt.ledger.address,
        "LOANTRACE_FUNDFLOW_ADDRESS": rt.fundflow.address,
        "LOANTRACE_LOG_LEVEL": "WARNING",
    }


@pytest.fixture
def fresh_postgres(postgres_url: str) -> Iterator[str]:
    """A PostgreSQL database of the test's own (bound to its chain), dropped afterwards."""
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"loantrace_own_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


SAMPLE_TERMS = LoanTerms(
    principal=500_000,
    currency="CNY",
    apr_bps=1_450,
    instalments=12,
    repayment_method="annuity",
    start_date=date(2026, 12, 15).isoformat(),
    first_due_date=date(2027, 1, 15).isoformat(),
    purpose="CONSUMPTION",
)


@dataclass
class Signed:
    """A submission with the borrower account that signed it."""

    submission: Submission
    borrower: LocalAccount
    document: bytes


SubmissionFactory = Callable[..., Signed]


def make_signed(
    rt: Runtime,
    document: bytes | None = None,
    *,
    supersedes: bytes | None = None,
    borrower: LocalAccount | None = None,
    signer: LocalAccount | None = None,
    terms: LoanTerms = SAMPLE_TERMS,
    lender: str | None = None,
    commitment: bytes | None = None,
) -> Signed:
    """Build a borrower-signed submission for `rt`'s registry (a fresh borrower by default)."""
    document = document or f"agreement {uuid.uuid4()}".encode()
    borrower = borrower or Account.create()
    commitment = commitment or party_commitment({"id": uuid.uuid4().hex}, new_salt())
    agreement = Agreement(
        digest=document_digest(document),
        lender=lender or rt.notary.lender,
        borrower=borrower.address,
        borrower_commitment=commitment,
        terms_digest=terms.digest(),
        supersedes=rt.notary.resolve_previous(supersedes),
    )
    signature = sign_agreement(agreement, rt.registry.domain, (signer or borrower).key)
    submission = Submission(
        digest=agreement.digest,
        borrower=borrower.address,
        borrower_commitment=commitment,
        borrower_signature=signature,
        terms=terms,
        supersedes=supersedes,
    )
    return Signed(submission, borrower, document)


@pytest.fixture
def make_submission() -> SubmissionFactory:
    """Build borrower-signed submissions for a runtime's registry."""
    return make_signed


def signed_for(rt: Runtime, signed: Signed) -> SignedAgreement:
    """Return the fully signed agreement (lender signature added) of a submission."""
    agreement, _terms = rt.notary.prepare(signed.submission)
    return agreement


def raw_transactor(rt: Runtime) -> Transactor:
    """The runtime's key and outbox, sending every call as given (no intent adoption)."""
    return Transactor(
        rt.node.w3,
        rt.account,
        revert_decoder(),
        outbox=rt.registry.transactor.outbox,
        use_intents=False,
    )


def raw_registry(rt: Runtime) -> RegistryClient:
    """The registry through `raw_transactor`: a repeat reaches the contract and reverts."""
    return RegistryClient(rt.node.w3, rt.registry.address, raw_transactor(rt))
