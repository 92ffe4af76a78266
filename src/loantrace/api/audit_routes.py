"""The audit log over HTTP (regulators and admins), and the middleware that writes it."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, cast

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loantrace.api.auth import allow
from loantrace.api.coalesce import Coalescer
from loantrace.domain.auditchain import AuditEntry, ChainedEntry
from loantrace.services.auditlog import AuditLog

router = APIRouter(tags=["audit log"])
READ_ONLY = ("GET", "HEAD", "OPTIONS")


async def get_audit_log(request: Request) -> AuditLog:
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


class AuditMiddleware:
    """Record every authenticated write (and every denied one) once its answer is known.

    Pure ASGI: the entry is committed when the application starts its answer and before
    the caller sees any of it, so an answer the log lacks is never given.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in READ_ONLY:
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})  # where the guard leaves the principal (request.state)

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await _record(scope, int(message["status"]))
            await send(message)

        await self.app(scope, receive, audited_send)


async def _record(scope: Scope, outcome: int) -> None:
    principal = scope.get("state", {}).get("principal")  # set by the route's guard
    if principal is None:
        return
    route = str(getattr(scope.get("route"), "path", scope["path"]))
    params = scope.get("path_params") or {}
    obj = ",".join(f"{k}={v}" for k, v in sorted(params.items())) or None
    state = scope["app"].state
    entry = cast(AuditLog, state.audit_log).entry(
        principal, method=scope["method"], route=route, obj=obj, outcome=outcome
    )
    appends: Coalescer[AuditEntry, ChainedEntry] = state.audit_appends
    # Shielded: a caller that hangs up does not take its entry out of the batch.
    await asyncio.shield(appends.submit(entry))
