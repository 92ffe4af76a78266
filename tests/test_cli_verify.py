"""The read-only verifier: `loantrace verify` and `verify-certificate` with only a node.

They run as real processes in an empty working directory and an empty HOME: the chain head,
the directory and HOME must be unchanged afterwards (no key, no database, no transaction, no
file), and batched documents are found from published manifests, without the lender's receipt.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loantrace.domain.hexcodec import to_hex
from tests.conftest import BoundChain, bound_runtime, make_signed

pytestmark = pytest.mark.anvil
LOANTRACE = str(Path(sys.executable).with_name("loantrace"))


@pytest.fixture
def notarised(anvil_chain: BoundChain, tmp_path: Path) -> dict[str, Any]:
    """A single and a batch of three, notarised by a service publishing its manifests."""
    folder = tmp_path / "published"
    rt = bound_runtime(anvil_chain, manifest_dir=folder)
    single = make_signed(rt)
    rt.notary.notarise(single.submission)
    batch = [make_signed(rt) for _ in range(3)]
    receipts = rt.notary.notarise_batch([s.submission for s in batch])
    cert = rt.certificates.issue(rt.certificates.record(batch[2].submission.digest))
    docs = tmp_path / "documents"
    docs.mkdir()
    (docs / "single.pdf").write_bytes(single.document)
    (docs / "batched.pdf").write_bytes(batch[2].document)
    (docs / "cert.json").write_text(json.dumps(cert))
    out = {
        "rpc": anvil_chain.node.w3.provider.endpoint_uri,  # type: ignore[attr-defined]
        "registry": rt.registry.address,
        "folder": folder,
        "docs": docs,
        "node": anvil_chain.node,
        "root": receipts[0].merkle["root"],  # type: ignore[index]
        "digest": to_hex(batch[2].submission.digest),
    }
    rt.close()
    return out


def _run(args: list[str], cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_DATA_HOME": str(home / "data")}
    return subprocess.run(
        [LOANTRACE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _tree(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    cwd.mkdir()
    home.mkdir()
    yield cwd, home
    assert _tree(cwd) == []  # nothing was created anywhere
    assert _tree(home) == []


def test_verify_with_only_rpc_and_registry_changes_nothing(
    notarised: dict[str, Any], sandbox: tuple[Path, Path]
) -> None:
    cwd, home = sandbox
    node = notarised["node"]
    head, nonce = node.head(), node.w3.eth.get_transaction_count(node.w3.eth.accounts[0])
    where = ["--rpc", notarised["rpc"], "--registry", notarised["registry"], "--json"]
    done = _run(["verify", str(notarised["docs"] / "single.pdf"), *where], cwd, home)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["verdict"], report["mode"]) == ("valid", "single")
    assert report["genesis_hash"] == node.genesis_hash
    assert report["signatures_match"] is True
    tampered = cwd.parent / "tampered.pdf"
    tampered.write_bytes((notarised["docs"] / "single.pdf").read_bytes() + b"!")
    done = _run(["verify", str(tampered), *where], cwd, home)
    assert done.returncode == 1
    assert json.loads(done.stdout)["verdict"] == "not_found"
    assert node.head() == head
    assert node.w3.eth.get_transaction_count(node.w3.eth.accounts[0]) == nonce


def test_a_batched_document_is_found_from_published_manifests(
    notarised: dict[str, Any], sandbox: tuple[Path, Path]
) -> None:
    cwd, home = sandbox
    where = ["--rpc", notarised["rpc"], "--registry", notarised["registry"], "--json"]
    batched = str(notarised["docs"] / "batched.pdf")
    alone = _run(["verify", batched, *where], cwd, home)  # no receipt, no manifest
    assert alone.returncode == 1
    assert json.loads(alone.stdout)["verdict"] == "not_found"
    folder = notarised["folder"]
    found = _run(["verify", batched, *where, "--manifests", str(folder)], cwd, home)
    assert found.returncode == 0, found.stderr
    report = json.loads(found.stdout)
    assert (report["verdict"], report["mode"]) == ("valid", "batch")
    assert report["merkle_root"] == notarised["root"]
    # The same from a static web host serving the folder: a URL template with {sha256}.
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{{sha256}}.json"
        via_http = _run(["verify", notarised["digest"], *where, "--manifests", url], cwd, home)
    finally:
        server.shutdown()
    assert via_http.returncode == 0, via_http.stderr
    assert json.loads(via_http.stdout)["verdict"] == "valid"


def test_a_tampered_manifest_is_not_believed(
    notarised: dict[str, Any], sandbox: tuple[Path, Path], tmp_path: Path
) -> None:
    cwd, home = sandbox
    mirror = tmp_path / "mirror"
    shutil.copytree(notarised["folder"], mirror)
    (manifest,) = mirror.glob("*.json")
    body = manifest.read_text()
    manifest.write_text(body.replace('"treeIndex":', '"treeIndex": ', 1))  # not the hashed bytes
    where = ["--rpc", notarised["rpc"], "--registry", notarised["registry"], "--json"]
    done = _run(["verify", notarised["digest"], *where, "--manifests", str(mirror)], cwd, home)
    assert done.returncode == 1
    assert json.loads(done.stdout)["verdict"] == "not_found"


def test_verify_certificate_cli(notarised: dict[str, Any], sandbox: tuple[Path, Path]) -> None:
    cwd, home = sandbox
    docs = notarised["docs"]
    args = ["verify-certificate", str(docs / "cert.json"), "--rpc", notarised["rpc"], "--json"]
    done = _run([*args, "--document", str(docs / "batched.pdf")], cwd, home)
    assert done.returncode == 0, done.stderr
    verdict = json.loads(done.stdout)
    assert verdict["result"] == "valid"
    assert [c["name"] for c in verdict["checks"]] == [
        "format", "document", "chain", "anchor", "signatures", "proof", "anchored", "status",
        "certificate_id",
    ]  # fmt: skip
    wrong = _run([*args, "--document", str(docs / "single.pdf")], cwd, home)
    assert wrong.returncode == 1
    assert json.loads(wrong.stdout)["result"] == "wrong_document"
    other = _run([*args, "--registry", "0x" + "12" * 20], cwd, home)
    assert json.loads(other.stdout)["result"] == "wrong_chain"
    human = _run(args[:-1], cwd, home)
    assert human.returncode == 0
    assert "result: valid" in human.stdout
    unreachable = _run([*args[:2], "--rpc", "http://127.0.0.1:9"], cwd, home)
    assert unreachable.returncode == 2
    assert "cannot reach the node" in unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1


def test_verify_without_a_node_says_what_to_give(sandbox: tuple[Path, Path]) -> None:
    cwd, home = sandbox
    done = _run(["verify", "0x" + "ab" * 32], cwd, home)
    assert done.returncode == 2
    assert "--rpc and --registry" in done.stderr
