"""Request ids, structured log lines without personal data, and readiness on indexer lag."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import structlog
from fastapi.testclient import TestClient
from pydantic import ValidationError
from web3.types import RPCEndpoint

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.cli_common import setup_logging
from loantrace.logs import LogFormat, formatter
from loantrace.settings import Settings
from tests.api.conftest import assert_problem, bearer
from tests.conftest import BoundChain, bound_runtime

GENERATED = re.compile(r"[0-9a-f]{32}")
DIGEST = "0x" + "5e" * 32


@contextmanager
def captured(log_format: LogFormat) -> Iterator[io.StringIO]:
    """Capture every INFO+ record as `log_format` lines (as `setup_logging` writes them)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(lambda record: not record.name.startswith("httpx"))  # the test client
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def json_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Parse every captured line as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def access_lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    """Return the access log lines."""
    return [line for line in json_lines(buffer) if line["logger"] == "loantrace.access"]


def test_a_sane_request_id_comes_back(client: TestClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "trace-7.A_b"})
    assert response.headers["x-request-id"] == "trace-7.A_b"
    longest = "x" * 64
    assert client.get("/healthz", headers={"X-Request-ID": longest}).headers["x-request-id"] == (
        longest
    )


def test_a_request_without_an_id_gets_a_fresh_one(client: TestClient) -> None:
    first = client.get("/healthz").headers["x-request-id"]
    second = client.get("/healthz").headers["x-request-id"]
    assert GENERATED.fullmatch(first)
    assert GENERATED.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    "hostile",
    ["x" * 65, "two words", "semi;colon", "../../etc/passwd", "<script>", "a\\b", "", "{}"],
)
def test_a_hostile_request_id_is_replaced(client: TestClient, hostile: str) -> None:
    with captured("json") as buffer:
        response = client.get("/healthz", headers={"X-Request-ID": hostile})
    replaced = response.headers["x-request-id"]
    assert GENERATED.fullmatch(replaced)
    [line] = access_lines(buffer)
    assert line["request_id"] == replaced


def test_json_log_lines_carry_the_request_id_and_no_personal_data(client: TestClient) -> None:
    with captured("json") as buffer:
        created = client.post(
            "/v1/webhooks",
            json={"url": "https://hooks.example/loans"},
            headers={"X-Request-ID": "req-webhook-1"},
        )
        assert created.status_code == 201
        missing = client.get(
            f"/v1/agreements/{DIGEST}?name=Zhang+San&id_number=110101199003074258",
            headers={"X-Request-ID": "req-missing-2"},
        )
        assert missing.status_code == 404
    lines = json_lines(buffer)
    for line in lines:
        assert {"timestamp", "level", "logger", "event"} <= line.keys()
    registered = [line for line in lines if line["logger"] == "loantrace.services.webhooks"]
    assert [line["request_id"] for line in registered] == ["req-webhook-1"]  # a service's line
    assert registered[0]["level"] == "info"
    webhook, agreement = access_lines(buffer)
    assert webhook["request_id"] == "req-webhook-1"
    assert (webhook["method"], webhook["route"], webhook["status"]) == ("POST", "/v1/webhooks", 201)
    assert agreement["request_id"] == "req-missing-2"
    assert (agreement["route"], agreement["status"]) == ("/v1/agreements/{digest}", 404)
    assert agreement["duration_ms"] >= 0
    written = buffer.getvalue()
    for secret in ("Zhang", "110101199003074258", "id_number", "?", DIGEST, "hooks.example"):
        assert secret not in written, secret


def test_an_answer_given_before_routing_is_logged_under_its_route(
    small_upload_client: TestClient,
) -> None:
    with captured("json") as buffer:
        response = small_upload_client.post("/v1/agreements", files={"document": b"x" * 100_000})
    assert_problem(response, 413)
    [line] = access_lines(buffer)
    assert (line["route"], line["status"]) == ("/v1/agreements", 413)
    assert line["request_id"] == response.headers["x-request-id"]


def test_an_unknown_path_is_logged_as_unmatched(client: TestClient) -> None:
    with captured("json") as buffer:
        assert client.get("/wp-admin/setup.php").status_code == 404
    [line] = access_lines(buffer)
    assert line["route"] == "unmatched"
    assert "wp-admin" not in buffer.getvalue()


