"""The one settings object (environment variables prefixed `LOANTRACE_`), failing closed."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loantrace import devkeys
from loantrace.domain.errors import ConfigurationError

# Published development keys (they are in this repository). Accepted in dev mode only:
# a lender's NOTARY key, the account that deploys the contracts and administers their roles
# (never a NOTARY), and the regulator's (anvil's accounts 9 and 8).
DEV_NOTARY_KEY = "0xac0974bec39a17e36ba4a4b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
DEV_DEPLOYER_KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6"
DEV_REGULATOR_KEY = "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97"


class Settings(BaseSettings):
    """Runtime configuration; see the README's settings table."""

    model_config = SettingsConfigDict(env_prefix="LOANTRACE_", env_file=".env", extra="ignore")

    mode: Literal["dev", "prod"] = Field(
        "dev", description="dev allows the embedded chain, dev keys and auto-deploy; prod refuses"
    )
    rpc_url: str | None = Field(
        None, description="JSON-RPC URL; unset = `serve` runs a local chain in the data directory"
    )
    data_dir: Path = Field(
        Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "loantrace",
        description="where `serve` keeps its local chain and database when no node is set",
    )
    local_chain: Literal["persistent", "memory"] = Field(
        "persistent",
        description="without LOANTRACE_RPC_URL, `serve` runs a local chain kept in the data "
        "directory (persistent) or an in-process one that dies with it (memory: demos, tests)",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; unset = in-memory (embedded) or ./loantrace.db"
    )
    notary_key: SecretStr | None = Field(
        None, description="hex private key of a lender's NOTARY account (prefer a keystore)"
    )
    keystore_dir: Path | None = Field(
        None,
        description="directory of encrypted keystore files (*.json), one per lender or "
        "regulator signing account",
    )
    keystore_password: SecretStr | None = Field(None, description="the keystores' password")
    keystore_password_file: Path | None = Field(
        None, description="a file holding the keystores' password (e.g. a container secret)"
    )
    remote_signer_url: str | None = Field(
        None, description="a signer speaking eth_signTransaction (Clef, Web3Signer)"
    )
    remote_signer_addresses: str = Field(
        "", description="comma-separated accounts the remote signer signs for"
    )
    regulator_address: str | None = Field(
        None,
        description="which held signing account is the regulator's (labels, LPR); "
        "dev: a development key",
    )
    deployer_key: SecretStr | None = Field(
        None, description="dev only: the account deploying the contracts and granting roles"
    )
    registry_address: str | None = Field(
        None, description="deployed AgreementRegistry; unset = deploy one (dev only)"
    )
    ledger_address: str | None = Field(
        None, description="deployed LoanLedger; unset = deploy one (dev only)"
    )
    ledger_start_block: int = Field(0, ge=0, description="block the ledger was deployed in")
    fundflow_address: str | None = Field(
        None, description="deployed FundFlow; unset = deploy one (dev only)"
    )
    address_book: Path | None = Field(
        None,
        description="an address book written by `loantrace deploy` (deployments/<chain id>.json):"
        " the contracts' addresses and the ledger's deploy block when those settings are unset",
    )
    index_confirmations: int = Field(0, ge=0, le=1000, description="indexer confirmation depth")
    index_max_range: int = Field(2_000, ge=1, le=100_000, description="blocks per eth_getLogs")
    index_in_serve: bool = Field(
        False, description="run the indexer inside `serve` (always on with the embedded chain)"
    )
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1, description="largest upload")
    max_batch_size: int = Field(4096, ge=1, le=65536, description="most agreements in one batch")
    default_anchoring: Literal["single", "batch"] = Field(
        "single",
        description="how POST /v1/agreements anchors when the request does not say (form field "
        "`anchoring`, or `Prefer: respond-async` for batch): single = its own transaction, "
        "201 with the receipt; batch = queued for the next Merkle batch, 202 with a status URL",
    )
    queue_batch_size: int = Field(
        256,
        ge=1,
        le=65536,
        description="a batch of queued agreements closes when it holds this many (at most "
        "LOANTRACE_MAX_BATCH_SIZE)",
    )
    queue_window_ms: int = Field(
        500,
        ge=1,
        le=600_000,
        description="a batch of queued agreements also closes when its oldest has waited this "
        "long (ms); acceptance to anchoring then takes about this plus one block",
    )
    batcher_in_serve: bool = Field(
        True,
        description="`serve` anchors queued agreements itself (safe with several processes: "
        "one closes a lender's batches at a time); off: run `loantrace batcher` apart",
    )
    receipt_poll_seconds: float = Field(0.01, gt=0, le=5, description="receipt poll interval")
    receipt_timeout_seconds: float = Field(
        120.0, gt=0, description="wait for a receipt at most; then 202 with a status URL"
    )
    replace_stuck_after_seconds: float = Field(
        300.0, gt=0, description="replace a transaction pending this long, fees +12.5%"
    )
    rpc_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="timeout of every JSON-RPC request"
    )
    chain_concurrency: int = Field(
        24,
        ge=1,
        le=1000,
        description="API requests that may wait on the node at once; the rest get 503",
    )
    chain_queue_seconds: float = Field(
        2.0, ge=0, le=60, description="how long a request waits for one of those slots"
    )
    log_level: str = Field("INFO", description="logging level")
    log_format: Literal["text", "json"] = Field(
        "text", description="text for a terminal; json (one object a line) for production"
    )
    ready_max_index_lag_blocks: int = Field(
        50,
        ge=0,
        description="with the indexer running in `serve` (LOANTRACE_INDEX_IN_SERVE), /readyz "
        "fails when it trails the head by more blocks than this beyond the confirmation "
        "depth; 0 disables",
    )
    public_url: str = Field(
        "http://127.0.0.1:8000",
        pattern=r"^https?://[^/\s]+(/\S*)?$",
        description="where users reach this service; borrowers' sign-in messages name it",
    )
    pdf_signing_key_file: Path | None = Field(
        None, description="PEM private key that signs certificate PDFs (PAdES); dev: self-signed"
    )
    pdf_signing_cert_file: Path | None = Field(
        None, description="PEM X.509 certificate (chain) of that key, from a CA readers trust"
    )
    pdf_signing_key_password: SecretStr | None = Field(
        None, description="password of LOANTRACE_PDF_SIGNING_KEY_FILE, if it is encrypted"
    )
    read_only: bool = Field(
        False,
        description="`index`, `trace` and `audit` run read-only for an auditor: no key, no "
        "deployment, no transaction; the index goes into LOANTRACE_DATABASE_URL (your own)",
    )
    manifest_dir: Path | None = Field(
        None,
        description="also publish every batch manifest as <sha256>.json in this folder (sync it "
        "to any static host); manifests are always served at /v1/manifests/{sha256}",
    )
    manifest_mirrors: str = Field(
        "",
        description="comma-separated folders or URL templates with {sha256} where the verifier "
        "looks for other notaries' batch manifests, to find batched documents without receipts",
    )
    signin_session_seconds: int = Field(
        3600, ge=60, le=86_400, description="how long a borrower's sign-in lasts"
    )
    oidc_issuer: str | None = Field(
        None, description="an identity provider whose JWTs are accepted as bearer tokens"
    )
    oidc_audience: str = Field("loantrace", description="the audience those JWTs must name")
    oidc_jwks_url: str | None = Field(
        None, description="its published keys; default <issuer>/.well-known/jwks.json"
    )
    oidc_role_claim: str = Field("loantrace_role", description="the claim naming the role")
    oidc_lender_claim: str = Field(
        "loantrace_lender", description="the claim naming a lender's address"
    )
    anonymous_rate_limit: str = Field(
        "600/minute",
        description="verifications and typed-data requests per client address, per API process",
    )
    rate_limit: str = Field(
        "1200/minute", description="requests per API key in a moving window, per API process"
    )
    admin_key: SecretStr | None = Field(
        None, description="a first admin bearer token (at least 32 characters); admins make keys"
    )
    admin_key_file: Path | None = Field(
        None, description="a file holding LOANTRACE_ADMIN_KEY (e.g. a container secret)"
    )
    data_key_file: Path | None = Field(
        None, description="a file holding LOANTRACE_DATA_KEY (e.g. a container secret)"
    )
    master_keys_file: Path | None = Field(
        None, description="a file holding LOANTRACE_MASTER_KEYS (e.g. a container secret)"
    )
    data_key: SecretStr | None = Field(
        None,
        description="Fernet key encrypting secrets at rest; dev makes a random one per database",
    )
    master_keys: SecretStr | None = Field(
        None,
        description="master keys wrapping each borrower's data key: `id:base64,...`, the "
        "first active (rotate by prepending); dev makes a random one per database",
    )
    lpr_bps: int = Field(
        300,
        ge=1,
        le=25_000,
        description="one-year LPR at ledger deployment (3.00%); the APR cap is 4 x LPR",
    )
    due_soon_days: int = Field(3, ge=0, le=60, description="remind this many days before due")
    grace_days: int = Field(3, ge=0, le=60, description="days after due before overdue")
    default_after_days: int = Field(90, ge=1, le=3650, description="days past due to default")
    keeper_interval_seconds: float = Field(30.0, gt=0, description="keeper loop interval")
    keeper_in_serve: bool = Field(
        False, description="run the keeper inside `serve` (always on with the embedded chain)"
    )
    webhook_max_attempts: int = Field(8, ge=1, le=50, description="attempts before dead")
    webhook_backoff_seconds: float = Field(2.0, gt=0, description="first retry delay")
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0, description="longest retry delay")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="per delivery HTTP timeout")
    webhook_allow_hosts: str = Field(
        "",
        description="comma-separated hosts or networks webhooks may reach although not public "
        "(e.g. 127.0.0.1/32 for a local receiver); everything else non-public is refused",
    )
    webhook_rotation_hours: float = Field(
        24.0, gt=0, le=24 * 30, description="how long a rotated-out webhook secret still signs"
    )

    @model_validator(mode="after")
    def _fail_closed(self) -> Settings:
        self._read_secret_files()
        if self.mode == "prod":
            missing = [
                name
                for name, value in (
                    ("LOANTRACE_RPC_URL", self.rpc_url),
                    ("LOANTRACE_DATABASE_URL", self.database_url),
                    ("LOANTRACE_REGISTRY_ADDRESS", self.registry_address or self.address_book),
                    ("LOANTRACE_LEDGER_ADDRESS", self.ledger_address or self.address_book),
                    ("LOANTRACE_FUNDFLOW_ADDRESS", self.fundflow_address or self.address_book),
                    ("LOANTRACE_DATA_KEY", self.data_key or self.read_only),
                    ("LOANTRACE_MASTER_KEYS", self.master_keys or self.read_only),
                )
                if not value
            ]
            if missing:
                raise ConfigurationError(f"prod mode requires {', '.join(missing)}")
            if not (
                self.read_only
                or self.notary_key
                or self.keystore_dir
                or self.remote_signer_addresses
            ):
                raise ConfigurationError(
                    "prod mode requires a signing account: LOANTRACE_KEYSTORE_DIR, "
                    "LOANTRACE_REMOTE_SIGNER_URL with LOANTRACE_REMOTE_SIGNER_ADDRESSES, or "
                    "LOANTRACE_NOTARY_KEY"
                )
            for name, key in (
                ("LOANTRACE_NOTARY_KEY", self.notary_key),
                ("LOANTRACE_DEPLOYER_KEY", self.deployer_key),
            ):
                if key and well_known_key(key.get_secret_value()):
                    raise ConfigurationError(
                        f"prod mode refuses a well-known development key for {name}"
                    )
            if self.data_key and self.data_key.get_secret_value().encode() == _DEV_DATA_KEY:
                raise ConfigurationError("prod mode refuses the development LOANTRACE_DATA_KEY")
        if self.remote_signer_addresses and not self.remote_signer_url:
            raise ConfigurationError(
                "LOANTRACE_REMOTE_SIGNER_ADDRESSES needs LOANTRACE_REMOTE_SIGNER_URL"
            )
        if self.admin_key is not None and len(self.admin_key.get_secret_value()) < 32:
            raise ConfigurationError("LOANTRACE_ADMIN_KEY must be at least 32 characters")
        if self.rpc_url is None and self.database_url and not _in_memory(self.database_url):
            raise ConfigurationError(
                "the embedded chain lives in memory and dies with the process; a persistent "
                "database would point at a chain that is gone. Unset LOANTRACE_DATABASE_URL or "
                "set LOANTRACE_RPC_URL to a real node"
            )
        return self

    def _read_secret_files(self) -> None:
        """Fill each secret from its `*_FILE` setting (a secret given both ways is refused)."""
        for name in ("admin_key", "data_key", "master_keys"):
            path: Path | None = getattr(self, f"{name}_file")
            if path is None:
                continue
            variable = f"LOANTRACE_{name.upper()}"
            if getattr(self, name) is not None:
                raise ConfigurationError(f"set {variable} or {variable}_FILE, not both")
            try:
                value = path.read_text().strip()
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read {variable}_FILE: {type(exc).__name__}"
                ) from None
            if not value:
                raise ConfigurationError(f"{variable}_FILE is empty")
            setattr(self, name, SecretStr(value))

    @property
    def embedded(self) -> bool:
        """Return whether the chain is the in-process eth-tester chain."""
        return self.rpc_url is None

    def effective_database_url(self) -> str:
        """Return the database URL in force (in-memory with the embedded chain)."""
        if self.embedded:
            return "sqlite://"
        return self.database_url or "sqlite:///./loantrace.db"

    def data_key_bytes(self) -> bytes:
        """Return the Fernet key for secrets at rest (random per database in dev mode)."""
        if self.data_key is not None:
            return self.data_key.get_secret_value().encode()
        if self.mode == "dev":
            return devkeys.fernet_key(devkeys.dev_secret(self.effective_database_url()))
        raise ConfigurationError("LOANTRACE_DATA_KEY is required outside dev mode")

    def master_keys_spec(self) -> str:
        """Return the personal-data keyring (random per database in dev mode)."""
        if self.master_keys is not None:
            return self.master_keys.get_secret_value()
        if self.mode == "dev":
            return devkeys.master_key_spec(devkeys.dev_secret(self.effective_database_url()))
        raise ConfigurationError("LOANTRACE_MASTER_KEYS is required outside dev mode")

    def notary_key_hex(self) -> str | None:
        """Return the NOTARY key; the dev key in dev mode when no signer is configured."""
        if self.notary_key is not None:
            return self.notary_key.get_secret_value()
        if self.mode == "dev" and not (self.keystore_dir or self.remote_signer_addresses):
            return DEV_NOTARY_KEY
        return None

    def keystore_password_value(self) -> str:
        """Return the keystores' password, from the environment or its file."""
        if self.keystore_password is not None:
            return self.keystore_password.get_secret_value()
        if self.keystore_password_file is not None:
            try:
                return self.keystore_password_file.read_text().rstrip("\n")
            except OSError as exc:
                raise ConfigurationError(
                    f"cannot read LOANTRACE_KEYSTORE_PASSWORD_FILE: {type(exc).__name__}"
                ) from None
        raise ConfigurationError(
            "LOANTRACE_KEYSTORE_DIR needs LOANTRACE_KEYSTORE_PASSWORD or "
            "LOANTRACE_KEYSTORE_PASSWORD_FILE"
        )

    def deployer_key_hex(self) -> str | None:
        """Return the dev deployer key (None outside dev: production deploys separately)."""
        if self.deployer_key is not None:
            return self.deployer_key.get_secret_value()
        return DEV_DEPLOYER_KEY if self.mode == "dev" else None


# The fixed dev key earlier versions used: published, so production refuses it.
_DEV_DATA_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"loantrace dev data key").digest())

# The keys every developer has: anvil's and hardhat's ten accounts of the mnemonic
# "test test ... junk", and this project's own development key. Public, hence never secret.
WELL_KNOWN_KEYS = frozenset(
    {
        "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
        "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
        "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
        "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
        "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
        "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
        "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
        "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
        "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
        "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
        DEV_NOTARY_KEY.removeprefix("0x"),
        DEV_DEPLOYER_KEY.removeprefix("0x"),
        DEV_REGULATOR_KEY.removeprefix("0x"),
    }
)


def well_known_key(key: str) -> bool:
    """Return whether `key` (hex, with or without 0x, any case) is a published dev key."""
    return key.strip().lower().removeprefix("0x") in WELL_KNOWN_KEYS


def _in_memory(url: str) -> bool:
    return url == "sqlite://" or ":memory:" in url
