"""Shared fixtures: chains (embedded and a real anvil node), databases, a started runtime."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from loantrace.chain.node import Node, connect
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.devtools.anvil import Anvil
from loantrace.domain.agreement import Agreement, SignedAgreement, sign_agreement
from loantrace.domain.digest import document_digest, new_salt, party_commitment
from loantrace.domain.errors import ConfigurationError
from loantrace.domain.terms import LoanTerms
from loantrace.services.notary import Submission
from loantrace.bootstrap import Runtime
from loantrace.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "LOANTRACE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _required(name: str) -> bool:
    return os.environ.get(name) == "1"


@pytest.fixture(scope="session")
def anvil() -> Iterator[Anvil]:
    """A real anvil node for the whole session (skipped only if not installed and not required)."""
    try:
        node = Anvil()
    except ConfigurationError as exc:
        if _required("LOANTRACE_TEST_REQUIRE_ANVIL"):
            raise
        pytest.skip(f"anvil unavailable: {exc}")
    with node:
        yield node


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def node(request: pytest.FixtureRequest) -> Node:
    """A chain: the embedded eth-tester chain, then a real anvil node over JSON-RPC."""
    if request.param == "embedded":
        return connect(None)
    anvil_node: Anvil = request.getfixturevalue("anvil")
    return connect(anvil_node.url)


@pytest.fixture
def embedded_node() -> Node:
    """A fresh embedded chain."""
    return connect(None)


def start_runtime(node: Node, database_url: str = "sqlite://", **overrides: object) -> Runtime:
    """Start a dev runtime on `node`, deploying a fresh registry."""
    rpc = None if node.embedded else "http://node.invalid"  # the node object is passed in
    settings = Settings(mode="dev", rpc_url=rpc, database_url=database_url, **overrides)  # type: ignore[arg-type]
    return Runtime.start(settings, node=node)


@pytest.fixture
def runtime(node: Node) -> Iterator[Runtime]:
    """A started runtime (fresh registry, in-memory SQLite) on each chain."""
    rt = start_runtime(node)
    yield rt
    rt.close()


@pytest.fixture
def embedded_runtime(embedded_node: Node) -> Iterator[Runtime]:
    """A started runtime on the embedded chain only."""
    rt = start_runtime(embedded_node)
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


@pytest.fixture
def make_submission() -> SubmissionFactory:
    """Build borrower-signed submissions for a runtime's registry."""

    def build(
        rt: Runtime,
        document: bytes | None = None,
        *,
        supersedes: bytes | None = None,
        borrower: LocalAccount | None = None,
        signer: LocalAccount | None = None,
        terms: LoanTerms = SAMPLE_TERMS,
    ) -> Signed:
        document = document or f"agreement {uuid.uuid4()}".encode()
        borrower = borrower or Account.create()
        commitment = party_commitment({"id": uuid.uuid4().hex}, new_salt())
        agreement = Agreement(
            digest=document_digest(document),
            lender=rt.notary.lender,
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

    return build


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
