"""The committed artifacts are exactly what the pinned solc-js compiles from contracts/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from loantrace.chain.compiler import ARTIFACTS_DIR, CONTRACTS, render, write_artifacts
from loantrace.chain.registry import matches_build

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def fresh_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "solc").is_dir():
        if os.environ.get("LOANTRACE_TEST_REQUIRE_ANVIL") == "1":
            pytest.fail("node_modules/solc is required: run `npm ci`")
        pytest.skip("solc-js not installed")
    out = tmp_path_factory.mktemp("artifacts")
    write_artifacts(ROOT, out)
    return out


@pytest.mark.parametrize("name", CONTRACTS)
def test_committed_artifact_equals_fresh_compile(fresh_artifacts: Path, name: str) -> None:
    committed = (ARTIFACTS_DIR / f"{name}.json").read_text()
    fresh = (fresh_artifacts / f"{name}.json").read_text()
    assert fresh == committed, f"{name}.json is stale: run `loantrace compile` and commit it"


def test_artifact_records_compiler_version_and_settings() -> None:
    import json

    artifact = json.loads((ARTIFACTS_DIR / "AgreementRegistry.json").read_text())
    assert artifact["compiler"]["version"].startswith("0.8.")
    assert artifact["compiler"]["settings"]["optimizer"]["enabled"] is True
    assert artifact["abi"]
    assert len(artifact["bytecode"]) > 1000
    assert render(artifact) == (ARTIFACTS_DIR / "AgreementRegistry.json").read_text()


def test_matches_build_ignores_only_immutables() -> None:
    import json

    artifact = json.loads((ARTIFACTS_DIR / "AgreementRegistry.json").read_text())
    code = bytes.fromhex(artifact["deployedBytecode"][2:])
    assert matches_build(code, artifact)
    assert not matches_build(code[:-1], artifact)
    changed = bytearray(code)
    changed[1] ^= 0xFF
    assert not matches_build(bytes(changed), artifact)
