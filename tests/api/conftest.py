"""API fixtures: a TestClient around a started runtime, and form helpers."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.chain.localnode import free_port
from loantrace.domain.hexcodec import to_hex
from tests.conftest import BoundChain, Signed, bound_runtime


def bearer(rt: Runtime, role: str = "lender", lender: str | None = None) -> dict[str, str]:
    """Return the Authorization header of a new key (lender keys: the service's lender)."""
    if role == "lender":
        lender = lender or rt.notary.lender
    _key, token = rt.access.create_key(by="tests", role=role, name=f"test {role}", lender=lender)
    return {"Authorization": f"Bearer {token}"}


def authorised(test_client: TestClient, rt: Runtime) -> TestClient:
    """Make `test_client` call as the service's lender (tests switch roles per request)."""
    test_client.headers.update(bearer(rt))
    return test_client


@pytest.fixture
def client(embedded_runtime: Runtime) -> Iterator[TestClient]:
    """An API client on the embedded chain, calling as the service's lender."""
    with TestClient(create_app(embedded_runtime)) as test_client:
        yield authorised(test_client, embedded_runtime)


@pytest.fixture
def small_upload_client(embedded_chain: BoundChain) -> Iterator[TestClient]:
    """An API client whose upload limit is 1 KiB."""
    rt = bound_runtime(embedded_chain, max_upload_bytes=1024)
    with TestClient(create_app(rt)) as test_client:
        yield authorised(test_client, rt)
    rt.close()


def form_of(signed: Signed, *, with_digest: bool = True) -> dict[str, str]:
    """Return the multipart form fields of a submission."""
    sub = signed.submission
    form = {
        "borrower": sub.borrower,
        "borrower_commitment": to_hex(sub.borrower_commitment),
        "borrower_signature": to_hex(sub.borrower_signature),
        "terms": json.dumps(sub.terms.to_json()),
    }
    if with_digest:
        form["digest"] = to_hex(sub.digest)
    if sub.supersedes:
        form["supersedes"] = to_hex(sub.supersedes)
    return form


def json_item(signed: Signed) -> dict[str, Any]:
    """Return a batch item of a submission."""
    sub = signed.submission
    return {
        "digest": to_hex(sub.digest),
        "borrower": sub.borrower,
        "borrower_commitment": to_hex(sub.borrower_commitment),
        "borrower_signature": to_hex(sub.borrower_signature),
        "terms": sub.terms.to_json(),
    }


def assert_problem(
    response: httpx.Response, status: int, slug: str | None = None
) -> dict[str, Any]:
    """Assert an RFC 9457 problem response and return its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert body["type"].startswith("urn:loantrace:problem:")
    if slug:
        assert body["type"] == f"urn:loantrace:problem:{slug}"
    return body


class ServiceProcess:
    """One `loantrace serve` process at a fixed port, its output appended to a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = env
        self._log = log
        self._out: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> float:
        """Start the service and wait for /healthz; return how long that took."""
        began = time.monotonic()
        self._out = self._log.open("ab")
        self._out.write(f"--- start {self.starts} ---\n".encode())
        self._out.flush()
        args = [sys.executable, "-m", "loantrace.cli", "serve", "--port", str(self.port)]
        self._process = subprocess.Popen(
            args, env=self._env, stdout=self._out, stderr=subprocess.STDOUT
        )
        self.starts += 1
        self._wait_up()
        return time.monotonic() - began

    def _wait_up(self, timeout: float = 60.0) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"{self.url} exited at start:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.url} did not start within {timeout}s:\n{self.tail()}")

    def check_alive(self) -> None:
        """Fail if the process died without being killed."""
        if self._process is not None and self._process.poll() is not None:
            raise AssertionError(f"{self.url} exited on its own:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL the process: no shutdown handler, no flush, no rollback of anything."""
        assert self._process is not None
        self._process.send_signal(signal.SIGKILL)
        self._process.wait(timeout=30)
        self._close_log()

    def stop(self) -> None:
        """Terminate the process if it still runs."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        self._close_log()

    def _close_log(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def tail(self, lines: int = 60) -> str:
        """Return the end of the service's output, all runs together."""
        if not self._log.exists():
            return "(no output)"
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])
