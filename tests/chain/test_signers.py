"""Signing accounts: encrypted keystores, a remote signer (anvil's unlocked accounts speak
eth_signTransaction), many lenders in one service, and the roles they need."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from eth_account import Account
from typer.testing import CliRunner

from loantrace.bootstrap import Runtime
from loantrace.bootstrap_chain import HeldSigners, provision_roles
from loantrace.chain.registry import revert_decoder
from loantrace.chain.roles import NOTARY_ROLE, Roles
from loantrace.chain.signers import LocalSigner, RemoteSigner, write_keystore
from loantrace.chain.transactor import Transactor
from loantrace.cli import app
from loantrace.domain.agreement import typed_data
from loantrace.domain.errors import ConfigurationError, Unauthorized
from loantrace.settings import DEV_DEPLOYER_KEY
from tests.conftest import (
    BoundChain,
    SubmissionFactory,
    admin_registry,
    bound_runtime,
    service_env,
)

# anvil's default accounts 6 and 7 (unlocked on every anvil node; never used by the service)
ANVIL_6 = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
ANVIL_7 = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"
ANVIL_7_KEY = "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356"
PASSWORD = "correct horse battery staple"


def test_a_keystore_round_trips_and_a_wrong_password_says_nothing_of_the_key(
    tmp_path: Path,
) -> None:
    key = Account.create().key
    path = tmp_path / "lender.json"
    address = write_keystore(key, PASSWORD, path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert key.hex() not in path.read_text()
    signer = LocalSigner.from_keystore(path, PASSWORD)
    assert signer.address == address
    assert key.hex() not in repr(signer)
    with pytest.raises(ConfigurationError) as wrong:
        LocalSigner.from_keystore(path, "guess")
    assert key.hex() not in str(wrong.value)
    with pytest.raises(FileExistsError):
        write_keystore(key, PASSWORD, path)  # never overwritten


@pytest.mark.anvil
def test_a_remote_signer_signs_transactions_and_typed_data_like_the_key_would(
    anvil_chain: BoundChain, make_submission: SubmissionFactory
) -> None:
    node = anvil_chain.node
    url = node.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    remote = RemoteSigner(url, ANVIL_7)
    local = LocalSigner.from_key(ANVIL_7_KEY)
    rt = bound_runtime(anvil_chain)
    submission = make_submission(rt).submission
    document = typed_data(rt.notary.agreement_of(submission), rt.registry.domain, submission.terms)
    assert remote.sign_typed_data(document) == local.sign_typed_data(document)
    transactor = Transactor(node.w3, remote, revert_decoder())
    admin_registry(rt).grant_notary(remote.address)
    result = transactor.send(rt.registry.contract.functions.anchorBatch(b"\x42" * 32, 3, bytes(32)))
    assert node.w3.eth.get_transaction(result.tx_hash)["from"] == remote.address
    with pytest.raises(Exception, match="remote signer"):
        RemoteSigner(url, Account.create().address).sign_typed_data(document)  # not unlocked


@pytest.mark.anvil
def test_one_service_signs_for_many_lenders_each_with_its_own_key(
    anvil_chain: BoundChain,
    make_submission: SubmissionFactory,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    keystores = tmp_path / "keys"
    keystores.mkdir()
    keys = [Account.create().key for _ in range(2)]
    first = write_keystore(keys[0], PASSWORD, keystores / "a.json")
    second = write_keystore(keys[1], PASSWORD, keystores / "b.json")
    url = anvil_chain.node.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    rt = bound_runtime(
        anvil_chain,
        keystore_dir=keystores,
        keystore_password=PASSWORD,
        remote_signer_url=url,
        remote_signer_addresses=ANVIL_6,
    )
    assert set(rt.desks) == {first.lower(), second.lower(), ANVIL_6.lower()}
    assert rt.regulator is not None
    assert rt.regulator.signer.address.lower() not in rt.desks
    for lender in (first, second, ANVIL_6):
        desk = rt.desk_for(lender)
        made = make_submission(rt, lender=lender)
        receipt = desk.notary.notarise(made.submission)
        record = rt.registry.record_of(bytes.fromhex(str(receipt.agreement_id)[2:]))
        assert record is not None
        assert record.lender == lender  # the agreement names it, signed by its own key
        tx = anvil_chain.node.w3.eth.get_transaction(receipt.tx_hash)
        assert tx["from"] == lender
    with pytest.raises(Unauthorized, match="no signing account"):
        rt.desk_for(Account.create().address)
    rt.close()
    logged = "\n".join(r.getMessage() for r in caplog.records).lower()
    assert logged  # the start and the sends were logged ...
    for key in keys:
        assert key.hex() not in logged  # ... and no key with them
    assert PASSWORD not in logged


def test_the_contracts_admin_is_never_a_notary(embedded_chain: BoundChain) -> None:
    with pytest.raises(ConfigurationError, match="administers the contracts"):
        bound_runtime(embedded_chain, notary_key=DEV_DEPLOYER_KEY)


def test_outside_dev_a_lender_without_the_notary_role_stops_the_start(
    embedded_runtime: Runtime,
) -> None:
    rt = embedded_runtime
    contracts = {
        "registry": rt.registry.contract,
        "ledger": rt.ledger.contract,
        "fundflow": rt.fundflow.contract,
    }
    roles = Roles(contracts, rt.registry.transactor)
    stranger = LocalSigner(Account.create())
    with pytest.raises(ConfigurationError, match=f"roles grant notary {stranger.address}"):
        provision_roles(roles, HeldSigners((stranger,), None), grant=False)
    provision_roles(
        roles, HeldSigners((rt.signer,), rt.regulator.signer if rt.regulator else None), grant=False
    )


@pytest.mark.anvil
def test_roles_are_granted_listed_and_revoked_with_the_admins_keystore(
    anvil_chain: BoundChain, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = bound_runtime(anvil_chain)
    admin_keystore = tmp_path / "admin.json"
    write_keystore(DEV_DEPLOYER_KEY, PASSWORD, admin_keystore)
    url = rt.node.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    for name, value in service_env(rt, url, "sqlite://").items():
        if name.startswith("LOANTRACE_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOANTRACE_ADMIN_KEYSTORE_PASSWORD", PASSWORD)
    newcomer = Account.create().address
    cli = CliRunner()
    as_admin = ["--keystore", str(admin_keystore)]
    granted = cli.invoke(app, ["roles", "grant", "notary", newcomer, *as_admin])
    assert granted.exit_code == 0, granted.output
    assert rt.registry.has_role(NOTARY_ROLE, newcomer)
    listed = cli.invoke(app, ["roles", "list"])
    assert listed.exit_code == 0, listed.output
    assert newcomer in listed.output
    assert rt.signer.address in listed.output
    as_lender = ["--keystore", str(_lender_keystore(rt, tmp_path))]
    refused = cli.invoke(app, ["roles", "revoke", "notary", newcomer, *as_lender])
    assert refused.exit_code != 0  # a lender is not the admin
    assert rt.registry.has_role(NOTARY_ROLE, newcomer)
    revoked = cli.invoke(app, ["roles", "revoke", "notary", newcomer, *as_admin])
    assert revoked.exit_code == 0, revoked.output
    assert not rt.registry.has_role(NOTARY_ROLE, newcomer)
    rt.close()


def _lender_keystore(rt: Runtime, directory: Path) -> Path:
    path = directory / "lender.json"
    write_keystore(rt.account.key, PASSWORD, path)
    return path
