"""`loantrace integrity` and GET /v1/integrity: the code on chain is the build, or how not."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from eth_account import Account
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from web3 import Web3
from web3.types import RPCEndpoint

from loantrace.api.app import create_app
from loantrace.chain.addressbook import load
from loantrace.chain.artifacts import load_artifact
from loantrace.chain.integrity import SourceVerdict, Verdict, check_sources, compare_code
from loantrace.cli import app
from loantrace.cli_common import console
from loantrace.devtools.anvil import Anvil
from tests.chain.test_deploy import deploy_cli, funded, runtime_from_book, service_roles

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "0x" + "12" * 20


def runtime_code(name: str) -> bytes:
    return bytes.fromhex(load_artifact(name)["deployedBytecode"][2:])


def spans(name: str) -> list[tuple[int, int]]:
    """Where each place of the contract's first immutable is."""
    references = load_artifact(name)["immutableReferences"]
    first = next(iter(references.values()))
    return [(int(s["start"]), int(s["length"])) for s in first]


def with_immutable(name: str, value: bytes, places: list[tuple[int, int]]) -> bytes:
    code = bytearray(runtime_code(name))
    for start, length in places:
        code[start : start + length] = value.rjust(length, b"\0")
    return bytes(code)


def test_the_build_itself_matches_and_any_immutable_value_is_masked() -> None:
    artifact = load_artifact("FundFlow")
    check = compare_code("FundFlow", ADDRESS, runtime_code("FundFlow"), artifact)
    assert check.verdict is Verdict.MATCH
    changed = with_immutable("FundFlow", b"\x42" * 20, spans("FundFlow"))
    assert compare_code("FundFlow", ADDRESS, changed, artifact).verdict is Verdict.MATCH


def test_no_code_a_length_and_a_byte_are_told_apart() -> None:
    artifact = load_artifact("AgreementRegistry")
    code = runtime_code("AgreementRegistry")
    assert compare_code("AgreementRegistry", ADDRESS, b"", artifact).verdict is Verdict.NO_CODE
    short = compare_code("AgreementRegistry", ADDRESS, code[:-1], artifact)
    assert short.verdict is Verdict.LENGTH_DIFFERS
    assert short.detail == f"{len(code) - 1} bytes on chain, {len(code)} in the build"
    flipped = bytearray(code)
    flipped[7] ^= 0xFF
    check = compare_code("AgreementRegistry", ADDRESS, bytes(flipped), artifact)
    assert check.verdict is Verdict.CODE_DIFFERS
    assert check.offset == 7
    assert "first difference at byte 7" in check.detail


def test_an_immutable_is_named_when_it_differs_from_the_recorded_deployment() -> None:
    artifact = load_artifact("LoanLedger")
    places = spans("LoanLedger")
    expected = with_immutable("LoanLedger", bytes.fromhex("ab" * 20), places)
    on_chain = with_immutable("LoanLedger", bytes.fromhex("cd" * 20), places)
    check = compare_code("LoanLedger", ADDRESS, on_chain, artifact, expected)
    assert check.verdict is Verdict.IMMUTABLE_DIFFERS
    assert check.immutable == "LoanLedger._registry"
    assert "0x" + "cd" * 20 in check.detail
    assert "0x" + "ab" * 20 in check.detail
    same = compare_code("LoanLedger", ADDRESS, expected, artifact, expected)
    assert same.verdict is Verdict.MATCH


def test_an_immutable_with_two_values_in_its_places_is_a_mismatch() -> None:
    places = spans("LoanLedger")
    assert len(places) > 1
    torn = with_immutable("LoanLedger", b"\x01", places[:1])
    check = compare_code("LoanLedger", ADDRESS, torn, load_artifact("LoanLedger"))
    assert check.verdict is Verdict.IMMUTABLE_DIFFERS
    assert check.immutable == "LoanLedger._registry"


def test_without_solc_js_the_source_comparison_is_skipped(tmp_path: Path) -> None:
    checks = check_sources(tmp_path)
    assert {c.verdict for c in checks} == {SourceVerdict.SKIPPED}


@pytest.mark.slow
def test_the_committed_artifacts_equal_a_fresh_compile_of_the_source() -> None:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "solc").is_dir():
        pytest.skip("solc-js not installed")
    checks = check_sources(ROOT)
    assert [c.verdict for c in checks] == [SourceVerdict.MATCH] * 3, checks


def set_code(w3: Web3, address: str, code: bytes) -> None:
    w3.provider.make_request(RPCEndpoint("anvil_setCode"), [address, "0x" + code.hex()])


@pytest.mark.anvil
def test_a_deployment_matches_and_a_tampered_one_is_reported_by_cli_and_route(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The report is a table: no cell may wrap. The console keeps the width it was built with
    # (80 under pytest-xdist), so set the width itself, as tests/test_cli.py does.
    monkeypatch.setattr(console, "_width", 400)
    with Anvil(hardfork="paris") as node:
        roles = service_roles(tmp_path)
        admin = Account.create().address
        deployed = deploy_cli(node, funded(node), tmp_path, "--admin", admin, "--roles", str(roles))
        assert deployed.exit_code == 0, deployed.output
        book_file = tmp_path / "deployments" / "31337.json"
        command = ["integrity", "--rpc", node.url, "--address-book", str(book_file), "--no-source"]
        clean = CliRunner().invoke(app, command)
        assert clean.exit_code == 0, clean.output
        assert "integrity: match" in clean.output
        assert "checked against the recorded deployment" in clean.output

        rt = runtime_from_book(node, book_file, monkeypatch)
        try:
            with TestClient(create_app(rt)) as client:
                body = client.get("/v1/integrity").json()
                assert body["ok"] is True
                assert body["checked_against_address_book"] is True
                assert [c["verdict"] for c in body["contracts"]] == ["match"] * 3

                book = load(book_file)
                w3 = rt.node.w3
                registry = bytearray(w3.eth.get_code(book.address_of("AgreementRegistry")))
                registry[100] ^= 0xFF  # one byte of the registry's code
                set_code(w3, book.address_of("AgreementRegistry"), bytes(registry))
                set_code(w3, book.address_of("LoanLedger"), runtime_code("FundFlow"))
                fundflow = bytearray(w3.eth.get_code(book.address_of("FundFlow")))
                start, length = spans("FundFlow")[0]  # FundFlow._ledger: a rogue ledger
                fundflow[start : start + length] = bytes(12) + bytes.fromhex("66" * 20)
                set_code(w3, book.address_of("FundFlow"), bytes(fundflow))

                tampered = CliRunner().invoke(app, command)
                assert tampered.exit_code == 1, tampered.output
                assert "integrity: MISMATCH" in tampered.output
                body = client.get("/v1/integrity").json()
        finally:
            rt.close()
    assert body["ok"] is False
    registry_check, ledger_check, fundflow_check = body["contracts"]
    assert registry_check["verdict"] == "code_differs"
    assert registry_check["offset"] == 100
    assert ledger_check["verdict"] == "length_differs"
    assert fundflow_check["verdict"] == "immutable_differs"
    assert fundflow_check["immutable"] == "FundFlow._ledger"
    assert "0x" + "66" * 20 in fundflow_check["detail"]
    for verdict in ("code_differs", "length_differs", "immutable_differs", "FundFlow._ledger"):
        assert verdict in tampered.output
