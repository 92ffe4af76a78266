"""`GET /metrics` in the Prometheus text format (or OpenMetrics, when the scraper asks).

Each application has a registry of its own, holding its request latency histogram and the
runtime's registry (counters, and the figures read at scrape time: `loantrace.scrape`).
"""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.exposition import choose_encoder

from loantrace.api.auth import PublicLimited
from loantrace.telemetry import request_latency

router = APIRouter(tags=["ops"])

METRICS_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "every metric, in the Prometheus text format",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
}


def install_metrics(app: FastAPI, runtime_registry: CollectorRegistry) -> Histogram:
    """Serve `/metrics` on `app`; return its request latency histogram (for the observer)."""
    registry = CollectorRegistry()  # collectors without describe() are not run to register
    registry.register(runtime_registry)
    app.state.metrics_registry = registry
    app.include_router(router)
    return request_latency(registry)


@router.get(
    "/metrics", dependencies=[PublicLimited], response_class=Response, responses=METRICS_RESPONSES
)
def metrics(request: Request) -> Response:
    """Metrics for Prometheus: requests, outbox, batches, indexer, reminders, webhooks,
    chain and database health. Figures the database keeps are read as it is scraped."""
    registry = cast(CollectorRegistry, request.app.state.metrics_registry)
    encode, content_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type})
