"""Two API replicas and a keeper, separate processes, one key, one PostgreSQL: no collisions."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from eth_account import Account
from sqlmodel import Session, select

from loantrace.bootstrap import Runtime
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil, free_port
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.hexcodec import to_hex
from loantrace.services.loans import Movement
from loantrace.settings import Settings
from loantrace.store.models import OutboxRow
from tests.api.conftest import bearer, form_of
from tests.conftest import SubmissionFactory, service_env

pytestmark = [pytest.mark.slow, pytest.mark.anvil, pytest.mark.postgres]

WRITES = 200
DAY = 86_400


@pytest.fixture
def database(fresh_postgres: str) -> str:
    """A database of its own: it is bound to this test's chain and contracts."""
    return fresh_postgres


def _wait_up(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{url} exited: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} did not start")


def test_two_replicas_and_a_keeper_share_one_key_without_a_nonce_error(
    anvil: Anvil, database: str, make_submission: SubmissionFactory, tmp_path: Path
) -> None:
    key = to_hex(Account.create().key)
    base = {"mode": "dev", "rpc_url": anvil.url, "database_url": database, "notary_key": key}
    rt = Runtime.start(Settings(**base), node=connect(anvil.url))  # type: ignore[arg-type]
    for n in range(6):  # loans whose reminders the keeper raises during the run
        terms = terms_at(rt.node.now(), principal=10_000, instalments=2, first_in_days=2)
        receipt = rt.notary.notarise(make_submission(rt, terms=terms).submission)
        view = rt.loans.register(bytes.fromhex(receipt.digest[2:]))
        rt.loans.disburse(bytes.fromhex(view.loan_id[2:]), Movement(10_000, b"\x01" * 32, f"K{n}"))
    rt.node.advance_time(5 * DAY)
    env = service_env(rt, anvil.url, database)
    cli = [sys.executable, "-m", "loantrace.cli"]
    ports = [free_port(), free_port()]
    replicas = [
        subprocess.Popen([*cli, "serve", "--port", str(p)], env=env, stderr=subprocess.PIPE)
        for p in ports
    ]
    keeper = subprocess.Popen(
        [*cli, "keeper", "--interval", "0.1"], env=env, stderr=subprocess.PIPE
    )
    try:
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        for url, process in zip(urls, replicas, strict=True):
            _wait_up(url, process)
        forms = [form_of(make_submission(rt)) for _ in range(WRITES)]

        lender = bearer(rt)  # a key in the shared database works on every replica

        def submit(i: int) -> int:
            response = httpx.post(
                f"{urls[i % 2]}/v1/agreements", data=forms[i], headers=lender, timeout=120
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = Counter(pool.map(submit, range(WRITES)))
        time.sleep(1.0)  # let the keeper finish a round
    finally:
        for process in (*replicas, keeper):
            process.terminate()
        outputs = [p.communicate(timeout=30)[1].decode() for p in (*replicas, keeper)]
    nonce_errors = sum(text.lower().count("nonce") for text in outputs)
    with Session(rt.engine) as session:
        rows = session.exec(select(OutboxRow).where(OutboxRow.sender == rt.account.address)).all()
    mined = sorted(r.nonce for r in rows if r.status == "mined")
    upkeeps = sum(1 for r in rows if r.data.startswith("4585e33b"))  # performUpkeep(bytes)
    print(
        f"{WRITES} notarisations over 2 replicas beside a keeper ({upkeeps} upkeeps): "
        f"{dict(codes)}, {nonce_errors} nonce errors, {len(mined)} mined transactions"
    )
    assert codes == Counter({201: WRITES})
    assert nonce_errors == 0
    assert mined == list(range(mined[0], mined[0] + len(mined)))  # one gap-free sequence
    rt.close()
