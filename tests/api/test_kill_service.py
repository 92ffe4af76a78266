"""SIGKILL the API at random points during a stream of writes: each accepted write is on chain once.

One anvil, one PostgreSQL database, one `serve` process notarising through the real HTTP API.
Four client threads send distinct notarisations; meanwhile the service is SIGKILLed at random
points and started again. A request the kill interrupts is sent again, with the same body,
to the restarted service, as a real client would. At the end every write the client saw
accepted must be on chain exactly once (the registry's record, one `AgreementNotarised`
event) and sent once (no two live outbox rows with the same calldata).
"""

from __future__ import annotations

import os
import random
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_account import Account
from sqlmodel import Session, select
from web3 import Web3

from loantrace.bootstrap import Runtime
from loantrace.chain.node import connect
from loantrace.chain.registry import OnChainStatus
from loantrace.devtools.anvil import Anvil
from loantrace.domain.hexcodec import to_hex
from loantrace.outbox import TxStatus
from loantrace.settings import Settings
from loantrace.store.models import OutboxRow
from tests.api.conftest import ServiceProcess, bearer, form_of
from tests.conftest import SubmissionFactory, service_env

WRITES = int(os.environ.get("LOANTRACE_KILL_WRITES", "1000"))
KILLS = int(os.environ.get("LOANTRACE_KILL_TRIALS", "20"))
THREADS = 4
SEED = 20261124
RETRY_FOR = 180.0  # seconds a client keeps retrying one write through restarts

