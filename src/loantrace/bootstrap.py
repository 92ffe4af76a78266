"""The one place that wires settings to a node, a signer, the contracts, the database, the
use cases and the workers (indexer, keeper). Nothing else constructs adapters or services."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loantrace.bootstrap_chain import (
    addresses_of,
    deploy_missing,
    deployer,
    held_signers,
    oidc_of,
    provision_roles,
    roles_of,
)
from loantrace.bootstrap_chain import admin_roles as admin_roles  # its home before 0.3
from loantrace.bootstrap_pdf import CertificatePdf
from loantrace.chain.fundflow import FundFlowClient
from loantrace.chain.guard import ChainGuard
from loantrace.chain.ledger import LedgerClient
from loantrace.chain.node import Node, connect
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.signers import LocalSigner, Signer
from loantrace.chain.transactor import Transactor
from loantrace.domain.delinquency import ReminderPolicy
from loantrace.domain.egress import AllowList
from loantrace.domain.envelope import Keyring
from loantrace.domain.errors import (
    ChainError,
    ChainMismatch,
    ConfigurationError,
    Unauthorized,
    Unavailable,
)
from loantrace.domain.manifest import Manifest
from loantrace.manifests import ManifestSource, publish_to_folder
from loantrace.services.access import AccessService
from loantrace.services.auditlog import AuditLog
from loantrace.services.batcher import Batcher
from loantrace.services.borrower import BorrowerPortal
from loantrace.services.certificates import CertificateIssuer
from loantrace.services.flows import FlowService
from loantrace.services.indexer import CURSOR as INDEX_CURSOR
from loantrace.services.indexer import Indexer
from loantrace.services.intake import Intake
from loantrace.services.keeper import Keeper
from loantrace.services.loans import LoanService
from loantrace.services.notary import Notary
from loantrace.services.personal import PersonalDataService
from loantrace.services.signin import SignIn
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
from loantrace.store.locks import NamedLocks
from loantrace.store.outbox import SqlOutbox
from loantrace.store.personal import SqlPersonalUnitOfWork
from loantrace.store.webhooks import SqlWebhookUnitOfWork
from loantrace.telemetry import Telemetry

log = logging.getLogger(__name__)

REMINDER_CURSOR = "reminders"


@dataclass(frozen=True)
class Desk:
    """The use cases acting as one signing account (a lender's, or the regulator's)."""

    signer: Signer
    registry: RegistryClient
    notary: Notary
    loans: LoanService
    flows: FlowService
    intake: Intake  # agreements queued for the next Merkle batch (202)
    batcher: Batcher  # closes and anchors those batches


@dataclass
class Runtime:
    """Everything a running service needs, built once at start-up."""

    settings: Settings
    node: Node
    engine: Engine
    signer: Signer
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
    personal: PersonalDataService
    signin: SignIn
    borrowers: BorrowerPortal
    certificates: CertificateIssuer
    desks: dict[str, Desk]
    regulator: Desk | None
    guard: ChainGuard
    telemetry: Telemetry

    @classmethod
    def start(cls, settings: Settings, *, node: Node | None = None) -> Runtime:
        """Connect, bind the database to the chain, deploy the contracts if allowed (dev),
        check every held signing account's role, and build one desk per account."""
        node = node or connect(settings.rpc_url, timeout=settings.rpc_timeout_seconds)
        held = held_signers(settings)
        engine = make_engine(settings.effective_database_url())
        init_schema(engine)
        settings, addresses = addresses_of(settings)  # or from LOANTRACE_ADDRESS_BOOK
        binding = read_binding(engine)
        if binding is not None:
            check_binding(
                binding,
                chain_id=node.chain_id,
                genesis_hash=node.genesis_hash,
                registry=addresses[0],
                ledger=addresses[1],
            )
            addresses = (
                binding.registry_address,
                addresses[1] or binding.ledger_address,
                addresses[2] or binding.fundflow_address,
            )
        outbox = SqlOutbox(engine)
        poll = settings.receipt_poll_seconds

        def transactor(signer: Signer) -> Transactor:
            return Transactor(
                node.w3,
                signer,
                revert_decoder(),
                outbox=outbox,
                poll_latency=poll,
                receipt_timeout=settings.receipt_timeout_seconds,
            )

        signers = [*held.lenders, *([held.regulator] if held.regulator else [])]
        transactors = {s.address: transactor(s) for s in signers}
        for signer in signers:
            if settings.mode == "dev" and isinstance(signer, LocalSigner):
                node.fund_for_dev(signer.account)
            resent = transactors[signer.address].resend_pending()  # what the node lacks
            if resent:
                log.warning("resent %s recorded transactions of %s", resent, signer.address)
        admin = deployer(settings, node, outbox, poll)
        policy = ReminderPolicy(
            settings.due_soon_days, settings.grace_days, settings.default_after_days
        )
        deployment = deploy_missing(settings, node, admin, addresses, policy)
        if admin is not None:
            admin.resend_pending()
        roles_admin = admin or transactors[held.lenders[0].address]  # reads only, outside dev
        provision_roles(
            roles_of(node, deployment, roles_admin, settings.ledger_start_block),
            held,
            grant=admin is not None,
        )
        bind_chain(
            engine,
            chain_id=node.chain_id,
            genesis_hash=node.genesis_hash,
            registry_address=deployment.registry,
            ledger_address=deployment.ledger,
            fundflow_address=deployment.fundflow,
        )
        guard = ChainGuard(
            node.w3,
            node.genesis_hash,
            {
                "AgreementRegistry": deployment.registry,
                "LoanLedger": deployment.ledger,
                "FundFlow": deployment.fundflow,
            },
        )
        for sender in transactors.values():
            sender.guard = guard.check
        deployed_at = deployment.deployed_at
        if deployed_at is not None:
            save_cursor(engine, name=REMINDER_CURSOR, block_number=deployed_at - 1)
            save_cursor(engine, name=INDEX_CURSOR, block_number=deployed_at - 1)
        primary = transactors[held.lenders[0].address]
        registry = RegistryClient(node.w3, deployment.registry, primary)
        ledger = LedgerClient(node.w3, deployment.ledger, primary)
        fundflow = FundFlowClient(node.w3, deployment.fundflow, primary)
        telemetry = Telemetry()
        indexer = Indexer(
            w3=node.w3,
            engine=engine,
            contracts=[registry.contract, ledger.contract, fundflow.contract],
            chain_id=node.chain_id,
            start_block=deployed_at if deployed_at is not None else settings.ledger_start_block,
            confirmations=settings.index_confirmations,
            max_range=settings.index_max_range,
            on_reorg=telemetry.reorg_repaired,
        )
        telemetry.watch(engine=engine, node=node, indexer=indexer, outbox=outbox)
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
        index_on_read = node.embedded or not settings.index_in_serve
        mirrors = [m.strip() for m in settings.manifest_mirrors.split(",") if m.strip()]

        folder = settings.manifest_dir

        def publisher(manifest: Manifest) -> None:
            if folder is not None:
                publish_to_folder(folder, manifest)

        locks = NamedLocks(engine)  # one batcher per lender at a time, across processes

        def desk(signer: Signer) -> Desk:
            tx = transactors[signer.address]
            d_registry = RegistryClient(node.w3, deployment.registry, tx)
            d_ledger = LedgerClient(node.w3, deployment.ledger, tx)
            d_fundflow = FundFlowClient(node.w3, deployment.fundflow, tx)
            notary = Notary(
                registry=d_registry,
                uow=SqlLedgerUnitOfWork.factory(engine),
                signer=signer,
                max_batch=settings.max_batch_size,
                on_batch=telemetry.batch_anchored,
                on_manifest=publisher,
            )
            batcher = Batcher(
                notary=notary,
                uow=SqlLedgerUnitOfWork.factory(engine),
                lock=locks.held,
                max_size=min(settings.queue_batch_size, settings.max_batch_size),
                window_seconds=settings.queue_window_ms / 1000,
            )
            return Desk(
                signer=signer,
                registry=d_registry,
                notary=notary,
                intake=Intake(
                    notary=notary, uow=SqlLedgerUnitOfWork.factory(engine), on_queued=batcher.notify
                ),
                batcher=batcher,
                loans=LoanService(
                    ledger=d_ledger,
                    uow=SqlLedgerUnitOfWork.factory(engine),
                    policy=policy,
                    lender=signer.address,
                    indexer=indexer,
                    index_on_read=index_on_read,
                ),
                flows=FlowService(
                    engine=engine,
                    indexer=indexer,
                    fundflow=d_fundflow,
                    ledger=d_ledger,
                    index_on_read=index_on_read,
                    policy=policy,
                ),
            )

        desks = {s.address.lower(): desk(s) for s in held.lenders}
        main = desks[held.lenders[0].address.lower()]
        borrowers = BorrowerPortal(
            uow=SqlLedgerUnitOfWork.factory(engine),
            notary=main.notary,
            loans=main.loans,
            webhooks=webhooks,
        )
        return cls(
            settings=settings,
            node=node,
            engine=engine,
            signer=held.lenders[0],
            registry=registry,
            ledger=ledger,
            fundflow=fundflow,
            indexer=indexer,
            flows=main.flows,
            notary=main.notary,
            verifier=Verifier(
                registry=registry,
                uow=SqlLedgerUnitOfWork.factory(engine),
                manifests=ManifestSource(mirrors).fetch if mirrors else None,
                from_block=settings.ledger_start_block,
            ),
            loans=main.loans,
            webhooks=webhooks,
            keeper=keeper,
            audit_log=AuditLog(uow=SqlAuditLogUnitOfWork.factory(engine)),
            access=AccessService(
                uow=SqlAccessUnitOfWork.factory(engine),
                oidc=oidc_of(settings),
                admin_token=(settings.admin_key.get_secret_value() if settings.admin_key else None),
            ),
            personal=PersonalDataService(
                uow=SqlPersonalUnitOfWork.factory(engine),
                keyring=Keyring.parse(settings.master_keys_spec()),
            ),
            signin=SignIn(
                uow=SqlAccessUnitOfWork.factory(engine),
                public_url=settings.public_url,
                chain_id=node.chain_id,
                is_borrower=borrowers.is_borrower,
                session_seconds=settings.signin_session_seconds,
            ),
            borrowers=borrowers,
            certificates=CertificateIssuer(
                registry=registry,
                uow=SqlLedgerUnitOfWork.factory(engine),
                genesis_hash=node.genesis_hash,
                base_url=settings.public_url,
                render_pdf=CertificatePdf(settings),
            ),
            desks=desks,
            guard=guard,
            telemetry=telemetry,
            regulator=desk(held.regulator) if held.regulator is not None else None,
        )

    @property
    def intake(self) -> Intake:
        """Return the first lender's batch intake (reads any lender's queued agreements)."""
        return self.desks[self.signer.address.lower()].intake

    @property
    def batchers(self) -> list[Batcher]:
        """Return one batcher per lender whose key this service holds."""
        return [desk.batcher for desk in self.desks.values()]

    @property
    def account(self) -> LocalAccount:
        """Return the first lender's local account (dev and tests; a remote one has none)."""
        if not isinstance(self.signer, LocalSigner):
            raise ConfigurationError("the first lender signs remotely: no local account")
        return self.signer.account

    def desk_for(self, lender: str | None) -> Desk:
        """Return the desk signing as `lender`; refuse a lender whose key is not held."""
        found = self.desks.get((lender or "").lower())
        if found is None:
            raise Unauthorized(f"this service holds no signing account for lender {lender}")
        return found

    def readiness(self) -> dict[str, str]:
        """Check the chain, the database and (run in `serve`) the indexer's lag; raise
        Unavailable when one is unreachable or the indexer lags too far."""
        checks: dict[str, str] = {}
        try:
            self.guard.check(force=True)
            head = self.node.head()
            checks["chain"] = f"ok (block {head})"
        except ChainMismatch:
            raise
        except Exception as exc:
            raise ChainError(f"chain unreachable: {type(exc).__name__}") from exc
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            raise Unavailable(f"database unreachable: {type(exc).__name__}") from exc
        most = self.settings.ready_max_index_lag_blocks
        if most and self.settings.index_in_serve and not self.node.embedded:
            lag = head - self.settings.index_confirmations - self.indexer.indexed_to()
            if lag > most:
                raise Unavailable(f"the indexer lags {lag} blocks behind the chain (limit {most})")
            checks["index"] = f"ok ({max(lag, 0)} blocks behind)"
        return checks

    def close(self) -> None:
        """Release the database pool and the verifier's kept-alive node connections."""
        self.engine.dispose()
        self.verifier.chain.rpc.close()
