"""Map every error to an RFC 9457 `application/problem+json` response."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from loantrace.chain.node import TRANSPORT_ERRORS
from loantrace.domain import errors as err

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first matching class wins.
_STATUS: tuple[tuple[type[err.LoantraceError], int, str], ...] = (
    (err.PayloadTooLarge, 413, "payload-too-large"),
    (err.InvalidInput, 422, "invalid-input"),
    (err.SignatureMismatch, 422, "signature-mismatch"),
    (err.SignatureError, 422, "invalid-signature"),
    (err.PersonalDataErased, 410, "erased"),
    (err.NotFound, 404, "not-found"),
    (err.AlreadyNotarised, 409, "already-notarised"),
    (err.NotActive, 409, "not-active"),
    (err.Conflict, 409, "conflict"),
    (err.Unauthorized, 403, "forbidden"),
    (err.Unauthenticated, 401, "unauthenticated"),
    (err.RateLimited, 429, "rate-limited"),
    (err.Unavailable, 503, "unavailable"),
    (err.ChainMismatch, 503, "chain-mismatch"),
    (err.SealBroken, 500, "integrity"),
    (err.ConfigurationError, 500, "configuration"),
)


def problem(
    status: int, slug: str, detail: str, instance: str | None = None, **extra: Any
) -> JSONResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": f"urn:loantrace:problem:{slug}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def status_of(exc: err.LoantraceError) -> tuple[int, str]:
    """Return the HTTP status and problem slug of a domain error."""
    for cls, status, slug in _STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 500, "internal"


def allowed_methods(request: Request) -> list[str]:
    """Return the methods the routes at the request's path accept (for a 405's Allow).

    A literal path (`/v1/agreements/batch`) is answered by its own routes only, not by a
    template that would also match it (`/v1/agreements/{digest}`)."""
    path = request.url.path
    matching: list[tuple[str, set[str]]] = []
    for route in request.app.routes:
        included = getattr(route, "effective_route_contexts", None)
        for candidate in included() if included else [route]:
            regex = getattr(candidate, "path_regex", None)
            accepted = getattr(candidate, "methods", None)
            if regex is not None and accepted and regex.match(path):
                matching.append((str(getattr(candidate, "path", "")), set(accepted)))
    literal = [methods for template, methods in matching if template == path]
    chosen = literal or [methods for _template, methods in matching]
    return sorted(set().union(*chosen)) if chosen else []


def install(app: FastAPI) -> None:
    """Register the exception handlers on `app`."""

    @app.exception_handler(err.Pending)
    async def _pending(request: Request, exc: err.Pending) -> JSONResponse:
        body = {
            "status": "pending",
            "tx_hash": exc.tx_hash,
            "status_url": f"/v1/transactions/{exc.tx_hash}",
            "detail": str(exc),
        }
        headers = {"Location": body["status_url"], "Retry-After": "2"}
        return JSONResponse(body, status_code=202, headers=headers)

    @app.exception_handler(err.LoantraceError)
    async def _domain(request: Request, exc: err.LoantraceError) -> JSONResponse:
        status, slug = status_of(exc)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.url.path, exc)
        extra = {"contract_error": getattr(exc, "contract_error", None)}
        extra = {k: v for k, v in extra.items() if v}
        response = problem(status, slug, str(exc), request.url.path, **extra)
        if status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="loantrace"'
        if isinstance(exc, err.RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors) or "invalid"
        return problem(422, "invalid-input", detail, request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
        response = problem(exc.status_code, slug, str(exc.detail), request.url.path)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:  # every method of every route at this path, not one's
            response.headers["Allow"] = ", ".join(allowed_methods(request))
        return response

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, TRANSPORT_ERRORS):
            log.error("chain node unreachable on %s %s: %s", request.method, request.url.path, exc)
            detail = "the chain node is unreachable; nothing was written, retry later"
            return problem(503, "unavailable", detail, request.url.path)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "internal error; see the server log", request.url.path)
