"""What a route may ask for: one use case each, never the whole wiring.

`bootstrap` builds the application once; `create_app` puts it on `app.state`; a route
declares the use case it needs (`NotaryDep`, `LoansDep`, ...) so its signature says which
part of the system it touches, and a test can hand it a fake through
`app.dependency_overrides`.
"""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Request

from loantrace.bootstrap import Runtime
from loantrace.services.flows import FlowService
from loantrace.services.loans import LoanService
from loantrace.services.notary import Notary
from loantrace.services.verify import Verifier
from loantrace.settings import Settings


def get_runtime(request: Request) -> Runtime:
    """Return the application built at start-up (operations routes only)."""
    return cast(Runtime, request.app.state.runtime)


def get_settings(request: Request) -> Settings:
    """Return the settings the service started with."""
    return get_runtime(request).settings


def get_notary(request: Request) -> Notary:
    """Return the notarisation use cases."""
    return get_runtime(request).notary


def get_loans(request: Request) -> LoanService:
    """Return the loan ledger use cases."""
    return get_runtime(request).loans


def get_flows(request: Request) -> FlowService:
    """Return the fund-tracing and audit use cases."""
    return get_runtime(request).flows


def get_verifier(request: Request) -> Verifier:
    """Return the verification use case."""
    return get_runtime(request).verifier


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NotaryDep = Annotated[Notary, Depends(get_notary)]
LoansDep = Annotated[LoanService, Depends(get_loans)]
FlowsDep = Annotated[FlowService, Depends(get_flows)]
VerifierDep = Annotated[Verifier, Depends(get_verifier)]
