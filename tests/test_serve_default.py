"""`loantrace serve` with no settings keeps its chain and database in the data directory:
a SIGKILL loses nothing, each data directory is its own chain, and a node that is no longer
the bound chain stops readiness and writes at once."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from loantrace.chain.localnode import find_anvil
from loantrace.devtools.sample_terms import terms_at
from tests.api.conftest import ServiceProcess

pytestmark = pytest.mark.anvil

ADMIN = "admin-" + secrets.token_hex(16)


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANTRACE_")}
    return env | {
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LOANTRACE_DATA_DIR": str(data_dir),
        "LOANTRACE_ADMIN_KEY": ADMIN,
        "LOANTRACE_LOG_LEVEL": "WARNING",
    }


def _lender_token(url: str) -> str:
    """Make a key for the service's (first) lender with the admin token."""
    admin = {"Authorization": f"Bearer {ADMIN}"}
    lender = httpx.get(f"{url}/readyz").json()["lender"]
    body = {"role": "lender", "lender": lender, "name": "t"}
    return str(httpx.post(f"{url}/v1/keys", json=body, headers=admin).json()["token"])


def _signed_form(url: str) -> dict[str, str]:
    """Sign as a borrower's wallet would: the typed data the service gives."""
    borrower = Account.create()
    terms = terms_at(int(time.time()), principal=10_000, instalments=1).to_json()
    fields = {
        "digest": "0x" + secrets.token_hex(32),
        "borrower": borrower.address,
        "borrower_commitment": "0x" + secrets.token_hex(32),
        "terms": json.dumps(terms),
    }
    typed = httpx.get(f"{url}/v1/agreements/typed-data", params=fields).json()
    typed.pop("disclosure")
    signature = Account.sign_message(encode_typed_data(full_message=typed), borrower.key)
    return fields | {"borrower_signature": "0x" + bytes(signature.signature).hex()}


def _post_agreement(url: str, token: str, form: dict[str, str] | None = None) -> httpx.Response:
    """Notarise a borrower-signed agreement."""
    headers = {"Authorization": f"Bearer {token}"}
    data = form or _signed_form(url)
    return httpx.post(f"{url}/v1/agreements", data=data, headers=headers, timeout=60)


def _notarise(url: str) -> dict[str, Any]:
    response = _post_agreement(url, _lender_token(url))
    assert response.status_code == 201, response.text
    return dict(response.json())


def _verdict(url: str, digest: str, **extra: str) -> dict[str, Any]:
    return dict(httpx.post(f"{url}/v1/verify", data={"digest": digest, **extra}).json())


def _anvil_of(data_dir: Path) -> tuple[int, int]:
    """Return the pid and port of the local chain serving `data_dir`."""
    state = str(data_dir / "chain" / "state.json")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            args = (Path("/proc") / pid / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if state.encode() in args:
            return int(pid), int(args[args.index(b"--port") + 1])
    raise AssertionError("no local chain process found")


def test_the_default_serve_keeps_agreements_across_a_sigkill(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    service = ServiceProcess(_env(data_dir), tmp_path / "serve.log")
    service.start()
    try:
        receipt = _notarise(service.url)
        assert _verdict(service.url, receipt["digest"])["verdict"] == "valid"
        service.kill()  # SIGKILL: no shutdown handler runs in serve
        service.start()
        assert _verdict(service.url, receipt["digest"])["verdict"] == "valid"
        assert (data_dir / "loantrace.db").exists()
        ready = httpx.get(f"{service.url}/readyz").json()
        assert ready["status"] == "ready"
        second = _notarise(service.url)  # the restarted service writes, too
        assert second["chain_id"] == receipt["chain_id"]
    finally:
        service.stop()
    other = ServiceProcess(_env(tmp_path / "elsewhere"), tmp_path / "other.log")
    other.start()
    try:  # another data directory is another chain: a foreign receipt is not "not found"
        report = _verdict(other.url, receipt["digest"], chain_id=str(receipt["chain_id"]))
        assert report["verdict"] == "other_chain", report
    finally:
        other.stop()


def test_a_reset_node_stops_readiness_and_writes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    service = ServiceProcess(_env(data_dir), tmp_path / "serve.log")
    service.start()
    replacement = None
    try:
        token = _lender_token(service.url)
        receipt = _notarise(service.url)
        form = _signed_form(service.url)
        pid, port = _anvil_of(data_dir)
        os.kill(pid, 9)
        time.sleep(0.5)
        chain_id = str(receipt["chain_id"])  # same id, same port: only the genesis differs
        replacement = subprocess.Popen(
            [str(find_anvil()), "--port", str(port), "--chain-id", chain_id, "--silent"]
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            ready = httpx.get(f"{service.url}/readyz")
            if ready.status_code != 200 or "block 0" in ready.text:
                break
            time.sleep(0.2)
        time.sleep(2.5)  # past the guard's cache
        ready = httpx.get(f"{service.url}/readyz")
        assert ready.status_code == 503, ready.text
        assert "genesis" in ready.json()["detail"]
        refused = _post_agreement(service.url, token, form)
        assert refused.status_code == 503, refused.text
        assert refused.json()["type"].endswith("chain-mismatch")
    finally:
        service.stop()
        if replacement is not None:
            replacement.terminate()
            replacement.wait(timeout=10)
