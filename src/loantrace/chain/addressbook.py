"""The files of a deployment: the roles file it reads and the address book it writes.

The address book is one JSON file per chain, `deployments/<chain id>.json`: the chain (id
and genesis hash), each contract's address, deployment transaction and block, constructor
arguments and the SHA-256 of its artifact's code, the compiler and its settings, the admin,
the roles granted, the deployer, and every other transaction the deployment sent.
`complete` is false until the deployer has renounced its last role; an incomplete book is
resumed, not started again.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar

from eth_utils.address import is_address, is_checksum_address, to_checksum_address
from pydantic import AfterValidator, ConfigDict, Field, TypeAdapter, ValidationError

from loantrace.domain.errors import ConfigurationError
from loantrace.domain.safejson import MAX_DEPTH, nesting_depth

FORMAT = "loantrace-address-book/1"
CONTRACT_NAMES = ("AgreementRegistry", "LoanLedger", "FundFlow")
GRANTABLE_ROLES = ("notary", "regulator", "reporter")
MAX_BOOK_BYTES = 1024 * 1024
MAX_ROLES_FILE_BYTES = 256 * 1024


def checksummed(value: str) -> str:
    """Return `value` checksummed; refuse a non-address and a mixed case that is not EIP-55."""
    if not isinstance(value, str) or not is_address(value):
        raise ValueError(f"{value!r} is not an address")
    digits = value.removeprefix("0x")
    if digits not in (digits.lower(), digits.upper()) and not is_checksum_address(value):
        raise ValueError(f"{value!r} has a wrong EIP-55 checksum (a typo?)")
    return str(to_checksum_address(value))


def _known_roles(value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    unknown = set(value) - {*GRANTABLE_ROLES, "admin"}
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")
    return value


def _three_contracts(value: dict[str, Any]) -> dict[str, Any]:
    unknown = set(value) - set(CONTRACT_NAMES)
    if unknown:
        raise ValueError(f"unknown contracts {sorted(unknown)}")
    return value


Address = Annotated[str, AfterValidator(checksummed)]
Hash32 = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
_STRICT = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class DeployedContract:
    """One contract: where it is, the transaction that made it, and the build it came from."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    address: Address
    tx_hash: Hash32
    block_number: Annotated[int, Field(ge=0)]
    constructor_args: tuple[Any, ...]
    bytecode_sha256: Sha256
    deployed_bytecode_sha256: Sha256


@dataclass(frozen=True)
class Compiler:
    """The compiler and settings the artifacts record."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    version: Annotated[str, Field(min_length=1)]
    settings: dict[str, Any]


@dataclass(frozen=True)
class SentTx:
    """A transaction of the deployment other than a contract creation."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    action: Annotated[str, Field(min_length=1, max_length=200)]
    tx_hash: Hash32
    block_number: Annotated[int, Field(ge=0)]


@dataclass(frozen=True)
class AddressBook:
    """Everything a deployment made and how to check it."""

    __pydantic_config__: ClassVar[ConfigDict] = _STRICT

    format: Annotated[str, Field(pattern=f"^{FORMAT}$")]
    chain_id: Annotated[int, Field(ge=1)]
    genesis_hash: Hash32
    deployer: Address
    admin: Address
    compiler: Compiler
    contracts: Annotated[dict[str, DeployedContract], AfterValidator(_three_contracts)]
    roles: Annotated[dict[str, tuple[Address, ...]], AfterValidator(_known_roles)] = field(
        default_factory=dict
    )
    transactions: tuple[SentTx, ...] = ()
    complete: bool = False

    def address_of(self, name: str) -> str:
        """Return the address of contract `name`; refuse a book that lacks it."""
        entry = self.contracts.get(name)
        if entry is None:
            raise ConfigurationError(f"the address book has no {name}")
        return entry.address

    def addresses(self) -> tuple[str, str, str]:
        """Return the registry's, the ledger's and the fund flow's addresses."""
        registry, ledger, fundflow = (self.address_of(name) for name in CONTRACT_NAMES)
        return registry, ledger, fundflow


_ADAPTER: TypeAdapter[AddressBook] = TypeAdapter(AddressBook)


def book_path(directory: Path, chain_id: int) -> Path:
    """Return where the address book of `chain_id` lives under `directory`."""
    return directory / "deployments" / f"{chain_id}.json"


def artifact_hashes(artifact: dict[str, Any]) -> tuple[str, str]:
    """Return the SHA-256 of an artifact's creation code and of its runtime code."""
    creation = bytes.fromhex(str(artifact["bytecode"]).removeprefix("0x"))
    runtime = bytes.fromhex(str(artifact["deployedBytecode"]).removeprefix("0x"))
    return hashlib.sha256(creation).hexdigest(), hashlib.sha256(runtime).hexdigest()


def parse(text: str | bytes, *, source: str = "address book") -> AddressBook:
    """Validate an address book's JSON text."""
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > MAX_BOOK_BYTES:
        raise ConfigurationError(f"{source} is larger than {MAX_BOOK_BYTES} bytes")
    if nesting_depth(raw, stop_above=MAX_DEPTH) > MAX_DEPTH:
        raise ConfigurationError(f"{source} is nested deeper than {MAX_DEPTH} levels")
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top)"
        raise ConfigurationError(f"{source} is not valid at {where}: {first['msg']}") from None


def load(path: Path) -> AddressBook:
    """Read and validate the address book at `path`."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read address book {path}: {type(exc).__name__}") from None
    return parse(text, source=str(path))


def render(book: AddressBook) -> str:
    """Serialise `book` as indented JSON."""
    return _ADAPTER.dump_json(book, indent=2).decode() + "\n"


def save(book: AddressBook, path: Path) -> None:
    """Write `book` to `path` atomically (a crash leaves the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(render(book), encoding="utf-8")
    os.replace(partial, path)


def read_roles_file(path: Path) -> dict[str, tuple[str, ...]]:
    """Read `{"notary": [...], "regulator": [...], "reporter": [...]}` from JSON or TOML."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read roles file {path}: {type(exc).__name__}") from None
    if len(raw) > MAX_ROLES_FILE_BYTES or nesting_depth(raw, stop_above=MAX_DEPTH) > MAX_DEPTH:
        raise ConfigurationError(f"roles file {path} is too large or too deeply nested")
    try:
        data: Any = tomllib.loads(raw.decode()) if path.suffix == ".toml" else json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"roles file {path} is not valid: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigurationError(f"roles file {path} must map role names to address lists")
    roles: dict[str, tuple[str, ...]] = {}
    for role, accounts in data.items():
        if role not in GRANTABLE_ROLES:
            raise ConfigurationError(
                f"roles file {path}: {role!r} is not one of {', '.join(GRANTABLE_ROLES)} "
                "(the admin is --admin)"
            )
        if not isinstance(accounts, list):
            raise ConfigurationError(f"roles file {path}: {role} must be a list of addresses")
        roles[role] = tuple(dict.fromkeys(_role_member(a, path, role) for a in accounts))
    return roles


def _role_member(value: Any, path: Path, role: str) -> str:
    try:
        return checksummed(value)
    except ValueError as exc:
        raise ConfigurationError(f"roles file {path}: {role}: {exc}") from None
