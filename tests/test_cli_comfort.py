"""CLI comfort: `notarise DIR` (batched, idempotent), --json on stdout only, progress on a TTY.

Every test runs the real command line (typer's CliRunner, or a subprocess on terminals)
against a real anvil node and a SQLite file shared with a runtime the test holds.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner, Result

from loantrace.bootstrap import Runtime
from loantrace.cli import app
from loantrace.domain.hexcodec import to_hex
from loantrace.services.receipts import MerkleEvidence
from loantrace.store.models import ChainEventRow
from tests.conftest import BoundChain, bound_runtime, make_signed, service_env

pytestmark = pytest.mark.anvil


@dataclass
class Local:
    """A runtime on the session anvil, and the environment of a CLI sharing its database."""

    rt: Runtime
    env: dict[str, str]

    def run(self, *args: str, **extra: str) -> Result:
        """Run `loantrace ARGS` in this process with the shared settings."""
        return CliRunner().invoke(app, list(args), env=self.env | extra)


@pytest.fixture
def local(anvil_chain: BoundChain, tmp_path: Path) -> Iterator[Local]:
    """A runtime on anvil with its own SQLite file, and a CLI environment using both."""
    database = f"sqlite:///{tmp_path / 'cli.db'}"
    rt = bound_runtime(anvil_chain, database)
    url = str(rt.node.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
    yield Local(rt, service_env(rt, url, database))
    rt.close()


def signed_folder(rt: Runtime, folder: Path, names: list[str]) -> list[Path]:
    """Write borrower-signed documents with their FILE.agreement.json sidecars."""
    folder.mkdir(exist_ok=True)
    paths = []
    for name in names:
        path = folder / name
        path.write_bytes(f"%PDF-1.7 loan agreement {name} {os.urandom(8).hex()}".encode())
        sub = make_signed(rt, path.read_bytes()).submission
        sidecar = {
            "borrower": sub.borrower,
            "borrower_commitment": to_hex(sub.borrower_commitment),
            "borrower_signature": to_hex(sub.borrower_signature),
            "terms": sub.terms.to_json(),
        }
        path.with_name(name + ".agreement.json").write_text(json.dumps(sidecar))
        paths.append(path)
    return paths


def as_json(result: Result) -> Any:
    """Return the command's stdout parsed as JSON (it must be nothing else)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def receipt_of(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.with_name(path.name + ".receipt.json").read_text()))


def test_notarise_a_folder_anchors_its_documents_under_one_root_and_a_rerun_skips_them(
    local: Local, tmp_path: Path
) -> None:
    folder = tmp_path / "loans"
    docs = signed_folder(local.rt, folder, ["loan-c.pdf", "loan-a.pdf", "loan-b.pdf"])
    (folder / "notes.txt").write_text("no sidecar: not an agreement")

    first = as_json(local.run("notarise", str(folder), "--json"))

    assert [Path(n["file"]).name for n in first["notarised"]] == [
        "loan-a.pdf",
        "loan-b.pdf",
        "loan-c.pdf",
    ]
    assert first["skipped"] == [
        {"file": str(folder / "notes.txt"), "reason": "no notes.txt.agreement.json"}
    ]
    assert first["recovered"] == []
    assert len(first["batches"]) == 1
    assert first["batches"][0]["documents"] == 3
    root = first["batches"][0]["root"]
    assert root.startswith("0x")
    assert len(root) == 66
    for doc in docs:
        receipt = receipt_of(doc)
        assert receipt["digest"] == "0x" + hashlib.sha256(doc.read_bytes()).hexdigest()
        assert receipt["mode"] == "batch"
        assert receipt["merkle"]["root"] == root
        report = local.rt.verifier.verify(
            bytes.fromhex(receipt["digest"][2:]), MerkleEvidence.from_json(receipt["merkle"])
        )
        assert report.verdict == "valid"  # the root is on chain and the proof holds
    assert sorted(p.name for p in folder.glob("*.receipt.json")) == [
        "loan-a.pdf.receipt.json",
        "loan-b.pdf.receipt.json",
        "loan-c.pdf.receipt.json",
    ]

    head = local.rt.node.head()
    again = as_json(local.run("notarise", str(folder), "--json"))
    assert again["notarised"] == []
    assert again["batches"] == []
    reasons = {Path(s["file"]).name: s["reason"] for s in again["skipped"]}
    assert reasons == {
        "loan-a.pdf": "already notarised (receipt matches)",
        "loan-b.pdf": "already notarised (receipt matches)",
        "loan-c.pdf": "already notarised (receipt matches)",
        "notes.txt": "no notes.txt.agreement.json",
    }
    assert local.rt.node.head() == head  # nothing was sent

    human = local.run("notarise", str(folder))
    assert human.exit_code == 0, human.output
    assert "skipped" in human.stdout
    assert "nothing to notarise" in human.stdout


