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


def test_anonymous_verification_is_limited_per_client_address() -> None:
    rt = start_runtime(connect(None), anonymous_rate_limit="2/minute")
    try:
        with TestClient(create_app(rt)) as client:
            form = {"digest": "0x" + "11" * 32}
            codes = [client.post("/v1/verify", data=form).status_code for _ in range(2)]
            assert codes == [200, 200]
            assert_problem(client.post("/v1/verify", data=form), 429, "rate-limited")
            assert client.get("/healthz").status_code == 200  # health is never limited
    finally:
        rt.close()
