"""A hung node (SIGSTOP) holds no request past the RPC timeout and starves no other route.

Chain-bound routes take one of `chain_concurrency` slots before a thread; the rest are told
503 at once, so /healthz and the database-only routes keep answering.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import uvicorn

from loantrace.api.app import create_app
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil, free_port
from tests.api.conftest import bearer
from tests.conftest import start_runtime

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

RPC_TIMEOUT = 1.0
REQUESTS = 100  # far more than the server's thread pool (40)
SLOTS = 8


def test_a_hung_node_gives_503_in_bounded_time_and_healthz_stays_fast() -> None:
    with Anvil(chain_id=31_342) as node:
        rt = start_runtime(
            connect(node.url, timeout=RPC_TIMEOUT), chain_concurrency=SLOTS, chain_queue_seconds=0.5
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{port}"
        lender = bearer(rt)
        process = node._process  # the anvil process
        process.send_signal(signal.SIGSTOP)
        try:

            def verify(i: int) -> tuple[int, float]:
                started = time.monotonic()
                digest = f"0x{i:064x}"
                response = httpx.post(f"{url}/v1/verify", data={"digest": digest}, timeout=60)
                return response.status_code, time.monotonic() - started

            with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
                futures = [pool.submit(verify, i) for i in range(REQUESTS)]
                time.sleep(0.5)  # the pool is now full of requests waiting on the node
                health, database_only = [], []
                for i in range(10):
                    started = time.monotonic()
                    assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
                    health.append(time.monotonic() - started)
                    started = time.monotonic()
                    deliveries = f"{url}/v1/webhooks/{i + 1}/deliveries"  # the database alone
                    assert httpx.get(deliveries, headers=lender, timeout=5).status_code == 404
                    database_only.append(time.monotonic() - started)
                results = [f.result() for f in futures]
        finally:
            process.send_signal(signal.SIGCONT)
        codes = Counter(code for code, _ in results)
        slowest = max(seconds for _, seconds in results)
        print(
            f"hung node: {REQUESTS} verifications {dict(codes)}, slowest {slowest:.1f}s; "
            f"/healthz slowest {max(health) * 1000:.0f} ms, "
            f"database-only route slowest {max(database_only) * 1000:.0f} ms"
        )
        assert codes == Counter({503: REQUESTS})
        assert max(health) < 0.5
        assert max(database_only) < 0.5
        assert slowest < 30
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200  # the node is back
        server.should_exit = True
        thread.join(timeout=10)
        rt.close()
