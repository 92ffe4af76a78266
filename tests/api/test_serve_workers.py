"""`serve --workers 2`: two API processes share the node, the database and the keys' locks;
concurrent writes through both are each on chain once; the workers die with `serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.chain.localnode import free_port
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil
from loantrace.domain.hexcodec import to_hex
from loantrace.settings import Settings
from tests.api.conftest import bearer, form_of
from tests.conftest import SubmissionFactory, service_env

pytestmark = pytest.mark.anvil


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_two_workers_serve_concurrent_writes_once_and_die_with_serve(
    make_submission: SubmissionFactory, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'workers.db'}"
    with Anvil(chain_id=31_343) as node:
        key = to_hex(Account.create().key)
        settings = Settings(mode="dev", rpc_url=node.url, database_url=database, notary_key=key)  # type: ignore[call-arg]
        rt = Runtime.start(settings, node=connect(node.url))
        headers = bearer(rt)
        signed = [make_submission(rt) for _ in range(12)]
        env = service_env(rt, node.url, database)
        port = free_port()
        log = (tmp_path / "serve.log").open("wb")
        serve = subprocess.Popen(
            [sys.executable, "-m", "loantrace.cli", "serve", "--port", str(port), "--workers", "2"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.3)
            workers = _children(serve.pid)
            assert len(workers) >= 2, (tmp_path / "serve.log").read_text()[-2000:]

            def post(i: int) -> int:
                with httpx.Client(timeout=60) as client:
                    answer = client.post(
                        f"{url}/v1/agreements", data=form_of(signed[i]), headers=headers
                    )
                    return answer.status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(post, range(len(signed))))
            assert codes == [201] * len(signed)
            # Concurrent verifications are answered in shared batches: each answer is its own.
            known = [to_hex(s.submission.digest) for s in signed]
            unknown = [to_hex(bytes([i]) * 32) for i in range(1, 13)]
            asked = (known + unknown) * 2

            def verify(digest: str) -> tuple[str, int, dict[str, object]]:
                answer = httpx.post(f"{url}/v1/verify", data={"digest": digest}, timeout=30)
                return digest, answer.status_code, answer.json()

            with ThreadPoolExecutor(16) as pool:
                answers = list(pool.map(verify, asked))
            for digest, status, report in answers:
                assert status == 200, report
                assert report["digest"] == digest
                assert report["verdict"] == ("valid" if digest in known else "not_found")
            nonce = rt.node.w3.eth.get_transaction_count(Account.from_key(key).address)
            assert nonce == len(signed)  # one transaction each: no nonce collision, no repeat
            os.kill(serve.pid, signal.SIGKILL)
            serve.wait(timeout=10)
            deadline = time.monotonic() + 15
            while any(_alive(w) for w in workers) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not any(_alive(w) for w in workers)  # the workers died with serve
        finally:
            if serve.poll() is None:
                serve.kill()
            log.close()
            rt.close()