def test_text_lines_name_the_request_id(client: TestClient) -> None:
    with captured("text") as buffer:
        client.get("/healthz", headers={"X-Request-ID": "text-id-1"})
    [line] = [line for line in buffer.getvalue().splitlines() if "loantrace.access" in line]
    assert "request_id=text-id-1" in line
    assert "GET /healthz 200" in line


@pytest.fixture
def root_logging_restored() -> Iterator[None]:
    """Put the root logger and structlog back as they were after a test configures them."""
    root, client = logging.getLogger(), logging.getLogger("httpx")
    handlers, level, client_level = list(root.handlers), root.level, client.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    client.setLevel(client_level)
    structlog.reset_defaults()


@pytest.mark.usefixtures("root_logging_restored")
def test_setup_logging_writes_json_when_the_setting_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOANTRACE_LOG_FORMAT", "json")
    logging.getLogger().handlers.clear()  # pytest's capture handlers: restored after the test
    setup_logging("INFO")
    logging.getLogger("loantrace.example").info("hello %s", "world", extra={"blocks": 3})
    structlog.get_logger("loantrace.native").warning("native", blocks=4)
    logging.getLogger("loantrace.example").debug("below the level")
    stdlib, native = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert stdlib["event"] == "hello world"
    assert (stdlib["level"], stdlib["logger"], stdlib["blocks"]) == ("info", "loantrace.example", 3)
    assert stdlib["timestamp"].endswith("Z")
    assert (native["event"], native["level"], native["blocks"]) == ("native", "warning", 4)
    assert native["logger"] == "loantrace.native"


def test_the_log_format_setting_is_text_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOANTRACE_LOG_FORMAT", raising=False)
    assert Settings(mode="dev").log_format == "text"
    monkeypatch.setenv("LOANTRACE_LOG_FORMAT", "xml")
    with pytest.raises(ValidationError):
        Settings(mode="dev")


def _mine(rt: Runtime, blocks: int) -> None:
    for _ in range(blocks):
        rt.node.w3.provider.make_request(RPCEndpoint("evm_mine"), [])


@pytest.mark.anvil
def test_readiness_fails_while_the_indexer_in_serve_lags(
    anvil_chain: BoundChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = bound_runtime(anvil_chain, index_in_serve=True, ready_max_index_lag_blocks=3)
    client = TestClient(create_app(rt), raise_server_exceptions=False)
    rt.indexer.run_once()
    _mine(rt, 3)
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["index"] == "ok (3 blocks behind)"
    _mine(rt, 1)
    body = assert_problem(client.get("/readyz"), 503, "unavailable")
    assert "lags 4 blocks" in body["detail"]
    monkeypatch.setattr(rt.settings, "index_confirmations", 2)  # only confirmed blocks count
    assert client.get("/readyz").status_code == 200
    monkeypatch.setattr(rt.settings, "index_confirmations", 0)
    monkeypatch.setattr(rt.settings, "ready_max_index_lag_blocks", 0)  # 0: not checked
    assert "index" not in client.get("/readyz").json()["checks"]
    monkeypatch.setattr(rt.settings, "ready_max_index_lag_blocks", 3)
    rt.indexer.run_once()
    assert client.get("/readyz").json()["checks"]["index"] == "ok (0 blocks behind)"
    rt.close()


def test_readiness_ignores_lag_when_reads_index_themselves(client: TestClient) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    assert rt.node.embedded  # the embedded chain indexes on read
    ready = client.get("/readyz", headers=bearer(rt, "admin"))
    assert ready.status_code == 200
    assert "index" not in ready.json()["checks"]


@pytest.mark.usefixtures("root_logging_restored")
def test_setup_logging_replaces_its_own_handler_and_no_one_elses() -> None:
    root = logging.getLogger()
    root.handlers.clear()
    setup_logging("INFO", "json")
    setup_logging("DEBUG", "text")
    assert len(root.handlers) == 1
    assert root.level == logging.DEBUG
    foreign = logging.NullHandler()
    root.handlers[:] = [foreign]  # as a test runner or a host application leaves it
    setup_logging("ERROR", "json")
    assert root.handlers == [foreign]
    assert root.level == logging.DEBUG