def test_batch_size_splits_a_folder_and_lost_receipts_are_recovered_without_sending(
    local: Local, tmp_path: Path
) -> None:
    folder = tmp_path / "many"
    docs = signed_folder(local.rt, folder, ["a.txt", "b.txt", "c.txt"])
    out = as_json(local.run("notarise", str(folder), "--batch-size", "2", "--json"))
    assert [b["documents"] for b in out["batches"]] == [2, 1]
    roots = [receipt_of(d)["merkle"]["root"] for d in docs]
    assert roots[0] == roots[1] != roots[2]
    assert len({b["tx_hash"] for b in out["batches"]}) == 2

    lost = docs[1].with_name("b.txt.receipt.json")
    kept = lost.read_text()
    lost.unlink()
    (folder / "a.txt.receipt.json").write_text(json.dumps({"digest": "0x" + "00" * 32}))
    head = local.rt.node.head()
    rerun = as_json(local.run("notarise", str(folder), "--json"))
    assert rerun["notarised"] == []
    assert [Path(r["file"]).name for r in rerun["recovered"]] == ["a.txt", "b.txt"]
    assert json.loads(lost.read_text()) == json.loads(kept)
    assert receipt_of(docs[0])["merkle"]["root"] == roots[0]
    assert local.rt.node.head() == head

    forced = as_json(local.run("notarise", str(folder), "--force", "--json"))
    assert forced["skipped"] == []
    assert len(forced["recovered"]) == 3
    assert local.rt.node.head() == head


def test_read_commands_print_only_json_with_stable_keys(local: Local, tmp_path: Path) -> None:
    signed_folder(local.rt, tmp_path / "one", ["single.pdf"])
    single = as_json(local.run("notarise", str(tmp_path / "one" / "single.pdf"), "--json"))
    assert single["notarised"][0]["mode"] == "single"
    assert single["notarised"][0]["root"] is None

    audit = as_json(local.run("audit", "--json"))
    assert audit == {"count": 0, "findings": []}

    created = as_json(local.run("keys", "create", "--role", "auditor", "--name", "ci", "--json"))
    assert set(created) == {
        "id",
        "role",
        "lender",
        "name",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "state",
        "token",
    }
    assert created["role"] == "auditor"
    assert created["state"] == "active"
    assert created["token"]
    listed = as_json(local.run("keys", "list", "--json"))
    mine = [k for k in listed["keys"] if k["id"] == created["id"]]
    assert mine
    assert mine[0]["state"] == "active"
    assert "token" not in mine[0]
    assert created["token"] not in json.dumps(listed)
    revoked = as_json(local.run("keys", "revoke", created["id"], "--json"))
    assert revoked["state"] == "revoked"
    assert revoked["revoked_at"]

    verdict = as_json(local.run("audit-log", "verify", "--json"))
    assert verdict["intact"] is True
    assert verdict["broken_at"] is None
    assert verdict["entries"] >= 0

    members = as_json(local.run("roles", "list", "--json"))["members"]
    assert {"role": "notary", "account": local.rt.notary.lender} in members

    keeper = as_json(local.run("keeper", "--once", "--json"))
    assert keeper["upkeeps_performed"] == 0
    assert set(keeper["deliveries"]) == {"delivered", "retried", "dead"}

    integrity = as_json(local.run("integrity", "--no-source", "--json"))
    assert integrity["ok"] is True
    assert integrity["chain_id"] == local.rt.node.chain_id
    assert {c["contract"] for c in integrity["code"]} == {
        "AgreementRegistry",
        "LoanLedger",
        "FundFlow",
    }
    assert all(c["verdict"] == "match" for c in integrity["code"])


def test_index_backfills_in_ranges_and_reports_one_json_line_per_pass(
    local: Local, tmp_path: Path
) -> None:
    signed_folder(local.rt, tmp_path / "idx", ["x.txt", "y.txt"])
    assert local.run("notarise", str(tmp_path / "idx"), "--json").exit_code == 0
    head = local.rt.node.head()
    result = local.run("index", "--once", "--json", LOANTRACE_INDEX_MAX_RANGE="1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    run = json.loads(lines[0])
    assert set(run) == {"from_block", "to_block", "events", "reorged_from"}
    assert run["to_block"] == head
    assert run["from_block"] <= head - 1
    with Session(local.rt.engine) as session:
        stored = session.exec(
            select(ChainEventRow).where(ChainEventRow.block_number >= run["from_block"])
        ).all()
    assert run["events"] == len(stored) >= 1  # the batch's anchoring event at least
    again = json.loads(local.run("index", "--once", "--json").stdout)
    assert again["events"] == 0
    assert again["to_block"] == head


def _read_all(fd: int, into: list[bytes]) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return
        if not chunk:
            return
        into.append(chunk)


def test_progress_is_drawn_on_stderr_of_a_terminal_and_never_on_stdout(
    local: Local, tmp_path: Path
) -> None:
    folder = tmp_path / "tty"
    signed_folder(local.rt, folder, ["p.txt", "q.txt", "r.txt"])
    out_master, out_slave = pty.openpty()
    err_master, err_slave = pty.openpty()
    outputs: tuple[list[bytes], list[bytes]] = ([], [])
    readers = [
        threading.Thread(target=_read_all, args=(fd, into), daemon=True)
        for fd, into in ((out_master, outputs[0]), (err_master, outputs[1]))
    ]
    for reader in readers:
        reader.start()
    process = subprocess.Popen(
        [sys.executable, "-m", "loantrace.cli", "notarise", str(folder)],
        stdin=subprocess.DEVNULL,
        stdout=out_slave,
        stderr=err_slave,
        env=local.env | {"COLUMNS": "120", "TERM": "xterm"},
    )
    os.close(out_slave)
    os.close(err_slave)
    try:
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()  # never left running when the test fails
    for reader in readers:
        reader.join(timeout=10)
    stdout, stderr = (b"".join(chunks).decode(errors="replace") for chunks in outputs)
    assert "hashing" in stderr
    assert "submitting" in stderr
    assert "3/3" in stderr
    assert "hashing" not in stdout
    assert "submitting" not in stdout
    assert "Notarised" in stdout
    assert "p.txt" in stdout
    assert len(list(folder.glob("*.receipt.json"))) == 3
