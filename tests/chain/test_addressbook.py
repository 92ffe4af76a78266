"""The address book: round trip, validation, and the settings that read it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from loantrace.bootstrap_chain import addresses_of
from loantrace.chain.addressbook import (
    FORMAT,
    AddressBook,
    artifact_hashes,
    book_path,
    load,
    parse,
    render,
    save,
)
from loantrace.chain.artifacts import load_artifact
from loantrace.domain.errors import ConfigurationError
from loantrace.settings import Settings

REGISTRY = "0x1D240E0661e1E7eF37374ead983B868a909d13ae"
LEDGER = "0x1D7AAcA95816B1cc049fe170105a508CcC755F51"
FUNDFLOW = "0x0A2a843f0d5f1302d84F2cbB7C55e8bDB4C8C0E1"
DEPLOYER = "0x83da33af6cf67C0Fea5CeBa3CEdc16dB73eAf1d0"
ADMIN = "0x6accb13A554957dB2d3d8167b5D9A661BeEDA712"


def _entry(address: str, block: int, args: list[Any]) -> dict[str, Any]:
    return {
        "address": address,
        "tx_hash": "0x" + f"{block:02x}" * 32,
        "block_number": block,
        "constructor_args": args,
        "bytecode_sha256": "ab" * 32,
        "deployed_bytecode_sha256": "cd" * 32,
    }


def sample() -> dict[str, Any]:
    return {
        "format": FORMAT,
        "chain_id": 31337,
        "genesis_hash": "0x" + "ee" * 32,
        "deployer": DEPLOYER,
        "admin": ADMIN,
        "compiler": {"version": "0.8.30", "settings": {"evmVersion": "paris"}},
        "contracts": {
            "AgreementRegistry": _entry(REGISTRY, 1, [DEPLOYER]),
            "LoanLedger": _entry(LEDGER, 2, [DEPLOYER, REGISTRY, 300, [3, 3, 90]]),
            "FundFlow": _entry(FUNDFLOW, 3, [DEPLOYER, LEDGER, REGISTRY]),
        },
        "roles": {"notary": [ADMIN.lower()], "admin": [ADMIN]},
        "transactions": [
            {
                "action": "AgreementRegistry.setLoanLedger",
                "tx_hash": "0x" + "04" * 32,
                "block_number": 4,
            },
        ],
        "complete": True,
    }


def test_a_book_survives_a_round_trip_and_checksums_its_addresses() -> None:
    book = parse(json.dumps(sample()))
    assert book.roles["notary"] == (ADMIN,)  # lower case in, checksummed out
    assert parse(render(book)) == book
    assert book.addresses() == (REGISTRY, LEDGER, FUNDFLOW)
    assert book.contracts["LoanLedger"].constructor_args == (DEPLOYER, REGISTRY, 300, [3, 3, 90])


@pytest.mark.parametrize(
    ("path", "value", "where"),
    [
        (("admin",), "0x1234", "admin"),
        (("deployer",), DEPLOYER[:-1] + "D", "checksum"),
        (("format",), "loantrace-address-book/0", "format"),
        (("contracts", "Proxy"), _entry(REGISTRY, 1, []), "contracts"),
        (("roles", "owner"), [ADMIN], "roles"),
        (("contracts", "FundFlow", "tx_hash"), "0x12", "tx_hash"),
        (("contracts", "FundFlow", "block_number"), -1, "block_number"),
        (("surprise",), 1, "surprise"),
    ],
)
def test_a_book_that_is_not_valid_is_refused_naming_where(
    path: tuple[str, ...], value: Any, where: str
) -> None:
    data = sample()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigurationError, match=where):
        parse(json.dumps(data))


def test_save_writes_atomically_under_deployments(tmp_path: Path) -> None:
    book = parse(json.dumps(sample()))
    path = book_path(tmp_path, book.chain_id)
    save(book, path)
    assert path == tmp_path / "deployments" / "31337.json"
    assert load(path) == book
    assert [p.name for p in path.parent.iterdir()] == ["31337.json"]


def test_a_missing_or_huge_book_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read"):
        load(tmp_path / "absent.json")
    with pytest.raises(ConfigurationError, match="larger"):
        parse(b" " * (1024 * 1024 + 1))
    with pytest.raises(ConfigurationError, match="nested"):
        parse(b"[" * 100_000)


def test_artifact_hashes_are_the_sha256_of_both_codes() -> None:
    artifact = load_artifact("FundFlow")
    creation, runtime = artifact_hashes(artifact)
    assert creation == hashlib.sha256(bytes.fromhex(artifact["bytecode"][2:])).hexdigest()
    assert runtime == hashlib.sha256(bytes.fromhex(artifact["deployedBytecode"][2:])).hexdigest()


def _book_file(tmp_path: Path) -> Path:
    path = tmp_path / "31337.json"
    save(parse(json.dumps(sample())), path)
    return path


def test_the_service_takes_addresses_and_start_block_from_the_book(tmp_path: Path) -> None:
    settings = Settings(
        mode="dev", rpc_url="http://node.invalid", address_book=_book_file(tmp_path)
    )
    resolved, addresses = addresses_of(settings)
    assert addresses == (REGISTRY, LEDGER, FUNDFLOW)
    assert resolved.ledger_start_block == 2  # the ledger's deploy block
    assert resolved.registry_address == REGISTRY


def test_explicit_addresses_and_start_block_win_over_the_book(tmp_path: Path) -> None:
    other = "0x" + "11" * 20
    settings = Settings(
        mode="dev",
        rpc_url="http://node.invalid",
        address_book=_book_file(tmp_path),
        registry_address=other,
        ledger_address=other,
        fundflow_address=other,
    )
    assert addresses_of(settings)[1] == (other, other, other)
    pinned = Settings(
        mode="dev",
        rpc_url="http://node.invalid",
        address_book=_book_file(tmp_path),
        ledger_start_block=7,
    )
    assert addresses_of(pinned)[0].ledger_start_block == 7


PROD = {
    "mode": "prod",
    "rpc_url": "http://node.invalid",
    "database_url": "postgresql+psycopg://db.invalid/loantrace",
    "data_key": "x" * 44,
    "master_keys": "k1:" + "A" * 44,
    "keystore_dir": Path("/nonexistent"),
}


def test_prod_accepts_an_address_book_instead_of_the_three_addresses(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="LOANTRACE_REGISTRY_ADDRESS"):
        Settings(**PROD)  # type: ignore[arg-type]
    settings = Settings(**PROD, address_book=_book_file(tmp_path))  # type: ignore[arg-type]
    assert settings.address_book is not None


def test_the_book_type_is_frozen() -> None:
    book = parse(json.dumps(sample()))
    assert isinstance(book, AddressBook)
    with pytest.raises(AttributeError):
        book.admin = DEPLOYER  # type: ignore[misc]
