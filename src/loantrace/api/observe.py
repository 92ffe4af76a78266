"""Request ids, one access line per request, and the request latency histogram.

`RequestObserver` is pure ASGI and the outermost middleware, so it times and logs every
answer (413s and 429s included). It takes the caller's `X-Request-ID` when that is a sane
token, or makes one, binds it to every log line written while the request is served, and
returns it. The access line names the route template, never the path as sent, the query
string or the body: those may carry personal data (addresses, names, documents).
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Histogram
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bound_contextvars

from loantrace.api.auth import api_routes

REQUEST_ID_HEADER = b"x-request-id"
_SANE_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
UNMATCHED = "unmatched"  # one label for every path no route serves: no label per probe

access_log = logging.getLogger("loantrace.access")


def request_id_of(scope: Scope) -> str:
    """Return the caller's X-Request-ID if it is a sane token, else a fresh one."""
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            return value.decode() if _SANE_ID.fullmatch(value) else new_request_id()
    return new_request_id()


def new_request_id() -> str:
    """Return a fresh request id (32 hex digits)."""
    return uuid.uuid4().hex


class RequestObserver:
    """ASGI middleware: request id in and out, access log line, latency histogram."""

    def __init__(self, app: ASGIApp, *, latency: Histogram) -> None:
        self.app = app
        self.latency = latency
        self._templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        status = 500  # what the server answers when the application raises
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = [(k, v) for k, v in message.get("headers", ()) if k != REQUEST_ID_HEADER]
                message["headers"] = [*headers, (REQUEST_ID_HEADER, request_id.encode())]
            await send(message)

        with bound_contextvars(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                self._observe(scope, status, time.perf_counter() - began)

    def _observe(self, scope: Scope, status: int, seconds: float) -> None:
        route, method = self._route(scope), str(scope["method"])
        self.latency.labels(route, method, f"{status // 100}xx").observe(seconds)
        duration_ms = round(seconds * 1000, 1)
        access_log.info(
            "%s %s %s %.1fms",
            method,
            route,
            status,
            duration_ms,
            extra={"method": method, "route": route, "status": status, "duration_ms": duration_ms},
        )

    def _route(self, scope: Scope) -> str:
        """Return the template of the route that served `scope` (`/v1/loans/{loan_id}`)."""
        route = scope.get("route")
        if route is not None:
            return str(route.path)
        if self._templates is None:  # answered before routing (413): the route it was for
            routes = api_routes(scope["app"])
            self._templates = [(compile_path(r.path)[0], str(r.path)) for r in routes]
        path = str(scope.get("path", ""))
        return next((t for regex, t in self._templates if regex.match(path)), UNMATCHED)
