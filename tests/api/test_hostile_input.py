"""Hostile input gets a clear 4xx and the process lives on."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.conftest import assert_problem

DEEP = "[" * 100_000 + "]" * 100_000  # ~200 KB; it overflowed the C stack before


@pytest.mark.parametrize("path", ["/v1/agreements/batch", "/v1/webhooks", "/v1/loans", "/v1/keys"])
def test_a_json_body_nested_100000_deep_is_refused_and_the_service_lives(
    client: TestClient, path: str
) -> None:
    response = client.post(path, content=DEEP, headers={"content-type": "application/json"})
    assert_problem(response, 422, "invalid-input")
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("field", ["merkle", "terms"])
def test_a_deep_json_form_field_is_refused(client: TestClient, field: str) -> None:
    form = {"digest": "0x" + "11" * 32, field: DEEP}
    path = "/v1/verify" if field == "merkle" else "/v1/agreements"
    if field == "terms":
        form |= {
            "borrower": "0x" + "22" * 20,
            "borrower_commitment": "0x" + "33" * 32,
            "borrower_signature": "0x" + "44" * 65,
        }
    assert_problem(client.post(path, data=form), 422, "invalid-input")


def test_an_out_of_range_webhook_id_is_a_422_not_a_500(client: TestClient) -> None:
    assert_problem(client.get("/v1/webhooks/" + "9" * 23 + "/deliveries"), 422)
    assert_problem(client.get("/v1/webhooks/0/deliveries"), 422)
