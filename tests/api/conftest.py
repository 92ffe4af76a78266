"""API fixtures: a TestClient around a started runtime, and form helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
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
