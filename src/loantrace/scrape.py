"""Figures read when `/metrics` is scraped: chain and database health, indexer lag, outbox,
reminders and webhook deliveries. What the database knows is asked for then, not counted in
hot paths; a dependency that fails reads as down (0) and the scrape still answers."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from loantrace.chain.node import Node
from loantrace.services.indexer import Indexer
from loantrace.store.figures import WebhookFigures, webhook_figures
from loantrace.store.outbox import SqlOutbox

log = logging.getLogger(__name__)


class ScrapeFigures(Collector):
    """Ask the node and the database at every scrape."""

    def __init__(self, *, engine: Engine, node: Node, indexer: Indexer, outbox: SqlOutbox) -> None:
        self._engine = engine
        self._node = node
        self._indexer = indexer
        self._outbox = outbox

    def collect(self) -> Iterator[Metric]:
        """Yield every figure as it stands now."""
        head = self._head()
        yield _gauge("loantrace_chain_up", "1 if the node answered this scrape", head is not None)
        if head is not None:
            yield _gauge("loantrace_chain_head_block", "the node's newest block", head)
        try:
            cursor = self._indexer.indexed_to()
            pending, oldest = self._outbox.depth()
            webhooks = webhook_figures(engine=self._engine)
        except Exception as exc:  # any driver error: the scrape still answers
            log.warning("metrics: database unreachable: %s", type(exc).__name__)
            yield _gauge("loantrace_database_up", "1 if the database answered this scrape", 0)
            return
        yield _gauge("loantrace_database_up", "1 if the database answered this scrape", 1)
        if head is not None:
            lag = "blocks between the node's head and the indexer's cursor"
            yield _gauge("loantrace_indexer_lag_blocks", lag, head - cursor)
        yield _gauge("loantrace_indexer_cursor_block", "the last block indexed", cursor)
        yield _gauge(
            "loantrace_outbox_pending_transactions", "transactions sent, not yet mined", pending
        )
        yield _gauge(
            "loantrace_outbox_oldest_pending_age_seconds",
            "age of the oldest pending transaction (0: none pending)",
            oldest or 0.0,
        )
        yield from _webhook_metrics(webhooks)

    def _head(self) -> int | None:
        try:
            return self._node.head()
        except Exception as exc:  # web3 raises many kinds; any of them means "not now"
            log.warning("metrics: chain unreachable: %s", type(exc).__name__)
            return None


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=float(value))


def _webhook_metrics(figures: WebhookFigures) -> Iterator[Metric]:
    raised = CounterMetricFamily(
        "loantrace_reminders_raised",
        "reminders recorded from the chain, by stage",
        labels=["stage"],
    )
    for stage, count in sorted(figures.reminders_by_stage.items()):
        raised.add_metric([stage], count)
    yield raised
    deliveries = GaugeMetricFamily(
        "loantrace_webhook_deliveries",
        "reminder deliveries to webhooks, by status (pending, delivered, dead)",
        labels=["status"],
    )
    for status, count in sorted(figures.deliveries_by_status.items()):
        deliveries.add_metric([status], count)
    yield deliveries
    yield CounterMetricFamily(
        "loantrace_webhook_delivery_failures",
        "webhook delivery attempts that failed (HTTP error, timeout, refused address)",
        value=figures.failed_attempts,
    )
