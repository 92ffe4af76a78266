"""Build the FastAPI application around a started runtime."""

from __future__ import annotations

from fastapi import FastAPI

from loantrace import __version__
from loantrace.api import problems
from loantrace.api.chain_gate import ChainGate
from loantrace.api.flow_routes import router as flow_router
from loantrace.api.limits import BodySizeLimit
from loantrace.api.loan_routes import router as loan_router
from loantrace.api.routes import router
from loantrace.api.webhook_routes import router as webhook_router
from loantrace.bootstrap import Runtime

DESCRIPTION = """
Notarise signed loan agreements on an EVM chain (singly or in Merkle batches) and verify
documents against the chain; register loans on the LoanLedger, record disbursements and
repayments, and receive the reminders the contract raises on your webhooks.
Errors are `application/problem+json` (RFC 9457).
"""


def create_app(runtime: Runtime) -> FastAPI:
    """Return the API serving `runtime`."""
    app = FastAPI(title="loantrace", version=__version__, description=DESCRIPTION)
    app.state.runtime = runtime
    app.state.webhooks = runtime.webhooks
    app.state.chain_gate = ChainGate(
        runtime.settings.chain_concurrency, runtime.settings.chain_queue_seconds
    )
    problems.install(app)
    app.include_router(router)
    app.include_router(loan_router)
    app.include_router(webhook_router)
    app.include_router(flow_router)
    app.add_middleware(BodySizeLimit, limit=runtime.settings.max_upload_bytes)
    return app
