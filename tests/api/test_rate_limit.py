"""Per-key rate limits: 429 problem+json with Retry-After, one key never slows another."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.chain.node import connect
from tests.api.conftest import assert_problem, bearer
from tests.conftest import start_runtime


def test_a_key_over_its_limit_gets_429_and_others_carry_on() -> None:
    rt = start_runtime(connect(None), rate_limit="3/minute")
    try:
        with TestClient(create_app(rt)) as client:
            noisy, quiet = bearer(rt, "regulator"), bearer(rt, "regulator")
            codes = [client.get("/v1/audit-log", headers=noisy).status_code for _ in range(3)]
            assert codes == [200, 200, 200]
            limited = client.get("/v1/audit-log", headers=noisy)
            assert_problem(limited, 429, "rate-limited")
            assert 1 <= int(limited.headers["retry-after"]) <= 60
            assert client.get("/v1/audit-log", headers=quiet).status_code == 200
            assert client.get("/healthz").status_code == 200  # anonymous health is not limited
    finally:
        rt.close()
