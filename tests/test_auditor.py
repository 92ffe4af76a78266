"""An auditor's own read-only index: `AuditorRuntime` copies the chain into the auditor's
database and finds what the service finds, with no key and no transaction."""

from __future__ import annotations

from pathlib import Path

import pytest

from loantrace.bootstrap_auditor import AuditorRuntime
from loantrace.devtools.demo import DemoResult
from loantrace.devtools.demo_flows import run_flow_demo
from loantrace.domain.errors import ConfigurationError
from loantrace.domain.tracing import Policy
from loantrace.settings import Settings
from tests.conftest import BoundChain, bound_runtime

pytestmark = pytest.mark.anvil


def test_an_auditor_indexes_the_chain_and_finds_the_same_findings(
    anvil_chain: BoundChain, tmp_path: Path
) -> None:
    rt = bound_runtime(anvil_chain)
    findings = run_flow_demo(rt, DemoResult(rt.node.chain_id, rt.registry.address, "x"))
    ours = sorted((f.loan_id, str(f.rule)) for f in rt.flows.portfolio())
    rt.close()
    node = anvil_chain.node
    head = node.head()
    deployment = anvil_chain.deployment
    settings = Settings(
        mode="prod",  # no dev key, no deployment: it could not send if it wanted to
        read_only=True,
        rpc_url=node.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        database_url=f"sqlite:///{tmp_path / 'auditor.db'}",
        registry_address=deployment.registry,
        ledger_address=deployment.ledger,
        fundflow_address=deployment.fundflow,
        ledger_start_block=deployment.start_block,
        index_confirmations=0,
    )
    auditor = AuditorRuntime.start(settings)
    run = auditor.indexer.run_once()
    assert run.events > 0
    theirs = sorted((f.loan_id, str(f.rule)) for f in auditor.flows.portfolio())
    assert theirs == ours
    stock = next(f.loan_id for f in findings if str(f.rule) == "prohibited_use")
    graph = auditor.flows.trace(stock, policy=Policy.HAIRCUT, max_hops=6)
    assert any(d.category == "SECURITIES" for d in graph.destinations)
    auditor.close()
    assert node.head() == head  # nothing was sent
    again = AuditorRuntime.start(settings)  # the database is bound to this chain
    assert again.indexer.run_once().events == 0
    again.close()


def test_an_auditor_runtime_names_what_it_lacks(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="LOANTRACE_RPC_URL"):
        AuditorRuntime.start(Settings(read_only=True))
    with pytest.raises(ConfigurationError, match="LOANTRACE_DATABASE_URL"):
        AuditorRuntime.start(Settings(read_only=True, rpc_url="http://127.0.0.1:9"))
    with pytest.raises(ConfigurationError, match="ADDRESS"):
        AuditorRuntime.start(
            Settings(
                read_only=True,
                rpc_url="http://127.0.0.1:9",
                database_url=f"sqlite:///{tmp_path / 'a.db'}",
            )
        )


def test_the_cli_indexes_and_audits_read_only_for_an_auditor(
    anvil_chain: BoundChain, tmp_path: Path
) -> None:
    import json
    import os
    import subprocess
    import sys

    rt = bound_runtime(anvil_chain)
    findings = run_flow_demo(rt, DemoResult(rt.node.chain_id, rt.registry.address, "x"))
    rt.close()
    stock = next(f.loan_id for f in findings if str(f.rule) == "prohibited_use")
    node, deployment = anvil_chain.node, anvil_chain.deployment
    head = node.head()
    home = tmp_path / "home"
    home.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LOANTRACE_MODE": "prod",
        "LOANTRACE_READ_ONLY": "true",
        "LOANTRACE_RPC_URL": node.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        "LOANTRACE_DATABASE_URL": f"sqlite:///{tmp_path / 'auditor.db'}",
        "LOANTRACE_REGISTRY_ADDRESS": deployment.registry,
        "LOANTRACE_LEDGER_ADDRESS": deployment.ledger,
        "LOANTRACE_FUNDFLOW_ADDRESS": deployment.fundflow,
        "LOANTRACE_LEDGER_START_BLOCK": str(deployment.start_block),
        "LOANTRACE_INDEX_CONFIRMATIONS": "0",
    }
    cli = str(Path(sys.executable).with_name("loantrace"))

    def run(*args: str) -> dict[str, object]:
        done = subprocess.run(
            [cli, *args, "--json"], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        result: dict[str, object] = json.loads(done.stdout)  # one JSON document
        return result

    assert int(run("index", "--once")["events"]) > 0  # type: ignore[call-overload]
    audit = run("audit", "--loan", stock)
    assert "prohibited_use" in {f["rule"] for f in audit["findings"]}  # type: ignore[attr-defined]
    assert node.head() == head
    assert list(home.iterdir()) == []
