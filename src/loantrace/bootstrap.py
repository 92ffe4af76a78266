"""The one place that wires settings to a node, a signer, the contracts, the database, the
use cases and the workers (indexer, keeper). Nothing else constructs adapters or services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loantrace.chain.fundflow import FundFlowClient, deploy_fundflow
from loantrace.chain.ledger import LedgerClient, deploy_ledger
from loantrace.chain.node import Node, connect
from loantrace.chain.registry import (
    NOTARY_ROLE,
    RegistryClient,
    deploy_registry,
    revert_decoder,
)
from loantrace.chain.transactor import Transactor
from loantrace.domain.delinquency import ReminderPolicy
from loantrace.domain.egress import AllowList
from loantrace.domain.errors import ChainError, ConfigurationError, Unavailable
from loantrace.services.access import AccessService
from loantrace.services.auditlog import AuditLog
from loantrace.services.flows import FlowService
from loantrace.services.indexer import CURSOR as INDEX_CURSOR
from loantrace.services.indexer import Indexer
from loantrace.services.keeper import Keeper
from loantrace.services.loans import LoanService
from loantrace.services.notary import Notary
from loantrace.services.oidc import OidcVerifier
from loantrace.services.verify import Verifier
from loantrace.services.webhooks import WebhookService
from loantrace.settings import Settings
from loantrace.store.access import SqlAccessUnitOfWork
from loantrace.store.auditlog import SqlAuditLogUnitOfWork
from loantrace.store.db import (
    bind_chain,
    check_binding,
    init_schema,
    make_engine,
    read_binding,
    save_cursor,
)
from loantrace.store.ledger import SqlLedgerUnitOfWork
from loantrace.store.outbox import SqlOutbox
from loantrace.store.webhooks import SqlWebhookUnitOfWork

log = logging.getLogger(__name__)

REMINDER_CURSOR = "reminders"


@dataclass
class Runtime:
    """Everything a running service needs, built once at start-up."""

    settings: Settings
    node: Node
    engine: Engine
    account: LocalAccount
    registry: RegistryClient
    ledger: LedgerClient
    fundflow: FundFlowClient
    indexer: Indexer
    flows: FlowService
    notary: Notary
    verifier: Verifier
    loans: LoanService
    webhooks: WebhookService
    keeper: Keeper
    access: AccessService
    audit_log: AuditLog

    @classmethod
    def start(cls, settings: Settings, *, node: Node | None = None) -> Runtime:
        """Connect, bind the database to the chain, and deploy the contracts if allowed."""
        node = node or connect(settings.rpc_url, timeout=settings.rpc_timeout_seconds)
        account: LocalAccount = Account.from_key(settings.notary_key_hex())
        engine = make_engine(settings.effective_database_url())
        init_schema(engine)
        registry_address, ledger_address = settings.registry_address, settings.ledger_address
        fundflow_address = settings.fundflow_address
        binding = read_binding(engine)
        if binding is not None:
            check_binding(
                binding,
                chain_id=node.chain_id,
                genesis_hash=node.genesis_hash,
                registry=registry_address,
                ledger=ledger_address,
            )
            registry_address = binding.registry_address
            ledger_address = ledger_address or binding.ledger_address
            fundflow_address = fundflow_address or binding.fundflow_address
        if settings.mode == "dev":
            node.fund_for_dev(account)
        transactor = Transactor(
            node.w3,
            account,
            revert_decoder(),
            outbox=SqlOutbox(engine),
            poll_latency=settings.receipt_poll_seconds,
            receipt_timeout=settings.receipt_timeout_seconds,
        )
        resent = transactor.resend_pending()  # a restart resends what the node lacks
        if resent:
            log.warning("resent %s recorded transactions the node did not have", resent)
        registry = _registry(settings, node, transactor, registry_address)
        policy = ReminderPolicy(
            settings.due_soon_days, settings.grace_days, settings.default_after_days
        )
        ledger, deployed_at = _ledger(settings, node, transactor, registry, ledger_address, policy)
        fundflow = _fundflow(settings, node, transactor, registry, ledger, fundflow_address)
        bind_chain(
            engine,
            chain_id=node.chain_id,
            genesis_hash=node.genesis_hash,
            registry_address=registry.address,
            ledger_address=ledger.address,
            fundflow_address=fundflow.address,
        )
        if deployed_at is not None:
            save_cursor(engine, name=REMINDER_CURSOR, block_number=deployed_at - 1)
            save_cursor(engine, name=INDEX_CURSOR, block_number=deployed_at - 1)
        indexer = Indexer(
            w3=node.w3,
            engine=engine,
            contracts=[registry.contract, ledger.contract, fundflow.contract],
            chain_id=node.chain_id,
            start_block=deployed_at if deployed_at is not None else settings.ledger_start_block,
            confirmations=settings.index_confirmations,
            max_range=settings.index_max_range,
        )
        webhooks = WebhookService(
            uow=SqlWebhookUnitOfWork.factory(engine),
            fernet_key=settings.data_key_bytes(),
            max_attempts=settings.webhook_max_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            backoff_max_seconds=settings.webhook_backoff_max_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
            allow=AllowList.parse(settings.webhook_allow_hosts.split(",")),
            rotation_seconds=settings.webhook_rotation_hours * 3600,
        )
        keeper = Keeper(
            ledger=ledger,
            engine=engine,
            webhooks=webhooks,
            indexer=indexer,
            chain_id=node.chain_id,
            start_block=settings.ledger_start_block,
            cursor_name=REMINDER_CURSOR,
            replace_stuck_after=settings.replace_stuck_after_seconds,
        )
        return cls(
            settings=settings,
            node=node,
            engine=engine,
            account=account,
            registry=registry,
            ledger=ledger,
            fundflow=fundflow,
            indexer=indexer,
            flows=FlowService(
                engine=engine,
                indexer=indexer,
                fundflow=fundflow,
                ledger=ledger,
                index_on_read=node.embedded or not settings.index_in_serve,
                policy=policy,
            ),
            notary=Notary(
                registry=registry,
                uow=SqlLedgerUnitOfWork.factory(engine),
                account=account,
                max_batch=settings.max_batch_size,
            ),
            verifier=Verifier(registry=registry, uow=SqlLedgerUnitOfWork.factory(engine)),
            loans=LoanService(
                ledger=ledger,
                uow=SqlLedgerUnitOfWork.factory(engine),
                policy=policy,
                lender=account.address,
                indexer=indexer,
                index_on_read=node.embedded or not settings.index_in_serve,
            ),
            webhooks=webhooks,
            keeper=keeper,
            audit_log=AuditLog(uow=SqlAuditLogUnitOfWork.factory(engine)),
            access=AccessService(
                uow=SqlAccessUnitOfWork.factory(engine),
                oidc=_oidc(settings),
                admin_token=(settings.admin_key.get_secret_value() if settings.admin_key else None),
            ),
        )

    def readiness(self) -> dict[str, str]:
        """Check the chain and the database; raise Unavailable when either is unreachable."""
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


def _oidc(settings: Settings) -> OidcVerifier | None:
    if settings.oidc_issuer is None:
        return None
    jwks = settings.oidc_jwks_url or settings.oidc_issuer.rstrip("/") + "/.well-known/jwks.json"
    return OidcVerifier(
        issuer=settings.oidc_issuer,
        audience=settings.oidc_audience,
        jwks_url=jwks,
        role_claim=settings.oidc_role_claim,
        lender_claim=settings.oidc_lender_claim,
    )


def _registry(
    settings: Settings, node: Node, transactor: Transactor, address: str | None
) -> RegistryClient:
    if address is None:
        if settings.mode != "dev":
            raise ConfigurationError("LOANTRACE_REGISTRY_ADDRESS is required outside dev")
        address = deploy_registry(transactor, node.w3, admin=transactor.address)
        log.info("deployed AgreementRegistry at %s", address)
    registry = RegistryClient(node.w3, address, transactor)
    if not registry.has_role(NOTARY_ROLE, transactor.address):
        if settings.mode != "dev":
            raise ConfigurationError(f"{transactor.address} lacks NOTARY_ROLE on {address}")
        registry.grant_notary(transactor.address)
    return registry


def _fundflow(
    settings: Settings,
    node: Node,
    transactor: Transactor,
    registry: RegistryClient,
    ledger: LedgerClient,
    address: str | None,
) -> FundFlowClient:
    if address is None:
        if settings.mode != "dev":
            raise ConfigurationError("LOANTRACE_FUNDFLOW_ADDRESS is required outside dev")
        address = deploy_fundflow(
            transactor,
            node.w3,
            admin=transactor.address,
            ledger=ledger.address,
            registry=registry.address,
        )
        log.info("deployed FundFlow at %s", address)
    return FundFlowClient(node.w3, address, transactor)


def _ledger(
    settings: Settings,
    node: Node,
    transactor: Transactor,
    registry: RegistryClient,
    address: str | None,
    policy: ReminderPolicy,
) -> tuple[LedgerClient, int | None]:
    """Return the ledger client, and the deployment block when it was deployed just now."""
    if address is not None:
        return LedgerClient(node.w3, address, transactor), None
    if settings.mode != "dev":
        raise ConfigurationError("LOANTRACE_LEDGER_ADDRESS is required outside dev")
    address = deploy_ledger(
        transactor,
        node.w3,
        admin=transactor.address,
        registry=registry.address,
        lpr_bps=settings.lpr_bps,
        policy=(policy.due_soon_days, policy.grace_days, policy.default_after_days),
    )
    log.info("deployed LoanLedger at %s", address)
    registry.set_loan_ledger(address)
    return LedgerClient(node.w3, address, transactor), node.head()
