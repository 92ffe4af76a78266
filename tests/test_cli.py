"""CLI: the demo, and notarise/sign/verify against a service over real HTTP (uvicorn)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from eth_account import Account
from typer.testing import CliRunner

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.cli import app
from loantrace.cli_common import console
from loantrace.devtools.anvil import Anvil, free_port
from loantrace.domain.agreement import Agreement, Domain, sign_agreement
from loantrace.domain.digest import document_digest
from loantrace.domain.hexcodec import to_hex
from loantrace.settings import DEV_NOTARY_KEY, Settings
from tests.conftest import SAMPLE_TERMS

runner = CliRunner()


@pytest.fixture
def api_url(embedded_runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A real uvicorn server on a free loopback port; the CLI calls it as the lender."""
    _key, token = embedded_runtime.access.create_key(
        by="tests", role="lender", name="cli", lender=embedded_runtime.notary.lender
    )
    monkeypatch.setenv("LOANTRACE_API_KEY", token)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(embedded_runtime), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.mark.slow
def test_demo_exits_zero_and_shows_valid_and_failed_verification() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert "not_found" in result.output
    assert "all steps gave the expected outcome" in result.output
    for stage in ("due_soon", "overdue", "bucket_1_30", "bucket_31_60"):
        assert stage in result.output


def _sign(path: Path, api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps(SAMPLE_TERMS.to_json()))
    monkeypatch.setenv("LOANTRACE_BORROWER_KEY", to_hex(bytes(Account.create().key)))
    result = runner.invoke(
        app,
        [
            "sign",
            str(path),
            "--terms",
            str(terms),
            "--api",
            api,
            "--borrower-commitment",
            "0x" + "5a" * 32,
        ],
    )
    assert result.exit_code == 0, result.output


