"""Read-only wiring for auditors: a verifier with no key and no database, and an index of the
chain in a database of their own to trace and audit from, with no key and no transaction.

`LOANTRACE_READ_ONLY=true` makes `loantrace index`, `trace` and `audit` use it: they need a
node (`LOANTRACE_RPC_URL`), the contracts (`LOANTRACE_ADDRESS_BOOK`, or the three address
settings) and the auditor's own `LOANTRACE_DATABASE_URL`. Nothing is deployed, granted or sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Engine

from loantrace.bootstrap_chain import addresses_of
from loantrace.chain.fundflow import FundFlowClient
from loantrace.chain.ledger import LedgerClient
from loantrace.chain.node import Node, connect
from loantrace.chain.registry import RegistryClient
from loantrace.domain.delinquency import ReminderPolicy
from loantrace.domain.errors import ConfigurationError
from loantrace.manifests import ManifestSource
from loantrace.services.flows import FlowService
from loantrace.services.indexer import Indexer
from loantrace.services.verify import Verifier
from loantrace.settings import Settings
from loantrace.store.db import bind_chain, check_binding, init_schema, make_engine, read_binding


@dataclass
class AuditorRuntime:
    """The read side of the system: an index of the chain and the tracing engine over it."""

    settings: Settings
    node: Node
    engine: Engine
    indexer: Indexer
    flows: FlowService

    @classmethod
    def start(cls, settings: Settings) -> AuditorRuntime:
        """Connect read-only; bind the auditor's database to this chain and these contracts."""
        if settings.rpc_url is None:
            raise ConfigurationError("a read-only index needs a node: set LOANTRACE_RPC_URL")
        database_url = settings.database_url
        if database_url is None:
            raise ConfigurationError("a read-only index needs LOANTRACE_DATABASE_URL (your own)")
        settings, (registry, ledger, fundflow) = addresses_of(settings)
        if registry is None or ledger is None or fundflow is None:
            raise ConfigurationError(
                "set LOANTRACE_ADDRESS_BOOK, or LOANTRACE_REGISTRY_ADDRESS, "
                "LOANTRACE_LEDGER_ADDRESS and LOANTRACE_FUNDFLOW_ADDRESS"
            )
        node = connect(settings.rpc_url, timeout=settings.rpc_timeout_seconds)
        engine = make_engine(database_url)
        init_schema(engine)
        binding = read_binding(engine)
        if binding is None:
            bind_chain(
                engine,
                chain_id=node.chain_id,
                genesis_hash=node.genesis_hash,
                registry_address=registry,
                ledger_address=ledger,
                fundflow_address=fundflow,
            )
        else:
            check_binding(
                binding,
                chain_id=node.chain_id,
                genesis_hash=node.genesis_hash,
                registry=registry,
                ledger=ledger,
            )
        clients = (
            RegistryClient(node.w3, registry),  # no transactor: these clients only read
            LedgerClient(node.w3, ledger),
            FundFlowClient(node.w3, fundflow),
        )
        indexer = Indexer(
            w3=node.w3,
            engine=engine,
            contracts=[c.contract for c in clients],
            chain_id=node.chain_id,
            start_block=settings.ledger_start_block,
            confirmations=settings.index_confirmations,
            max_range=settings.index_max_range,
        )
        flows = FlowService(
            engine=engine,
            indexer=indexer,
            fundflow=clients[2],
            ledger=clients[1],
            index_on_read=False,  # the auditor's index is what `loantrace index` copied
            policy=ReminderPolicy(
                settings.due_soon_days, settings.grace_days, settings.default_after_days
            ),
        )
        return cls(settings=settings, node=node, engine=engine, indexer=indexer, flows=flows)

    def close(self) -> None:
        """Release the database pool."""
        self.engine.dispose()


def read_only_verifier(
    rpc_url: str, registry: str, manifests: list[str], from_block: int
) -> tuple[Verifier, Node]:
    """Return a verifier with no key and no database: the node and the published manifests."""
    node = connect(rpc_url)
    client = RegistryClient(node.w3, registry)  # no transactor: it only reads
    source = ManifestSource(manifests)
    verifier = Verifier(
        registry=client,
        uow=None,
        manifests=source.fetch if source else None,
        from_block=from_block,
    )
    return verifier, node
