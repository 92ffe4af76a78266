"""The audit log over HTTP (regulators and admins), and the middleware that writes it."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated, cast

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import Response

from loantrace.api.auth import allow
from loantrace.services.auditlog import AuditLog

router = APIRouter(tags=["audit log"])
READ_ONLY = ("GET", "HEAD", "OPTIONS")


def get_audit_log(request: Request) -> AuditLog:
    """Return the audit log."""
    return cast(AuditLog, request.app.state.audit_log)


AuditLogDep = Annotated[AuditLog, Depends(get_audit_log)]


class AuditEntryOut(BaseModel):
    """One audited action and its place in the hash chain."""

    id: int
    at: datetime
    key_id: str
    role: str
    tenant: str | None
    method: str
    route: str
    object: str | None
    outcome: int
    prev_hash: str
    hash: str


class AuditVerdictOut(BaseModel):
    """Whether the chain is intact, and where it breaks if not."""

    entries: int
    intact: bool
    broken_at: int | None
    reason: str | None


@router.get("/v1/audit-log", dependencies=[allow("regulator", "admin")])
def audit_log(
    log: AuditLogDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[AuditEntryOut]:
    """Audited actions, newest first: who, role, tenant, route, object, outcome, time."""
    return [
        AuditEntryOut(id=c.id, prev_hash=c.prev_hash, hash=c.hash, **vars(c.entry))
        for c in log.page(limit=limit, offset=offset)
    ]


@router.get("/v1/audit-log/verify", dependencies=[allow("regulator", "admin")])
def verify_audit_log(log: AuditLogDep) -> AuditVerdictOut:
    """Recompute the whole hash chain and name the first row that breaks it."""
    return AuditVerdictOut(**vars(log.verify()))


class AuditMiddleware(BaseHTTPMiddleware):
    """Record every authenticated write (and every denied one) once its answer is known."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        principal = getattr(request.state, "principal", None)
        if principal is None or request.method in READ_ONLY:
            return response
        route = getattr(request.scope.get("route"), "path", request.url.path)
        params = request.scope.get("path_params") or {}
        obj = ",".join(f"{k}={v}" for k, v in sorted(params.items())) or None
        record = partial(
            get_audit_log(request).record,
            principal,
            method=request.method,
            route=route,
            obj=obj,
            outcome=response.status_code,
        )
        await anyio.to_thread.run_sync(record)
        return response
