"""What a route may ask for: one use case each, never the whole wiring.

`bootstrap` builds the application once; `create_app` puts it on `app.state`; a route
declares the use case it needs (`NotaryDep`, `LoansDep`, ...) so its signature says which
part of the system it touches, and a test can hand it a fake through
`app.dependency_overrides`.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from loantrace.bootstrap import Desk, Runtime
from loantrace.domain.access import Principal
from loantrace.services.flows import FlowService
from loantrace.services.loans import LoanService
from loantrace.services.notary import Notary
from loantrace.services.verify import Verifier
from loantrace.settings import Settings


def runtime_of(request: Request) -> Runtime:
    """Return the application built at start-up."""
    return cast(Runtime, request.app.state.runtime)


async def get_runtime(request: Request) -> Runtime:
    """Return the application built at start-up (operations routes only).

    These dependencies only read `app.state`: they are `async` so that FastAPI calls them on
    the event loop, where a synchronous one would cost a trip through the thread pool.
    """
    return runtime_of(request)


async def get_settings(request: Request) -> Settings:
    """Return the settings the service started with."""
    return runtime_of(request).settings


def desk_of(request: Request) -> Desk | None:
    """Return the desk acting for the caller: a lender's own signing account, the regulator's
    for a regulator; None (the first lender's desk) for callers that only read, and for a
    lender whose key this service does not hold: any desk reads the same data, and every
    write checks the caller's tenancy and refuses to sign as another lender."""
    runtime = runtime_of(request)
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        return None
    if principal.role == "lender":
        return runtime.desks.get((principal.lender or "").lower())
    if principal.role == "regulator":
        return runtime.regulator
    return None


async def get_notary(request: Request) -> Notary:
    """Return the notarisation use cases (signing as the calling lender)."""
    desk = desk_of(request)
    return desk.notary if desk is not None else runtime_of(request).notary


async def get_loans(request: Request) -> LoanService:
    """Return the loan ledger use cases (recording as the calling lender)."""
    desk = desk_of(request)
    return desk.loans if desk is not None else runtime_of(request).loans


async def get_flows(request: Request) -> FlowService:
    """Return the fund-tracing and audit use cases (labels sent with the regulator's key)."""
    desk = desk_of(request)
    return desk.flows if desk is not None else runtime_of(request).flows


async def get_verifier(request: Request) -> Verifier:
    """Return the verification use case."""
    return runtime_of(request).verifier


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NotaryDep = Annotated[Notary, Depends(get_notary)]
LoansDep = Annotated[LoanService, Depends(get_loans)]
FlowsDep = Annotated[FlowService, Depends(get_flows)]
VerifierDep = Annotated[Verifier, Depends(get_verifier)]
