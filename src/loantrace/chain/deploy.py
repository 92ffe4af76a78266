"""Deploy the three contracts for production: wire them, grant the roles, hand them over.

The deployer is the contracts' first admin only for as long as the deployment takes: it
deploys AgreementRegistry, LoanLedger and FundFlow, points the registry at the ledger,
grants the roles of the roles file, makes `admin` (a multisig is fine) the admin of all
three, then renounces every role it holds. The address book is saved after every contract,
so a deployment cut short resumes where it stopped; a complete one with unchanged artifacts
and its code on chain is left alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from web3 import Web3
from web3.contract import Contract

from loantrace.chain.addressbook import (
    CONTRACT_NAMES,
    FORMAT,
    AddressBook,
    Compiler,
    DeployedContract,
    SentTx,
    artifact_hashes,
    checksummed,
)
from loantrace.chain.artifacts import load_artifact
from loantrace.chain.node import Node
from loantrace.chain.registry import matches_build
from loantrace.chain.roles import Roles
from loantrace.chain.transactor import Transactor, TxResult
from loantrace.domain.errors import ConfigurationError

ROLE_KEYS = {"AgreementRegistry": "registry", "LoanLedger": "ledger", "FundFlow": "fundflow"}
DEFAULT_ADMIN_ROLE = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class DeployPlan:
    """What to deploy: who administers it, who holds which role, the ledger's parameters."""

    admin: str
    roles: dict[str, tuple[str, ...]]
    lpr_bps: int
    policy: tuple[int, int, int]


@dataclass(frozen=True)
class DeployOutcome:
    """The address book after the run, and what this run did."""

    book: AddressBook
    deployed: tuple[str, ...]
    sent: int

    @property
    def nothing_to_do(self) -> bool:
        """Return whether this run found everything in place and sent nothing."""
        return self.sent == 0


def run(
    node: Node,
    deployer: Transactor,
    plan: DeployPlan,
    existing: AddressBook | None,
    save: Callable[[AddressBook], None],
) -> DeployOutcome:
    """Deploy (or resume, or confirm) the contracts; save the book as it grows."""
    me = deployer.address
    admin = _address(plan.admin, "--admin")
    if admin in (me, ZERO_ADDRESS):
        raise ConfigurationError("--admin must be an account other than the deployer's")
    if any(me == account for accounts in plan.roles.values() for account in accounts):
        raise ConfigurationError("the deployer keeps no role: take it out of the roles file")
    book = _start(node, me, admin, existing)
    if book.complete and _current(node.w3, book):
        return DeployOutcome(book, (), 0)
    if book.complete:
        raise ConfigurationError(
            f"the contracts of the address book of chain {book.chain_id} are not this build "
            "(the artifacts changed, or the code is gone): a new deployment means new "
            "addresses, so move the old address book away first (it records the old one)"
        )
    deployed: list[str] = []
    for name in CONTRACT_NAMES:
        if not _present(node.w3, book, name):
            book = _deploy(deployer, node.w3, book, name, _constructor_args(name, me, book, plan))
            deployed.append(name)
            save(book)
    sent: list[SentTx] = []

    def record(action: str, results: list[TxResult]) -> None:
        nonlocal book
        steps = [SentTx(action, r.tx_hash, r.block_number) for r in results]
        if steps:
            sent.extend(steps)
            book = replace(book, transactions=(*book.transactions, *steps))
            save(book)

    granted = {**plan.roles, "admin": (admin,)}
    _hand_over(node.w3, book, deployer, granted, record)
    roles = dict(book.roles)
    for role, accounts in granted.items():
        roles[role] = tuple(dict.fromkeys([*roles.get(role, ()), *accounts]))
    book = replace(book, roles=roles, complete=True)
    save(book)
    return DeployOutcome(book, tuple(deployed), len(deployed) + len(sent))


def _hand_over(
    w3: Web3,
    book: AddressBook,
    deployer: Transactor,
    granted: dict[str, tuple[str, ...]],
    record: Callable[[str, list[TxResult]], None],
) -> None:
    """Tie the registry to the ledger, grant the roles, then renounce every deployer role."""
    me, admin = deployer.address, granted["admin"][0]
    contracts = {ROLE_KEYS[name]: _contract(w3, book, name) for name in CONTRACT_NAMES}
    registry = contracts["registry"]
    linked = str(registry.functions.loanLedger().call())
    if linked == ZERO_ADDRESS:
        result = deployer.send(registry.functions.setLoanLedger(book.address_of("LoanLedger")))
        record("AgreementRegistry.setLoanLedger", [result])
    elif linked != book.address_of("LoanLedger"):
        raise ConfigurationError(f"the registry is already tied to another ledger, {linked}")
    roles = Roles(contracts, deployer, book.contracts["AgreementRegistry"].block_number)
    for role, accounts in granted.items():
        for account in accounts:
            record(f"grant {role} to {account}", roles.grant(role, account))
    if not roles.has("admin", admin):
        raise ConfigurationError(f"{admin} does not administer every contract: not renouncing")
    for name, contract in contracts.items():
        for role_name, role_id in _role_ids(contract):
            if contract.functions.hasRole(role_id, me).call():
                result = deployer.send(contract.functions.renounceRole(role_id, me))
                record(f"{name}: deployer renounces {role_name}", [result])
    left = [
        f"{name} {role_name}"
        for name, contract in contracts.items()
        for role_name, role_id in _role_ids(contract)
        if contract.functions.hasRole(role_id, me).call()
    ]
    if left:
        raise ConfigurationError(f"the deployer still holds {', '.join(left)}")


