"""SIGKILL at a random point during a stream of writes: every accepted write lands once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlmodel import Session, select

from loantrace.chain.node import connect
from loantrace.chain.registry import RegistryClient
from loantrace.devtools.anvil import Anvil
from loantrace.outbox import TxStatus
from loantrace.store.models import OutboxRow
from tests.conftest import raw_transactor, start_runtime

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

TRIALS = 5
WRITES = 40

_WRITER = textwrap.dedent(
    """
    import sys
    from eth_account import Account
    from loantrace.chain.node import connect
    from loantrace.chain.registry import RegistryClient, revert_decoder
    from loantrace.chain.transactor import Transactor
    from loantrace.store.db import make_engine
    from loantrace.store.outbox import SqlOutbox

    url, database, key, registry, trial, count = sys.argv[1:]
    node = connect(url)
    transactor = Transactor(
        node.w3, Account.from_key(key), revert_decoder(), outbox=SqlOutbox(make_engine(database))
    )
    client = RegistryClient(node.w3, registry, transactor)
    transactor.resend_pending()  # what a restarted sender does first
    for i in range(int(count)):
        client.anchor_batch(bytes([0xC0, int(trial)]) + i.to_bytes(30, "big"), 1)
        print(i, flush=True)
    """
)


def _root(trial: int, i: int) -> bytes:
    return bytes([0xC0, trial]) + i.to_bytes(30, "big")


def test_sigkill_during_writes_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261123)
    with Anvil(chain_id=31_340) as node:
        database = f"sqlite:///{tmp_path / 'crash.db'}"
        rt = start_runtime(connect(node.url), database_url=database)
        key = rt.account.key.hex()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        lost = doubled = 0
        for trial in range(TRIALS):
            args = [sys.executable, "-c", _WRITER, node.url, database, key]
            args += [rt.registry.address, str(trial), str(WRITES)]
            writer = subprocess.Popen(args, stdout=subprocess.PIPE, env=env)
            time.sleep(rng.uniform(1.5, 4.0))  # start-up, then a random number of writes
            writer.send_signal(signal.SIGKILL)
            writer.wait()
            # Restart: a new sender resends whatever the outbox holds and the node lacks.
            recovery = subprocess.run(
                [*args[:-1], "0"], env=env, capture_output=True, timeout=120, check=True
            )
            assert recovery.returncode == 0
            client = RegistryClient(rt.node.w3, rt.registry.address, raw_transactor(rt))
            with Session(rt.engine) as session:
                recorded = session.exec(select(OutboxRow)).all()
            accepted = [
                i
                for i in range(WRITES)
                if any(
                    bytes.fromhex(r.data)[4:36] == _root(trial, i)
                    for r in recorded
                    if r.status != TxStatus.REPLACED.value
                )
            ]
            for i in accepted:
                lost += client.batch_of(_root(trial, i)) is None
            sent = [bytes.fromhex(r.data)[4:36] for r in recorded]
            doubled += sum(sent.count(_root(trial, i)) > 1 for i in accepted)
            print(f"trial {trial}: {len(accepted)} writes accepted before SIGKILL")
        print(f"{TRIALS} trials: {lost} lost, {doubled} doubled")
        assert (lost, doubled) == (0, 0)
        rt.close()