pytestmark = [
    pytest.mark.slow,
    pytest.mark.anvil,
    pytest.mark.postgres,
    pytest.mark.timeout(max(300, WRITES // 2 + KILLS * 15)),
]

NOTARISED = Web3.keccak(
    text="AgreementNotarised(bytes32,bytes32,address,address,bytes32,bytes32,bytes32,bytes,bytes)"
)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@pytest.fixture
def database(fresh_postgres: str) -> str:
    """A database of its own: it is bound to this test's chain and contracts."""
    return fresh_postgres


@dataclass
class _Ledger:
    """What the clients saw, shared between their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepted: dict[int, dict[str, Any]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    retried: dict[int, float] = field(default_factory=dict)  # write -> first interruption
    pending: int = 0  # 202 answers, settled by sending the request again
    failures: list[str] = field(default_factory=list)

    def count(self) -> int:
        with self.lock:
            return len(self.accepted)


def test_sigkill_during_writes_every_accepted_write_is_on_chain_once(
    database: str, make_submission: SubmissionFactory, tmp_path: Path
) -> None:
    began = time.monotonic()
    rng = random.Random(SEED)
    with Anvil(chain_id=31_342) as node:
        key = to_hex(Account.create().key)
        base = {"mode": "dev", "rpc_url": node.url, "database_url": database, "notary_key": key}
        rt = Runtime.start(Settings(**base), node=connect(node.url))  # type: ignore[arg-type]
        signed = [make_submission(rt) for _ in range(WRITES)]
        forms = [form_of(s) for s in signed]
        ids = [
            to_hex(rt.registry.agreement_id(rt.notary.agreement_of(s.submission))) for s in signed
        ]
        prepared = time.monotonic() - began
        env = service_env(rt, node.url, database)
        service = ServiceProcess(env, tmp_path / "serve.log")
        seen = _Ledger()
        queue = iter(range(WRITES))
        queue_lock = threading.Lock()
        stop = threading.Event()

        def write(client: httpx.Client, i: int) -> None:
            """Send write `i` until the service answers it; retry what a kill interrupts."""
            deadline = time.monotonic() + RETRY_FOR
            interrupted = asked_again = False
            while True:
                if stop.is_set():
                    return
                if time.monotonic() > deadline:
                    with seen.lock:
                        seen.failures.append(f"write {i}: no answer within {RETRY_FOR}s")
                    return
                try:
                    response = client.post(
                        f"{service.url}/v1/agreements", data=forms[i], timeout=60.0
                    )
                except httpx.TransportError:
                    interrupted = True  # killed under us, or down: the same body again
                    with seen.lock:
                        seen.retried.setdefault(i, time.time())
                    time.sleep(0.05)
                    continue
                if response.status_code == 202:  # recorded, not mined yet: ask again
                    asked_again = True
                    with seen.lock:
                        seen.pending += 1
                    time.sleep(0.2)
                    continue
                break
            body = response.json() if response.content else {}
            allowed = (200, 201) if interrupted or asked_again else (201,)
            with seen.lock:
                seen.statuses[response.status_code] += 1
                if response.status_code not in allowed:
                    seen.failures.append(
                        f"write {i} ({'retry' if interrupted else 'first attempt'}): "
                        f"{response.status_code} {response.text[:300]}"
                    )
                elif body.get("digest") != forms[i]["digest"] or body.get("agreement_id") != ids[i]:
                    seen.failures.append(f"write {i}: receipt of another agreement: {body}")
                else:
                    seen.accepted[i] = body

        lender = bearer(rt)  # a key in the shared database, valid across restarts

        def client_loop() -> None:
            with httpx.Client(headers=lender) as client:
                while not stop.is_set():
                    with queue_lock:
                        i = next(queue, None)
                    if i is None:
                        return
                    write(client, i)

        thresholds = sorted(rng.sample(range(1, WRITES), min(KILLS, WRITES - 1)))
        kills = 0
        restarts: list[float] = []
        threads = [threading.Thread(target=client_loop, name=f"client-{n}") for n in range(THREADS)]
        try:
            service.start()
            for thread in threads:
                thread.start()
            for threshold in [*thresholds, WRITES + 1]:  # then watch the last writes
                while seen.count() < threshold and any(t.is_alive() for t in threads):
                    service.check_alive()
                    time.sleep(0.002)
                if not any(t.is_alive() for t in threads):
                    break
                time.sleep(rng.uniform(0.0, 0.06))  # a random moment inside the next writes
                service.kill()
                kills += 1
                restarts.append(service.start())
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
            service.stop()
        writing = time.monotonic() - began

        # The chain: every AgreementNotarised event of this registry, from genesis.
        logs = rt.node.w3.eth.get_logs(
            {
                "address": rt.registry.address,
                "topics": [NOTARISED],
                "fromBlock": 0,
                "toBlock": "latest",
            }
        )
        events_by_id = Counter(to_hex(bytes(entry["topics"][1])) for entry in logs)
        events_by_digest = Counter(to_hex(bytes(entry["topics"][2])) for entry in logs)
        # The outbox: every transaction the key recorded (hence every one it may have sent).
        with Session(rt.engine) as session:
            rows = session.exec(
                select(OutboxRow).where(OutboxRow.sender == rt.account.address)
            ).all()
        live = [r for r in rows if r.status != TxStatus.REPLACED.value]
        sends_by_data = Counter(r.data for r in live)
        sends_by_intent = Counter(r.intent for r in live)
        reverted = [r.tx_hash for r in rows if r.status == TxStatus.FAILED.value]
        unsettled = [r.tx_hash for r in rows if r.status == TxStatus.PENDING.value]
        on_chain_nonce = rt.node.w3.eth.get_transaction_count(rt.account.address, "latest")
        settled = (TxStatus.MINED.value, TxStatus.FAILED.value)
        used_nonces = {r.nonce for r in rows if r.status in settled}

        mined = {r.tx_hash for r in live if r.status == TxStatus.MINED.value}
        lost = doubled = 0
        problems: list[str] = []
        for i, receipt in sorted(seen.accepted.items()):
            agreement_id, digest = ids[i], forms[i]["digest"]
            aid = bytes.fromhex(agreement_id[2:])
            record = rt.registry.record_of(aid)
            status = rt.registry.status_of(aid).status
            events = events_by_id[agreement_id]
            sends = sends_by_intent[f"{rt.registry.address}:notarise:{agreement_id}"]
            if record is None or status is not OnChainStatus.NOTARISED or events == 0:
                lost += 1
                problems.append(f"lost write {i} {digest}: record {record}, {status}, {events} ev")
            elif events > 1 or events_by_digest[digest] > 1 or sends > 1:
                doubled += 1
                problems.append(f"doubled write {i} {digest}: {events} events, {sends} sends")
            elif receipt["tx_hash"] not in mined:
                problems.append(f"write {i}: receipt names {receipt['tx_hash']}, not a mined send")
        # Retries whose transaction the killed process had already recorded: the restarted
        # service adopted it (or found the agreement recorded) instead of sending it again.
        recorded_at = {r.intent: _aware(r.created_at).timestamp() for r in live}
        adopted = sum(
            1
            for i, at in seen.retried.items()
            if i in seen.accepted
            and recorded_at.get(f"{rt.registry.address}:notarise:{ids[i]}", at) < at
        )
        resent = sum(
            int(m) for m in re.findall(r"resent (\d+) recorded transactions", service.tail(10**6))
        )
        same_calldata = {data[:16]: n for data, n in sends_by_data.items() if n > 1}
        accepted, retried = len(seen.accepted), len(seen.retried)
        slowest = max(restarts, default=0.0)
        print(
            f"\n{kills} SIGKILLs during {WRITES} writes: {accepted} accepted, {retried} retried, "
            f"{lost} lost, {doubled} doubled"
        )
        print(
            f"answers {dict(sorted(seen.statuses.items()))}, {seen.pending} pending (202); "
            f"{adopted} retries found their transaction recorded by the killed process; "
            f"{resent} transactions resent at restart; {len(logs)} notarisation events; "
            f"{len(live)} live outbox rows, {len(rows) - len(live)} replaced"
        )
        print(
            f"set-up {prepared:.0f}s, writes {writing - prepared:.0f}s, of which restarts "
            f"{sum(restarts):.0f}s (slowest {slowest:.1f}s to /healthz)"
        )
        context = f"\n--- serve output (tail) ---\n{service.tail()}"
        assert not seen.failures, "\n".join(seen.failures[:20]) + context
        assert kills == len(thresholds), f"only {kills} kills: the writes ran out" + context
        assert (lost, doubled) == (0, 0), "\n".join(problems[:20]) + context
        assert not problems, "\n".join(problems[:20]) + context
        assert accepted == WRITES, f"{WRITES - accepted} writes never accepted" + context
        assert len(logs) == WRITES  # no notarisation the clients were not told about
        assert not same_calldata, f"calldata sent twice: {same_calldata}" + context
        assert not reverted, f"reverted sends (a repeat reached the contract): {reverted}"
        assert not unsettled, f"still pending after the run: {unsettled}"
        assert used_nonces == set(range(on_chain_nonce)), "a sent transaction is not recorded"
        rt.close()