# Creation code that runs only where an opcode exists: PUSH0 (shanghai), MCOPY (cancun).
_PROBES = (("shanghai", "PUSH0", "0x5f5ff3"), ("cancun", "MCOPY", "0x6000600060005e00"))


def check_chain_runs(w3: Web3, evm_version: str) -> None:
    """Refuse, before any gas is spent, a build using opcodes the chain does not have."""
    from loantrace.chain.compiler import EVM_VERSIONS

    if evm_version not in EVM_VERSIONS:
        return
    for introduced, opcode, probe in _PROBES:
        if EVM_VERSIONS.index(evm_version) < EVM_VERSIONS.index(introduced):
            continue
        try:
            w3.eth.call({"data": probe})  # type: ignore[typeddict-item]
        except Exception as exc:  # the node's own words for an invalid opcode vary
            raise ConfigurationError(
                f"the artifacts are built for {evm_version}, but this chain has no {opcode} "
                f"({type(exc).__name__}): run `loantrace compile --evm-version paris` first"
            ) from None


def _address(value: str, what: str) -> str:
    try:
        return checksummed(value)
    except ValueError as exc:
        raise ConfigurationError(f"{what} {exc}") from None


def _start(node: Node, deployer: str, admin: str, existing: AddressBook | None) -> AddressBook:
    """Return the book to continue: the existing one (same chain and parties) or a new one."""
    compiler = _compiler()
    if existing is None:
        return AddressBook(
            format=FORMAT,
            chain_id=node.chain_id,
            genesis_hash=node.genesis_hash,
            deployer=deployer,
            admin=admin,
            compiler=compiler,
            contracts={},
        )
    if (existing.chain_id, existing.genesis_hash) != (node.chain_id, node.genesis_hash):
        raise ConfigurationError(
            f"the address book names chain {existing.chain_id} with genesis "
            f"{existing.genesis_hash}: this node is another chain (reset?); move the book away"
        )
    if existing.complete:
        return existing
    if (existing.deployer, existing.admin) != (deployer, admin):
        raise ConfigurationError(
            f"the unfinished deployment in the address book is by {existing.deployer} for "
            f"admin {existing.admin}: resume it with the same deployer and --admin"
        )
    return existing


def _compiler() -> Compiler:
    """Return the compiler of the artifacts; refuse artifacts built by different ones."""
    found = {json.dumps(load_artifact(name)["compiler"], sort_keys=True) for name in CONTRACT_NAMES}
    if len(found) != 1:
        raise ConfigurationError("the artifacts were built by different compilers: recompile")
    compiler = json.loads(found.pop())
    return Compiler(version=compiler["version"], settings=compiler["settings"])


def _present(w3: Web3, book: AddressBook, name: str) -> bool:
    """Return whether the book's `name` is of this build and its code is on chain."""
    entry = book.contracts.get(name)
    if entry is None:
        return False
    artifact = load_artifact(name)
    hashes = (entry.bytecode_sha256, entry.deployed_bytecode_sha256)
    code = bytes(w3.eth.get_code(Web3.to_checksum_address(entry.address)))
    return hashes == artifact_hashes(artifact) and matches_build(code, artifact)


def _current(w3: Web3, book: AddressBook) -> bool:
    return book.compiler == _compiler() and all(_present(w3, book, n) for n in CONTRACT_NAMES)


def _constructor_args(name: str, me: str, book: AddressBook, plan: DeployPlan) -> tuple[Any, ...]:
    """Return `name`'s constructor arguments; the deployer is the first admin."""
    if name == "AgreementRegistry":
        return (me,)
    registry = book.address_of("AgreementRegistry")
    if name == "LoanLedger":
        return (me, registry, plan.lpr_bps, plan.policy)
    return (me, book.address_of("LoanLedger"), registry)


def _deploy(
    deployer: Transactor, w3: Web3, book: AddressBook, name: str, args: tuple[Any, ...]
) -> AddressBook:
    """Deploy `name` and return the book recording it.

    Sent through `Transactor.send` rather than the `deploy_*` helpers, which return only the
    address: the book needs the transaction and its block too.
    """
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    result = deployer.send(factory.constructor(*args))
    receipt = w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
    address = receipt["contractAddress"]
    if address is None:
        raise ConfigurationError(f"deploying {name} produced no contract")
    creation, runtime = artifact_hashes(artifact)
    entry = DeployedContract(
        address=str(address),
        tx_hash=result.tx_hash,
        block_number=result.block_number,
        constructor_args=_jsonable(args),
        bytecode_sha256=creation,
        deployed_bytecode_sha256=runtime,
    )
    return replace(book, contracts={**book.contracts, name: entry})


def _jsonable(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(_jsonable(a) if isinstance(a, tuple) else a for a in args)


def _contract(w3: Web3, book: AddressBook, name: str) -> Contract:
    address = Web3.to_checksum_address(book.address_of(name))
    return w3.eth.contract(address=address, abi=load_artifact(name)["abi"])


def _role_ids(contract: Contract) -> list[tuple[str, bytes]]:
    """Return every role the contract's ABI declares (`*_ROLE` constants), the admin's last."""
    abi: list[dict[str, Any]] = list(contract.abi)  # type: ignore[arg-type]
    names = sorted(
        str(item["name"])
        for item in abi
        if item.get("type") == "function"
        and str(item.get("name", "")).endswith("_ROLE")
        and not item.get("inputs")
    )
    found = [(n, bytes(getattr(contract.functions, n)().call())) for n in names]
    found.sort(key=lambda pair: pair[1] == DEFAULT_ADMIN_ROLE)
    return found
