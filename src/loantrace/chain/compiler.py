"""Compile the Solidity sources offline (solc-js through py-solc-x) into committed artifacts."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError

from loantrace.domain.errors import ConfigurationError

CONTRACTS = ("AgreementRegistry", "LoanLedger", "FundFlow")
ARTIFACTS_DIR = Path(__file__).with_name("artifacts")
# paris: no PUSH0 (shanghai) nor MCOPY/transient storage (cancun), which the consortium
# chains we deploy to do not all accept yet. A later version is a `--evm-version` away.
EVM_VERSION = "paris"
EVM_VERSIONS = (
    "byzantium",
    "constantinople",
    "petersburg",
    "istanbul",
    "berlin",
    "london",
    "paris",
    "shanghai",
    "cancun",
    "prague",
)
OPTIMIZER_RUNS = 10_000


def find_source_root(start: Path | None = None) -> Path:
    """Return the repository root holding contracts/ and the solc wrapper."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents, *Path(__file__).resolve().parents):
        if (candidate / "contracts").is_dir() and (candidate / "scripts" / "solc").is_file():
            return candidate
    raise ConfigurationError(
        "cannot find the loantrace source tree (contracts/ and scripts/solc); "
        "run `loantrace compile` from a checkout after `npm ci`"
    )


def standard_input(root: Path, evm_version: str = EVM_VERSION) -> dict[str, Any]:
    """Build the solc standard-JSON input for every contract source."""
    if evm_version not in EVM_VERSIONS:
        raise ConfigurationError(
            f"unknown EVM version {evm_version!r}: one of {', '.join(EVM_VERSIONS)}"
        )
    sources = {
        f"contracts/{path.name}": {"content": path.read_text(encoding="utf-8")}
        for path in sorted((root / "contracts").glob("*.sol"))
    }
    return {
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "evmVersion": evm_version,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "viaIR": False,
            "metadata": {"bytecodeHash": "none"},
            "outputSelection": {
                "*": {
                    "": ["ast"],
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                    ],
                }
            },
        },
    }


def solc_version(solc: Path) -> str:
    """Return the full version string the solc-compatible command reports."""
    out = subprocess.run([str(solc), "--version"], check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1].removeprefix("Version: ")


def compile_artifacts(root: Path, evm_version: str = EVM_VERSION) -> dict[str, dict[str, Any]]:
    """Compile every contract and return its artifact, keyed by contract name."""
    solc = root / "scripts" / "solc"
    if not (root / "node_modules" / "solc").is_dir():
        raise ConfigurationError("solc-js is not installed: run `npm ci` first")
    data = standard_input(root, evm_version)
    try:
        output = solcx.compile_standard(data, solc_binary=solc, base_path=root)
    except SolcError as exc:
        raise ConfigurationError(f"compilation failed:\n{exc.stdout_data or exc}") from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise ConfigurationError("\n".join(e["formattedMessage"] for e in errors))
    version = solc_version(solc)
    sources = {
        name: hashlib.sha256(src["content"].encode()).hexdigest()
        for name, src in data["sources"].items()
    }
    names = immutable_names(output.get("sources", {}))
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in output["contracts"].items():
        for name, compiled in contracts.items():
            if name not in CONTRACTS:
                continue
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "abi": compiled["abi"],
                "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "immutableReferences": compiled["evm"]["deployedBytecode"]["immutableReferences"],
                "immutableNames": {
                    ref: names.get(ref, f"immutable #{ref}")
                    for ref in compiled["evm"]["deployedBytecode"]["immutableReferences"]
                },
                "compiler": {"version": version, "settings": data["settings"]},
                "sourceHashes": sources,
            }
    return artifacts


def immutable_names(sources: dict[str, Any]) -> dict[str, str]:
    """Name each immutable by its AST id: `Contract.variable`, so a report can say which."""
    found: dict[str, str] = {}

    def walk(node: Any, contract: str) -> None:
        if isinstance(node, dict):
            if node.get("nodeType") == "ContractDefinition":
                contract = str(node.get("name", contract))
            if node.get("nodeType") == "VariableDeclaration" and node.get("mutability") == (
                "immutable"
            ):
                found[str(node["id"])] = f"{contract}.{node['name']}"
            for value in node.values():
                walk(value, contract)
        elif isinstance(node, list):
            for item in node:
                walk(item, contract)

    for source in sources.values():
        walk(source.get("ast", {}), "")
    return found


def render(artifact: dict[str, Any]) -> str:
    """Serialise an artifact deterministically, so a recompile diff is meaningful."""
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def write_artifacts(
    root: Path, out_dir: Path = ARTIFACTS_DIR, *, evm_version: str = EVM_VERSION
) -> list[Path]:
    """Compile and write one JSON artifact per contract; return the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in sorted(compile_artifacts(root, evm_version).items()):
        path = out_dir / f"{name}.json"
        path.write_text(render(artifact), encoding="utf-8")
        written.append(path)
    return written
