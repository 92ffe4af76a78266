"""Slither finds nothing of High or Medium impact in contracts/, offline through solc-js."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "slither.config.json"
# The project venv's slither, else one kept in its own venv (slither pins web3 below ours).
SLITHER_CANDIDATES = (Path(sys.executable).with_name("slither"), ROOT / ".venv-slither/bin/slither")
BLOCKING_IMPACTS = ("High", "Medium")

pytestmark = pytest.mark.slow


def _config() -> dict[str, Any]:
    config: dict[str, Any] = json.loads(CONFIG.read_text(encoding="utf-8"))
    return config


def _excluded(config: dict[str, Any]) -> set[str]:
    return {name.strip() for name in (config.get("detectors_to_exclude") or "").split(",") if name}


def _missing(tool: str) -> NoReturn:
    if os.environ.get("LOANTRACE_TEST_REQUIRE_NODE") == "1":
        pytest.fail(f"{tool} is required")
    pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="module")
def slither() -> Path:
    found = next((path for path in SLITHER_CANDIDATES if path.is_file()), None)
    if found is None:
        _missing("slither-analyzer")
    return found


@pytest.fixture(scope="module")
def report(slither: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if shutil.which("node") is None or not (ROOT / "node_modules" / "solc").is_dir():
        _missing("solc-js (node_modules/solc: run `npm ci`)")
    # crytic-compile runs `solc` from PATH for standard JSON (the config's `solc` only answers
    # --version), so the solc-js wrapper goes first on PATH under that name; nothing downloads.
    shim = tmp_path_factory.mktemp("solc-shim")
    (shim / "solc").symlink_to(ROOT / "scripts" / "solc")
    env = {**os.environ, "PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(slither), "contracts/", "--config-file", str(CONFIG), "--json", "-"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    try:
        output: dict[str, Any] = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"slither printed no JSON (exit {done.returncode}):\n{done.stderr[-4000:]}")
    assert output["success"], f"slither failed: {output['error']}\n{done.stderr[-4000:]}"
    return output


def _in_our_contracts(finding: dict[str, Any]) -> bool:
    files = {
        element["source_mapping"]["filename_relative"]
        for element in finding.get("elements", [])
        if element.get("source_mapping", {}).get("filename_relative")
    }
    return any(name.startswith("contracts/") for name in files)


def _describe(finding: dict[str, Any]) -> str:
    return (
        f"[{finding['impact']}/{finding['confidence']}] {finding['check']} at "
        f"{finding.get('first_markdown_element', '?')}\n{finding['description'].strip()}"
    )


def test_slither_reports_no_high_or_medium_findings_in_contracts(report: dict[str, Any]) -> None:
    findings = report["results"].get("detectors", [])
    blocking = [f for f in findings if f["impact"] in BLOCKING_IMPACTS and _in_our_contracts(f)]
    assert not blocking, "slither findings of High or Medium impact:\n\n" + "\n\n".join(
        _describe(f) for f in blocking
    )


def test_slither_config_gives_a_reason_for_every_excluded_detector() -> None:
    config = _config()
    reasons: dict[str, str] = config.get("_excluded_detectors_reasons", {})
    excluded = _excluded(config)
    missing = sorted(name for name in excluded if not reasons.get(name, "").strip())
    assert not missing, f"excluded detectors without a reason: {missing}"
    stale = sorted(set(reasons) - excluded)
    assert not stale, f"reasons for detectors that are not excluded: {stale}"


def test_slither_config_excludes_only_detectors_slither_knows(slither: Path) -> None:
    listed = subprocess.run(
        [str(slither), "--list-detectors-json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    known = {detector["check"] for detector in json.loads(listed.stdout)}
    unknown = sorted(_excluded(_config()) - known)
    assert not unknown, f"slither has no detectors named {unknown}"
