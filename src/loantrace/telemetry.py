"""The runtime's metrics registry: counters for what no table records (batch sizes, reorgs
repaired), and the figures the database and the node know, read at each scrape (`scrape.py`).

Each runtime has a registry of its own, never the process-global one: tests start many
runtimes in one process. Services see only bound methods (`on_batch`, `on_reorg`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics
from sqlalchemy.engine import Engine

from loantrace.chain.node import Node
from loantrace.scrape import ScrapeFigures
from loantrace.services.indexer import Indexer
from loantrace.store.outbox import SqlOutbox

# Powers of two up to the largest batch the settings allow (65,536).
BATCH_BUCKETS = tuple(float(2**n) for n in range(17))
# Seconds; notarisations wait for their receipt (LOANTRACE_RECEIPT_TIMEOUT_SECONDS, 120).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)

# A `_created` series beside every counter and histogram doubles what Prometheus stores, for
# a start time it already knows from the process; off for every registry of this process.
disable_created_metrics()  # type: ignore[no-untyped-call]


def request_latency(registry: CollectorRegistry) -> Histogram:
    """Return the request latency histogram, registered in `registry`."""
    return Histogram(
        "loantrace_http_request_duration_seconds",
        "Time to answer an HTTP request, by route template, method and status class.",
        ("route", "method", "status"),
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )


class Telemetry:
    """The Prometheus instruments of one runtime; services see only its bound methods."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._batch_agreements = Histogram(
            "loantrace_batch_agreements",
            "Agreements per Merkle batch anchored by this process.",
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self._reorgs = Counter(
            "loantrace_indexer_reorgs_repaired",
            "Chain reorganisations this process's indexer found and repaired.",
            registry=self.registry,
        )

    def batch_anchored(self, agreements: int) -> None:
        """Count one anchored batch of `agreements`."""
        self._batch_agreements.observe(agreements)

    def watch(self, *, engine: Engine, node: Node, indexer: Indexer, outbox: SqlOutbox) -> None:
        """Report the node's and the database's figures, read at every scrape."""
        figures = ScrapeFigures(engine=engine, node=node, indexer=indexer, outbox=outbox)
        self.registry.register(figures)

    def reorg_repaired(self) -> None:
        """Count one repaired reorganisation."""
        self._reorgs.inc()
