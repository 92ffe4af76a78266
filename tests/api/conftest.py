"""API fixtures: a TestClient around a started runtime, and form helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from loantrace.api.app import create_app
from loantrace.chain.node import Node
from loantrace.domain.hexcodec import to_hex
from loantrace.bootstrap import Runtime
from tests.conftest import Signed, start_runtime


@pytest.fixture
def client(embedded_runtime: Runtime) -> Iterator[TestClient]:
    """An API client on the embedded chain."""
    with TestClient(create_app(embedded_runtime)) as test_client:
        yield test_client


@pytest.fixture
def small_upload_client(embedded_node: Node) -> Iterator[TestClient]:
    """An API client whose upload limit is 1 KiB."""
    rt = start_runtime(embedded_node, max_upload_bytes=1024)
    with TestClient(create_app(rt)) as test_client:
        yield test_client


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
