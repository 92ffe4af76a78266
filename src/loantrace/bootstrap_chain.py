"""Wiring, part two: the signing accounts, the contracts (deployed in dev), their roles.

Who signs what:
- each lender's NOTARY account (a local key, an encrypted keystore, or a remote signer);
- the regulator's account, which records the LPR and labels accounts;
- the contracts' admin, which deploys them and grants roles. It is never a NOTARY and the
  running service does not hold it outside dev mode: production grants roles with
  `loantrace roles grant`, signed with the admin's own keystore or signer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from eth_utils.address import to_checksum_address

from loantrace.chain.crypto import require_native
from loantrace.chain.fundflow import FundFlowClient, deploy_fundflow
from loantrace.chain.ledger import LedgerClient, deploy_ledger
from loantrace.chain.node import Node, connect
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.roles import Roles
from loantrace.chain.signers import LocalSigner, RemoteSigner, Signer, keystore_signers
from loantrace.chain.transactor import Transactor
from loantrace.domain.delinquency import ReminderPolicy
from loantrace.domain.errors import ConfigurationError
from loantrace.outbox import Outbox
from loantrace.services.oidc import OidcVerifier
from loantrace.settings import DEV_REGULATOR_KEY, Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HeldSigners:
    """The signing accounts this service holds: lenders first, then the regulator's."""

    lenders: tuple[Signer, ...]
    regulator: Signer | None


@dataclass(frozen=True)
class Deployment:
    """Where the contracts are, and the block the ledger was deployed in if just now."""

    registry: str
    ledger: str
    fundflow: str
    deployed_at: int | None


def held_signers(settings: Settings) -> HeldSigners:
    """Load every configured signer; split lenders from the regulator (after checking that
    signatures run on native secp256k1: prod refuses the pure-Python fallback)."""
    require_native(settings.mode)
    found: list[Signer] = []
    key = settings.notary_key_hex()
    if key is not None:
        found.append(LocalSigner.from_key(key))
    if settings.keystore_dir is not None:
        found.extend(
            keystore_signers(Path(settings.keystore_dir), settings.keystore_password_value())
        )
    if settings.remote_signer_url:
        found.extend(
            RemoteSigner(settings.remote_signer_url, address.strip())
            for address in settings.remote_signer_addresses.split(",")
            if address.strip()
        )
    regulator_address = settings.regulator_address
    if regulator_address is None and settings.mode == "dev":
        dev_regulator = LocalSigner.from_key(DEV_REGULATOR_KEY)
        found.append(dev_regulator)
        regulator_address = dev_regulator.address
    regulator = None
    if regulator_address is not None:
        wanted = to_checksum_address(regulator_address)
        regulator = next((s for s in found if s.address == wanted), None)
        if regulator is None:
            raise ConfigurationError(f"no signing account is held for regulator {wanted}")
    lenders = tuple(s for s in found if s is not regulator)
    if len({s.address for s in found}) != len(found):
        raise ConfigurationError("the same signing account is configured twice")
    if not lenders:
        raise ConfigurationError("no lender signing account is configured")
    return HeldSigners(lenders, regulator)


def deployer(settings: Settings, node: Node, outbox: Outbox, poll: float) -> Transactor | None:
    """Return the dev deployer's transactor (None outside dev: there, `loantrace deploy`
    deploys, and the running service never holds the admin's key)."""
    key = settings.deployer_key_hex()
    if key is None or settings.mode != "dev":
        return None
    signer = LocalSigner.from_key(key)
    node.fund_for_dev(signer.account)
    return Transactor(node.w3, signer, revert_decoder(), outbox=outbox, poll_latency=poll)


def deployer_transactor(
    node: Node, signer: Signer, *, poll: float = 0.05, receipt_timeout: float = 600.0
) -> Transactor:
    """Return the transactor `loantrace deploy` sends with (its outbox lives in memory)."""
    return Transactor(
        node.w3, signer, revert_decoder(), poll_latency=poll, receipt_timeout=receipt_timeout
    )


def addresses_of(
    settings: Settings,
) -> tuple[Settings, tuple[str | None, str | None, str | None]]:
    """Return the settings and the contracts' addresses, filled from the address book
    (LOANTRACE_ADDRESS_BOOK) when the three address settings are unset."""
    addresses = (settings.registry_address, settings.ledger_address, settings.fundflow_address)
    if settings.address_book is None or any(addresses):
        return settings, addresses
    from loantrace.chain.addressbook import load

    book = load(settings.address_book)
    registry, ledger, fundflow = book.addresses()
    update: dict[str, object] = {
        "registry_address": registry,
        "ledger_address": ledger,
        "fundflow_address": fundflow,
    }
    if settings.ledger_start_block == 0:
        update["ledger_start_block"] = book.contracts["LoanLedger"].block_number
    log.info("contracts from address book %s (chain %s)", settings.address_book, book.chain_id)
    return settings.model_copy(update=update), (registry, ledger, fundflow)