def test_sign_notarise_verify_over_http(
    api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = tmp_path / "loan-0001.pdf"
    document.write_bytes(b"%PDF-1.7 loan 0001")
    _sign(document, api_url, tmp_path, monkeypatch)
    result = runner.invoke(app, ["notarise", str(document), "--api", api_url])
    assert result.exit_code == 0, result.output
    receipt = json.loads((tmp_path / "loan-0001.pdf.receipt.json").read_text())
    assert receipt["status"] == "notarised"
    result = runner.invoke(app, ["verify", str(document), "--api", api_url])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    tampered = tmp_path / "loan-0001-copy.pdf"
    tampered.write_bytes(b"%PDF-1.7 loan 0002")
    result = runner.invoke(app, ["verify", str(tampered), "--api", api_url])
    assert result.exit_code == 1
    assert "not_found" in result.output


def test_notarise_many_files_as_a_batch_and_verify_with_receipt(
    api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = []
    for i in range(3):
        path = tmp_path / f"loan-{i}.txt"
        path.write_bytes(f"agreement {i}".encode())
        _sign(path, api_url, tmp_path, monkeypatch)
        files.append(path)
    result = runner.invoke(app, ["notarise", *map(str, files), "--api", api_url])
    assert result.exit_code == 0, result.output
    receipt_path = tmp_path / "loan-1.txt.receipt.json"
    assert json.loads(receipt_path.read_text())["mode"] == "batch"
    result = runner.invoke(
        app, ["verify", str(files[1]), "--receipt", str(receipt_path), "--api", api_url]
    )
    assert result.exit_code == 0, result.output
    assert "merkle_proof_valid" in result.output


def test_notarise_without_sidecar_and_api_errors_fail_clearly(api_url: str, tmp_path: Path) -> None:
    document = tmp_path / "orphan.pdf"
    document.write_bytes(b"no sidecar")
    result = runner.invoke(app, ["notarise", str(document), "--api", api_url])
    assert result.exit_code == 2
    assert "agreement.json" in result.output
    (tmp_path / "orphan.pdf.agreement.json").write_text(
        json.dumps(
            {
                "borrower": "0x12",
                "borrower_commitment": "0x",
                "borrower_signature": "0x",
                "terms": SAMPLE_TERMS.to_json(),
            }
        )
    )
    result = runner.invoke(app, ["notarise", str(document), "--api", api_url])
    assert result.exit_code == 2
    assert "422" in result.output


def test_http_errors_are_problem_json_over_the_wire(api_url: str) -> None:
    response = httpx.post(f"{api_url}/v1/verify", data={"digest": "0xabc"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    big = httpx.post(
        f"{api_url}/v1/verify",
        files={"document": ("x", b"0" * (21 * 1024 * 1024), "application/octet-stream")},
    )
    assert big.status_code == 413
    assert big.json()["type"] == "urn:loantrace:problem:payload-too-large"


@pytest.mark.anvil
def test_notarise_and_verify_against_configured_node_and_database(
    anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --api the CLI uses LOANTRACE_RPC_URL and LOANTRACE_DATABASE_URL directly."""
    monkeypatch.setenv("LOANTRACE_RPC_URL", anvil.url)
    monkeypatch.setenv("LOANTRACE_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LOANTRACE_NOTARY_KEY", to_hex(Account.create().key))
    # First run deploys the registry and binds the database; read its domain back.
    rt = Runtime.start(Settings())
    domain: Domain = rt.registry.domain
    lender = rt.notary.lender
    rt.close()
    assert lender != Account.from_key(DEV_NOTARY_KEY).address
    document = tmp_path / "local.pdf"
    document.write_bytes(b"local mode agreement")
    borrower = Account.create()
    agreement = Agreement(
        digest=document_digest(document.read_bytes()),
        lender=lender,
        borrower=borrower.address,
        borrower_commitment=b"\x01" * 32,
        terms_digest=SAMPLE_TERMS.digest(),
    )
    sidecar = {
        "borrower": borrower.address,
        "borrower_commitment": to_hex(b"\x01" * 32),
        "borrower_signature": to_hex(sign_agreement(agreement, domain, borrower.key)),
        "terms": SAMPLE_TERMS.to_json(),
    }
    (tmp_path / "local.pdf.agreement.json").write_text(json.dumps(sidecar))
    result = runner.invoke(app, ["notarise", str(document)])
    assert result.exit_code == 0, result.output
    where = ["--rpc", anvil.url, "--registry", domain.verifying_contract]
    result = runner.invoke(app, ["verify", str(document), *where])  # read-only
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def test_keeper_refuses_the_embedded_chain() -> None:
    result = runner.invoke(app, ["keeper", "--once"])
    assert result.exit_code == 2
    assert "serve" in result.output


@pytest.mark.anvil
def test_keeper_once_against_a_node(
    anvil: Anvil, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANTRACE_RPC_URL", anvil.url)
    monkeypatch.setenv("LOANTRACE_DATABASE_URL", f"sqlite:///{tmp_path / 'keeper.db'}")
    monkeypatch.setenv("LOANTRACE_NOTARY_KEY", to_hex(Account.create().key))
    result = runner.invoke(app, ["keeper", "--once"])
    assert result.exit_code == 0, result.output
    assert "performed 0 upkeeps" in result.output


@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the CLI print its tables 400 columns wide, so that no cell wraps.

    The rich console is built when `loantrace.cli_common` is imported and keeps the COLUMNS
    found then; a COLUMNS given to one `runner.invoke(env=...)` does not reach it. Under
    pytest-xdist the workers start with COLUMNS=80 (the controlling pytest imports readline,
    which exports COLUMNS and LINES to the processes it starts), so set the width itself.
    """
    monkeypatch.setattr(console, "_width", 400)


def test_trace_and_audit_commands_print_findings(
    api_url: str, embedded_runtime: Runtime, wide_console: None
) -> None:
    from loantrace.devtools.demo import DemoResult
    from loantrace.devtools.demo_flows import run_flow_demo

    rt = embedded_runtime
    findings = run_flow_demo(rt, DemoResult(rt.node.chain_id, rt.registry.address, "x"))
    stock = next(f.loan_id for f in findings if str(f.rule) == "prohibited_use")
    result = runner.invoke(app, ["trace", stock, "--policy", "haircut", "--api", api_url])
    assert result.exit_code == 0, result.output
    assert "SECURITIES" in result.output
    result = runner.invoke(app, ["audit", "--severity", "high", "--api", api_url])
    assert result.exit_code == 0, result.output
    for rule in ("prohibited_use", "loan_repays_loan", "round_trip"):
        assert rule in result.output
    result = runner.invoke(app, ["audit", "--loan", stock, "--api", api_url])
    assert "prohibited_use" in result.output


def test_trace_and_audit_print_json_alone_on_stdout(
    api_url: str, embedded_runtime: Runtime
) -> None:
    from loantrace.devtools.demo import DemoResult
    from loantrace.devtools.demo_flows import run_flow_demo

    rt = embedded_runtime
    findings = run_flow_demo(rt, DemoResult(rt.node.chain_id, rt.registry.address, "x"))
    stock = next(f.loan_id for f in findings if str(f.rule) == "prohibited_use")
    traced = runner.invoke(app, ["trace", stock, "--policy", "haircut", "--json", "--api", api_url])
    assert traced.exit_code == 0, traced.output
    graph = json.loads(traced.stdout)
    assert {"loan_id", "policy", "max_hops", "truncated", "nodes", "edges", "destinations"} <= set(
        graph
    )
    assert graph["loan_id"] == stock
    assert graph["policy"] == "haircut"
    assert "SECURITIES" in {d["category"] for d in graph["destinations"]}
    assert all(e["evidence"]["tx_hash"].startswith("0x") for e in graph["edges"])
    audited = runner.invoke(app, ["audit", "--severity", "high", "--json", "--api", api_url])
    assert audited.exit_code == 0, audited.output
    report = json.loads(audited.stdout)
    assert report["count"] == len(report["findings"]) > 0
    assert {"prohibited_use", "loan_repays_loan", "round_trip"} <= {
        f["rule"] for f in report["findings"]
    }
    assert {f["severity"] for f in report["findings"]} == {"high"}


def test_sign_and_notarise_report_json_over_http(
    api_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = tmp_path / "loan-json.pdf"
    document.write_bytes(b"%PDF-1.7 loan json")
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps(SAMPLE_TERMS.to_json()))
    monkeypatch.setenv("LOANTRACE_BORROWER_KEY", to_hex(bytes(Account.create().key)))
    options = ["--terms", str(terms), "--borrower-commitment", "0x" + "5a" * 32]
    signed = runner.invoke(app, ["sign", str(document), *options, "--api", api_url, "--json"])
    assert signed.exit_code == 0, signed.output
    sidecar = json.loads(signed.stdout)
    assert sidecar["sidecar"] == str(tmp_path / "loan-json.pdf.agreement.json")
    assert sidecar["digest"] == to_hex(document_digest(document.read_bytes()))
    assert sidecar["disclosure"]["instalments"] == SAMPLE_TERMS.instalments
    notarised = runner.invoke(app, ["notarise", str(document), "--json", "--api", api_url])
    assert notarised.exit_code == 0, notarised.output
    result = json.loads(notarised.stdout)
    assert [n["digest"] for n in result["notarised"]] == [sidecar["digest"]]
    assert result["notarised"][0]["mode"] == "single"
    again = runner.invoke(app, ["notarise", str(document), "--force", "--json", "--api", api_url])
    assert again.exit_code == 0, again.output
    recovered = json.loads(again.stdout)["recovered"]  # asked the service, sent nothing
    assert [r["tx_hash"] for r in recovered] == [result["notarised"][0]["tx_hash"]]
