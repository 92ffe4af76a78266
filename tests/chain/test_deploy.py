"""`loantrace deploy`: a paris chain, roles handed over, nothing twice, a service from the book."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from typer.testing import CliRunner, Result
from web3 import Web3
from web3.types import RPCEndpoint

from loantrace.bootstrap import Runtime
from loantrace.bootstrap_chain import deployer_transactor
from loantrace.chain import addressbook
from loantrace.chain import deploy as deployment
from loantrace.chain.addressbook import CONTRACT_NAMES, AddressBook, artifact_hashes, load
from loantrace.chain.artifacts import load_artifact
from loantrace.chain.node import connect
from loantrace.chain.signers import LocalSigner, write_keystore
from loantrace.cli import app
from loantrace.devtools.anvil import Anvil
from loantrace.domain.errors import ConfigurationError
from loantrace.settings import DEV_DEPLOYER_KEY, DEV_NOTARY_KEY, DEV_REGULATOR_KEY, Settings
from tests.conftest import make_signed

ROLE_CONSTANTS = ("DEFAULT_ADMIN_ROLE", "NOTARY_ROLE", "REGULATOR_ROLE", "REPORTER_ROLE")


def funded(anvil: Anvil) -> LocalAccount:
    """A fresh account with ether on `anvil` (never a published key)."""
    account: LocalAccount = Account.create()
    w3 = Web3(Web3.HTTPProvider(anvil.url))
    w3.provider.make_request(RPCEndpoint("anvil_setBalance"), [account.address, hex(10**20)])
    return account


def deploy_cli(anvil: Anvil, deployer: LocalAccount, out: Path, *args: str) -> Result:
    """Run `loantrace deploy` against `anvil`, signing with `deployer`'s key."""
    env = {"LOANTRACE_DEPLOYER_KEY": "0x" + bytes(deployer.key).hex()}
    command = ["deploy", "--rpc", anvil.url, "--out", str(out), *args]
    return CliRunner().invoke(app, command, env=env)


def roles_file(tmp_path: Path, roles: dict[str, list[str]], suffix: str = ".json") -> Path:
    path = tmp_path / f"roles{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(roles))
    else:
        path.write_text("".join(f"{role} = {json.dumps(accs)}\n" for role, accs in roles.items()))
    return path


def holders(w3: Web3, book: AddressBook, account: str) -> list[str]:
    """Every (contract, role constant) that `account` holds."""
    held = []
    for name in CONTRACT_NAMES:
        contract = w3.eth.contract(address=book.address_of(name), abi=load_artifact(name)["abi"])
        for constant in ROLE_CONSTANTS:
            if not hasattr(contract.functions, constant):
                continue
            role = getattr(contract.functions, constant)().call()
            if contract.functions.hasRole(role, account).call():
                held.append(f"{name}.{constant}")
    return held


def service_roles(tmp_path: Path) -> Path:
    """A roles file making the dev lender a NOTARY and the dev regulator a REGULATOR."""
    lender = Account.from_key(DEV_NOTARY_KEY).address
    regulator = Account.from_key(DEV_REGULATOR_KEY).address
    return roles_file(tmp_path, {"notary": [lender], "regulator": [regulator]})