def deploy_missing(
    settings: Settings,
    node: Node,
    admin: Transactor | None,
    addresses: tuple[str | None, str | None, str | None],
    policy: ReminderPolicy,
) -> Deployment:
    """Return the contracts' addresses, deploying (dev only) the ones not given."""
    registry, ledger, fundflow = addresses
    if None not in addresses:
        return Deployment(str(registry), str(ledger), str(fundflow), None)
    if settings.mode != "dev" or admin is None:
        raise ConfigurationError(
            "LOANTRACE_REGISTRY_ADDRESS, LOANTRACE_LEDGER_ADDRESS and "
            "LOANTRACE_FUNDFLOW_ADDRESS (or LOANTRACE_ADDRESS_BOOK) are required outside dev"
        )
    from loantrace.chain.registry import deploy_registry

    deployed_at = None
    if registry is None:
        registry = deploy_registry(admin, node.w3, admin=admin.address)
        log.info("deployed AgreementRegistry at %s", registry)
    if ledger is None:
        ledger = deploy_ledger(
            admin,
            node.w3,
            admin=admin.address,
            registry=registry,
            lpr_bps=settings.lpr_bps,
            policy=(policy.due_soon_days, policy.grace_days, policy.default_after_days),
        )
        log.info("deployed LoanLedger at %s", ledger)
        RegistryClient(node.w3, registry, admin).set_loan_ledger(ledger)
        deployed_at = node.head()
    if fundflow is None:
        fundflow = deploy_fundflow(
            admin, node.w3, admin=admin.address, ledger=ledger, registry=registry
        )
        log.info("deployed FundFlow at %s", fundflow)
    return Deployment(registry, ledger, fundflow, deployed_at)


def provision_roles(roles: Roles, held: HeldSigners, *, grant: bool) -> None:
    """Make sure each lender is a NOTARY and the regulator a REGULATOR.

    In dev the deployer grants what is missing; elsewhere a missing role stops the start
    with the command that fixes it.
    """
    wanted = [("notary", s.address) for s in held.lenders]
    if held.regulator is not None:
        wanted.append(("regulator", held.regulator.address))
    for lender in held.lenders:
        if roles.holds_any("admin", lender.address):
            raise ConfigurationError(
                f"{lender.address} administers the contracts: a NOTARY must be another account"
            )
    for role, address in wanted:
        if roles.has(role, address):
            continue
        if not grant:
            raise ConfigurationError(
                f"{address} lacks the {role} role on chain: run "
                f"`loantrace roles grant {role} {address}` with the contracts' admin key"
            )
        roles.grant(role, address)
        log.info("granted %s to %s", role, address)


def migrate_database(settings: Settings) -> str:
    """Bring the database's schema to the newest migration; return the revision it is at.
    Needs neither the node nor any key (run it once before rolling out new replicas)."""
    from sqlalchemy import text

    from loantrace.store.db import init_schema, make_engine

    if settings.database_url is None:
        raise ConfigurationError("set LOANTRACE_DATABASE_URL to the database to migrate")
    engine = make_engine(settings.database_url)
    try:
        init_schema(engine)
        with engine.connect() as conn:
            return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())
    finally:
        engine.dispose()


def oidc_of(settings: Settings) -> OidcVerifier | None:
    """Return the verifier of the configured identity provider's JWTs, if one is set."""
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


def roles_of(node: Node, deployment: Deployment, admin: Transactor, from_block: int) -> Roles:
    """Return the role manager of the deployed contracts, sending as `admin`."""
    contracts = {
        "registry": RegistryClient(node.w3, deployment.registry, admin).contract,
        "ledger": LedgerClient(node.w3, deployment.ledger, admin).contract,
        "fundflow": FundFlowClient(node.w3, deployment.fundflow, admin).contract,
    }
    return Roles(contracts, admin, from_block)


def admin_roles(settings: Settings, signer: Signer) -> Roles:
    """Return the role manager of the deployed contracts, sending as `signer` (their admin)."""
    node = connect(settings.rpc_url, timeout=settings.rpc_timeout_seconds)
    if node.embedded:
        raise ConfigurationError("roles live on a real chain: set LOANTRACE_RPC_URL")
    settings, addresses = addresses_of(settings)
    if None in addresses:
        raise ConfigurationError(
            "set LOANTRACE_REGISTRY_ADDRESS, LOANTRACE_LEDGER_ADDRESS, LOANTRACE_FUNDFLOW_ADDRESS"
        )
    registry, ledger, fundflow = (str(a) for a in addresses)
    deployment = Deployment(registry, ledger, fundflow, deployed_at=None)
    admin = Transactor(
        node.w3, signer, revert_decoder(), poll_latency=settings.receipt_poll_seconds
    )
    return roles_of(node, deployment, admin, settings.ledger_start_block)
