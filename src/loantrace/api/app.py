"""Build the FastAPI application around a started runtime."""

from __future__ import annotations

from fastapi import FastAPI

from loantrace import __version__
from loantrace.api import problems
from loantrace.api.limits import BodySizeLimit
from loantrace.api.routes import router
from loantrace.services.runtime import Runtime

DESCRIPTION = """
Notarise signed loan agreements on an EVM chain (singly or in Merkle batches) and verify
documents against the chain. Errors are `application/problem+json` (RFC 9457).
"""


def create_app(runtime: Runtime) -> FastAPI:
    """Return the API serving `runtime`."""
    app = FastAPI(title="loantrace", version=__version__, description=DESCRIPTION)
    app.state.runtime = runtime
    problems.install(app)
    app.include_router(router)
    app.add_middleware(BodySizeLimit, limit=runtime.settings.max_upload_bytes)
    return app
