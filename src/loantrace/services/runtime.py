"""Wire settings to a node, a signer, the registry, the database and the use cases."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loantrace.chain.node import Node, connect
from loantrace.chain.registry import (
    NOTARY_ROLE,
    RegistryClient,
    deploy_registry,
    revert_decoder,
)
from loantrace.chain.transactor import Transactor
from loantrace.domain.errors import ChainError, ConfigurationError, Unavailable
from loantrace.services.notary import Notary
from loantrace.services.verify import Verifier
from loantrace.settings import Settings
from loantrace.store.db import bind_chain, check_binding, init_schema, make_engine, read_binding

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything a running service needs, built once at start-up."""

    settings: Settings
    node: Node
    engine: Engine
    account: LocalAccount
    registry: RegistryClient
    notary: Notary
    verifier: Verifier

    @classmethod
    def start(cls, settings: Settings, *, node: Node | None = None) -> Runtime:
        """Connect, bind the database to the chain, and deploy the registry if allowed."""
        node = node or connect(settings.rpc_url)
        account: LocalAccount = Account.from_key(settings.notary_key_hex())
        engine = make_engine(settings.effective_database_url())
        init_schema(engine)
        binding = read_binding(engine)
        configured = settings.registry_address
        if binding is not None:
            check_binding(
                binding, chain_id=node.chain_id, genesis_hash=node.genesis_hash, registry=configured
            )
            configured = binding.registry_address
        if settings.mode == "dev":
            node.fund_for_dev(account)
        transactor = Transactor(
            node.w3,
            account,
            revert_decoder(),
            poll_latency=settings.receipt_poll_seconds,
            receipt_timeout=settings.receipt_timeout_seconds,
        )
        if configured is None:
            if settings.mode != "dev":
                raise ConfigurationError("LOANTRACE_REGISTRY_ADDRESS is required outside dev")
            configured = deploy_registry(transactor, node.w3, admin=account.address)
            log.info("deployed AgreementRegistry at %s", configured)
        registry = RegistryClient(node.w3, configured, transactor)
        if not registry.has_role(NOTARY_ROLE, account.address):
            if settings.mode != "dev":
                raise ConfigurationError(f"{account.address} lacks NOTARY_ROLE on {configured}")
            registry.grant_notary(account.address)
        bind_chain(
            engine,
            chain_id=node.chain_id,
            genesis_hash=node.genesis_hash,
            registry_address=registry.address,
        )
        notary = Notary(
            registry=registry, engine=engine, account=account, max_batch=settings.max_batch_size
        )
        verifier = Verifier(registry=registry, engine=engine)
        return cls(settings, node, engine, account, registry, notary, verifier)

    def readiness(self) -> dict[str, str]:
        """Check the chain and the database; raise ChainError when either is unreachable."""
        checks: dict[str, str] = {}
        try:
            checks["chain"] = f"ok (block {self.node.head()})"
        except Exception as exc:
            raise ChainError(f"chain unreachable: {type(exc).__name__}") from exc
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            raise Unavailable(f"database unreachable: {type(exc).__name__}") from exc
        return checks

    def close(self) -> None:
        """Release the database pool."""
        self.engine.dispose()
