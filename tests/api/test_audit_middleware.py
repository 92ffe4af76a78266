"""The audit middleware: every authenticated write and every denied one, once, on record."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from loantrace.bootstrap import Runtime
from tests.api.conftest import bearer


def _entries(rt: Runtime) -> list[tuple[Any, ...]]:
    """Return the audit log oldest first, as (role, method, route, object, outcome)."""
    return [
        (c.entry.role, c.entry.method, c.entry.route, c.entry.object, c.entry.outcome)
        for c in reversed(rt.audit_log.page(limit=1000))
    ]


def test_writes_and_denials_are_recorded_with_route_object_and_outcome(
    client: TestClient,
) -> None:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    created = client.post("/v1/webhooks", json={"url": "https://hooks.example/a"})
    assert created.status_code == 201
    hook = created.json()["id"]
    assert client.get("/v1/webhooks").status_code == 200  # a read: not recorded
    denied = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example/b"}, headers=bearer(rt, "auditor")
    )
    assert denied.status_code == 403
    anonymous = client.post(
        "/v1/webhooks", json={"url": "https://hooks.example/c"}, headers={"Authorization": ""}
    )
    assert anonymous.status_code == 401  # no principal: nothing to attribute
    assert client.delete(f"/v1/webhooks/{hook}").status_code == 200
    assert client.delete("/v1/webhooks/999999").status_code == 404
    assert _entries(rt) == [
        ("lender", "POST", "/v1/webhooks", None, 201),
        ("auditor", "POST", "/v1/webhooks", None, 403),
        ("lender", "DELETE", "/v1/webhooks/{webhook_id}", f"webhook_id={hook}", 200),
        ("lender", "DELETE", "/v1/webhooks/{webhook_id}", "webhook_id=999999", 404),
    ]
    assert rt.audit_log.verify().intact
