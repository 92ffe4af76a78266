"""A chain node that goes away: 503 problem+json, nothing written, readiness fails."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil
from tests.api.conftest import assert_problem, authorised, form_of
from tests.conftest import SubmissionFactory, start_runtime


@pytest.mark.anvil
def test_node_down_gives_503_and_writes_nothing(make_submission: SubmissionFactory) -> None:
    try:
        node = Anvil()
    except Exception as exc:
        pytest.skip(f"anvil unavailable: {exc}")
    with node:
        rt = start_runtime(connect(node.url))
        client = authorised(TestClient(create_app(rt), raise_server_exceptions=False), rt)
        signed = make_submission(rt)
        assert client.get("/readyz").status_code == 200
    # the node is stopped now
    assert_problem(client.post("/v1/agreements", data=form_of(signed)), 503, "unavailable")
    assert_problem(client.get("/readyz"), 503, "unavailable")
    assert_problem(client.post("/v1/verify", data=form_of(signed)), 503)
    assert client.get("/healthz").status_code == 200
    with rt.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM agreements").scalar() == 0