def runtime_from_book(anvil: Anvil, book_file: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """Start a dev service whose only contract setting is LOANTRACE_ADDRESS_BOOK."""
    for name, value in {
        "MODE": "dev",
        "RPC_URL": anvil.url,
        "DATABASE_URL": "sqlite://",
        "ADDRESS_BOOK": str(book_file),
    }.items():
        monkeypatch.setenv(f"LOANTRACE_{name}", value)
    for name in ("REGISTRY_ADDRESS", "LEDGER_ADDRESS", "FUNDFLOW_ADDRESS", "LEDGER_START_BLOCK"):
        monkeypatch.delenv(f"LOANTRACE_{name}", raising=False)
    return Runtime.start(Settings())


@pytest.fixture
def paris() -> Iterator[Anvil]:
    """An anvil of its own with the rules of a chain that has no PUSH0."""
    with Anvil(hardfork="paris") as node:
        yield node


@pytest.mark.anvil
def test_deploy_twice_on_paris_hands_over_roles_and_then_deploys_nothing(
    paris: Anvil, tmp_path: Path
) -> None:
    deployer, admin, lender = funded(paris), Account.create(), Account.create()
    roles = roles_file(tmp_path, {"notary": [lender.address], "reporter": [lender.address]})
    first = deploy_cli(paris, deployer, tmp_path, "--admin", admin.address, "--roles", str(roles))
    assert first.exit_code == 0, first.output
    w3 = Web3(Web3.HTTPProvider(paris.url))
    head = w3.eth.block_number
    second = deploy_cli(paris, deployer, tmp_path, "--admin", admin.address, "--roles", str(roles))
    assert second.exit_code == 0, second.output
    assert "nothing to deploy" in second.output
    assert w3.eth.block_number == head  # not one transaction
    book = load(tmp_path / "deployments" / "31337.json")
    assert book.complete
    assert book.deployer == deployer.address
    assert book.admin == admin.address
    assert holders(w3, book, deployer.address) == []
    assert holders(w3, book, admin.address) == [f"{n}.DEFAULT_ADMIN_ROLE" for n in CONTRACT_NAMES]
    assert holders(w3, book, lender.address) == [
        "AgreementRegistry.NOTARY_ROLE",
        "FundFlow.REPORTER_ROLE",
    ]
    assert book.roles == {
        "notary": (lender.address,),
        "reporter": (lender.address,),
        "admin": (admin.address,),
    }
    registry = w3.eth.contract(
        address=book.address_of("AgreementRegistry"), abi=load_artifact("AgreementRegistry")["abi"]
    )
    assert registry.functions.loanLedger().call() == book.address_of("LoanLedger")
    assert book.compiler.settings["evmVersion"] == "paris"
    assert book.genesis_hash == "0x" + bytes(w3.eth.get_block(0)["hash"]).hex()
    for name in CONTRACT_NAMES:
        entry = book.contracts[name]
        receipt = w3.eth.get_transaction_receipt(entry.tx_hash)  # type: ignore[arg-type]
        assert (receipt["contractAddress"], receipt["blockNumber"]) == (
            entry.address,
            entry.block_number,
        )
        assert (entry.bytecode_sha256, entry.deployed_bytecode_sha256) == artifact_hashes(
            load_artifact(name)
        )
    assert book.contracts["LoanLedger"].constructor_args == (
        deployer.address,
        book.address_of("AgreementRegistry"),
        300,
        [3, 3, 90],
    )
    actions = [tx.action for tx in book.transactions]
    assert actions[0] == "AgreementRegistry.setLoanLedger"
    assert sum("renounces" in action for action in actions) == 3


@pytest.mark.anvil
@pytest.mark.parametrize("way", ["keystore", "remote_signer"])
def test_the_deployer_may_sign_with_a_keystore_or_a_remote_signer(
    paris: Anvil, tmp_path: Path, way: str
) -> None:
    admin = Account.create().address
    if way == "keystore":
        deployer = funded(paris)
        keystore, password = tmp_path / "deployer.json", tmp_path / "password"
        password.write_text("correct horse\n")
        write_keystore(bytes(deployer.key), "correct horse", keystore)
        args = ["--keystore", str(keystore), "--password-file", str(password)]
        expected = deployer.address
    else:  # anvil signs eth_signTransaction for its own unlocked accounts
        expected = Web3(Web3.HTTPProvider(paris.url)).eth.accounts[0]
        args = ["--remote-signer", paris.url, "--from", expected]
    command = ["deploy", "--rpc", paris.url, "--out", str(tmp_path), "--admin", admin, *args]
    result = CliRunner().invoke(app, command, env={"LOANTRACE_DEPLOYER_KEY": None})
    assert result.exit_code == 0, result.output
    book = load(tmp_path / "deployments" / "31337.json")
    assert book.deployer == expected
    assert book.complete


@pytest.mark.anvil
def test_an_interrupted_deployment_resumes_without_deploying_twice(
    paris: Anvil, tmp_path: Path
) -> None:
    deployer, admin = funded(paris), Account.create()
    node = connect(paris.url)
    path = tmp_path / "deployments" / "31337.json"
    saved: list[AddressBook] = []

    def crash_after_the_registry(book: AddressBook) -> None:
        saved.append(book)
        from loantrace.chain.addressbook import save

        save(book, path)
        raise RuntimeError("power cut")

    plan = deployment.DeployPlan(admin=admin.address, roles={}, lpr_bps=300, policy=(3, 3, 90))
    transactor = deployer_transactor(node, LocalSigner(deployer))
    with pytest.raises(RuntimeError, match="power cut"):
        deployment.run(node, transactor, plan, None, crash_after_the_registry)
    registry = saved[0].address_of("AgreementRegistry")
    assert not saved[0].complete
    result = deploy_cli(paris, deployer, tmp_path, "--admin", admin.address)
    assert result.exit_code == 0, result.output
    book = load(path)
    assert book.complete
    assert book.address_of("AgreementRegistry") == registry
    assert holders(node.w3, book, deployer.address) == []


@pytest.mark.anvil
def test_a_cancun_build_is_refused_on_a_paris_chain_before_any_gas(paris: Anvil) -> None:
    w3 = connect(paris.url).w3
    deployment.check_chain_runs(w3, "paris")
    with pytest.raises(ConfigurationError, match="no PUSH0"):
        deployment.check_chain_runs(w3, "shanghai")
    with Anvil() as later:  # anvil's default rules have both
        deployment.check_chain_runs(connect(later.url).w3, "cancun")


@pytest.mark.anvil
def test_deploy_refuses_what_would_leave_nobody_or_the_wrong_key_in_charge(
    tmp_path: Path,
) -> None:
    with Anvil(chain_id=4242, hardfork="paris") as node:
        deployer = funded(node)
        itself = deploy_cli(node, deployer, tmp_path, "--admin", deployer.address)
        assert itself.exit_code == 2
        assert "other than the deployer" in itself.output
        zero = deploy_cli(node, deployer, tmp_path, "--admin", "0x" + "00" * 20)
        assert zero.exit_code == 2
        published = Account.from_key(DEV_DEPLOYER_KEY)
        dev_key = deploy_cli(node, published, tmp_path, "--admin", Account.create().address)
        assert dev_key.exit_code == 2
        assert "published development key" in dev_key.output
        other_evm = deploy_cli(
            node, deployer, tmp_path, "--admin", Account.create().address, "--evm-version", "cancun"
        )
        assert other_evm.exit_code == 2
        assert "compile --evm-version cancun" in other_evm.output
        assert not (tmp_path / "deployments").exists()
        assert Web3(Web3.HTTPProvider(node.url)).eth.block_number == 0


def test_the_roles_file_is_json_or_toml_and_names_only_grantable_roles(tmp_path: Path) -> None:
    lender = Account.create().address
    for suffix in (".json", ".toml"):
        path = roles_file(tmp_path, {"notary": [lender.lower()], "regulator": []}, suffix)
        assert addressbook.read_roles_file(path) == {"notary": (lender,), "regulator": ()}
    with pytest.raises(ConfigurationError, match="not one of"):
        addressbook.read_roles_file(roles_file(tmp_path, {"admin": [lender]}))
    with pytest.raises(ConfigurationError, match="not an address"):
        addressbook.read_roles_file(roles_file(tmp_path, {"notary": ["0x12"]}))


def _opcodes(code: bytes) -> Iterator[int]:
    """Walk runtime code, skipping PUSH data."""
    i = 0
    while i < len(code):
        op = code[i]
        yield op
        i += 1 + (op - 0x5F if 0x60 <= op <= 0x7F else 0)


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_the_committed_build_uses_no_opcode_newer_than_paris(name: str) -> None:
    artifact: dict[str, Any] = load_artifact(name)
    for key in ("bytecode", "deployedBytecode"):
        ops = set(_opcodes(bytes.fromhex(artifact[key][2:])))
        assert not ops & {0x5F, 0x5C, 0x5D, 0x5E}, f"{name} {key} uses PUSH0/TLOAD/TSTORE/MCOPY"


@pytest.mark.anvil
def test_a_service_with_only_the_address_book_notarises(
    paris: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployer, admin = funded(paris), Account.create()
    roles = service_roles(tmp_path)
    result = deploy_cli(paris, deployer, tmp_path, "--admin", admin.address, "--roles", str(roles))
    assert result.exit_code == 0, result.output
    book_file = tmp_path / "deployments" / "31337.json"
    rt = runtime_from_book(paris, book_file, monkeypatch)
    try:
        book = load(book_file)
        assert rt.registry.address == book.address_of("AgreementRegistry")
        assert rt.settings.ledger_start_block == book.contracts["LoanLedger"].block_number
        receipt = rt.notary.notarise(make_signed(rt).submission)
        assert receipt.block_number > book.contracts["FundFlow"].block_number
        assert holders(rt.node.w3, book, deployer.address) == []
    finally:
        rt.close()
