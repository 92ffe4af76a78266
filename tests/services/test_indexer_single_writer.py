"""One indexer writer per chain: several `loantrace index` processes on one PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_account import Account
from sqlmodel import Session, select

from loantrace.bootstrap import Runtime
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil
from loantrace.domain.hexcodec import to_hex
from loantrace.services.indexer import CURSOR
from loantrace.settings import Settings
from loantrace.store.db import read_cursor
from loantrace.store.models import ChainEventRow
from tests.conftest import SubmissionFactory, service_env

pytestmark = [pytest.mark.slow, pytest.mark.anvil, pytest.mark.postgres]

INDEXERS = 3
WRITES = 40


@pytest.fixture
def database(fresh_postgres: str) -> str:
    """A database of its own: it is bound to this test's chain and contracts."""
    return fresh_postgres


def test_concurrent_indexer_processes_write_every_event_once(
    anvil: Anvil, database: str, make_submission: SubmissionFactory, tmp_path: Path
) -> None:
    key = to_hex(Account.create().key)
    settings = Settings(mode="dev", rpc_url=anvil.url, database_url=database, notary_key=key)  # type: ignore[call-arg]
    rt = Runtime.start(settings, node=connect(anvil.url))
    env = service_env(rt, anvil.url, database)
    logs = [tmp_path / f"indexer{n}.log" for n in range(INDEXERS)]
    command = [sys.executable, "-m", "loantrace.cli", "index", "--interval", "0.02"]
    indexers = [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        for log in logs
    ]
    first = rt.node.head() + 1  # compare what was written during the run
    started = time.monotonic()
    try:
        for _ in range(WRITES):  # events arrive while every indexer polls
            rt.notary.notarise(make_submission(rt).submission)
        head, deadline = rt.node.head(), time.monotonic() + 60
        while (read_cursor(rt.engine, name=CURSOR) or 0) < head and time.monotonic() < deadline:
            time.sleep(0.1)
        # every indexer is up (about 3 s to start) before it is asked to stop
        time.sleep(max(0.0, started + 8 - time.monotonic()))
    finally:
        for process in indexers:
            process.send_signal(signal.SIGINT)
        codes = [p.wait(timeout=30) for p in indexers]
    crashed = [
        f"exit {code}: {log.read_text()[-2000:]}"
        for log, code in zip(logs, codes, strict=True)
        if code
    ]
    with Session(rt.engine) as session:
        rows = session.exec(
            select(ChainEventRow).where(ChainEventRow.chain_id == rt.node.chain_id)
        ).all()
    indexed = sorted(
        (r.block_number, r.log_index, r.tx_hash) for r in rows if r.block_number >= first
    )
    on_chain = sorted(
        (int(e["blockNumber"]), int(e["logIndex"]), "0x" + bytes(e["transactionHash"]).hex())
        for e in rt.node.w3.eth.get_logs(
            {
                "fromBlock": first,
                "toBlock": "latest",
                "address": [rt.registry.address, rt.ledger.address, rt.fundflow.address],
            }
        )
    )
    found = f"{len(indexed)} events indexed, {len(crashed)} crashed"
    print(f"{INDEXERS} indexers, {WRITES} writes: {found}")
    rt.close()
    assert crashed == []
    assert len(on_chain) >= WRITES
    assert indexed == on_chain
    assert len(indexed) == len(set(indexed))
