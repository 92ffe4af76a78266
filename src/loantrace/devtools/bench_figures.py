"""The figures of one database's run of `loantrace bench`, each beside its baseline from the
same run, with the targets of issue 12."""

from __future__ import annotations

from typing import Any

from loantrace.devtools.bench_report import Figure

RAW = "raw node tx/s"


def _failed(summary: dict[str, Any]) -> str:
    return f" [{summary['failed']:,} failed]" if summary.get("failed") else ""


def notarisation_figures(raw: dict[str, Any]) -> list[Figure]:
    """Node pace, notarisation documents/s (ratio: documents per transaction slot), the
    submit-to-anchored latency, and gas per document."""
    node = raw["raw_node"]["tx_per_s"]
    single_1, single_32, queued = raw["single_1"], raw["single_32"], raw["queued_32"]
    batch_1, batch_32 = raw["batch_1"], raw["batch_32"]
    size = raw["gas_batch"]["documents"]
    return [
        Figure("raw_node_tx_per_s", "raw node: signed transfers, 1 client", node, "tx/s"),
        Figure(
            "single_1_docs_per_s",
            "single notarisation, 1 client" + _failed(single_1),
            single_1["documents_per_s"],
            "docs/s",
            RAW,
            node,
        ),
        Figure(
            "single_32_docs_per_s",
            f"single notarisation, {single_32['clients']} clients" + _failed(single_32),
            single_32["documents_per_s"],
            "docs/s",
            RAW,
            node,
        ),
        Figure(
            "single_32_anchored_p99_ms",
            f"single, {single_32['clients']} clients: submit -> anchored p99",
            single_32["anchored_p99_ms"],
            "ms",
        ),
        Figure(
            "queued_32_docs_per_s",
            f"single submissions batched by the service (202), {queued['clients']} clients"
            + _failed(queued),
            queued["documents_per_s"],
            "docs/s",
            RAW,
            node,
            at_least=1_000.0,
        ),
        Figure(
            "queued_32_anchored_p99_ms",
            f"batched for the client, {queued['clients']} clients: submit -> anchored p99"
            " (1 in 10 followed)",
            queued["anchored_p99_ms"],
            "ms",
            at_most=2_000.0,
        ),
        Figure(
            "batch_1_docs_per_s",
            f"batched notarisation ({size} per batch), 1 client" + _failed(batch_1),
            batch_1["documents_per_s"],
            "docs/s",
            RAW,
            node,
        ),
        Figure(
            "batch_32_docs_per_s",
            f"batched notarisation ({size} per batch), {batch_32['clients']} clients"
            + _failed(batch_32),
            batch_32["documents_per_s"],
            "docs/s",
            RAW,
            node,
            at_least=2_000.0,
        ),
        Figure(
            "gas_single_per_doc",
            "gas per document, single (from its receipt)",
            raw["gas_single"]["per_document"],
            "gas",
        ),
        Figure(
            "gas_batch_per_doc",
            f"gas per document, batch of {size} (from its receipt)",
            raw["gas_batch"]["per_document"],
            "gas",
            "single",
            raw["gas_single"]["per_document"],
        ),
    ]


def verification_figures(raw: dict[str, Any], key: str) -> list[Figure]:
    """Verification req/s and latency beside /healthz of the same service (the ceiling of
    the web stack), at one number of notarised agreements."""
    at = raw[key]
    n = f"{at['agreements']:,}"
    verify, health = at["verify"], at["healthz"]
    clients = verify["clients"]
    return [
        Figure(
            f"healthz_rps_{key}",
            f"GET /healthz, {clients} clients ({n} agreements)",
            health["requests_per_s"],
            "req/s",
        ),
        Figure(
            f"verify_rps_{key}",
            f"verification by digest, {clients} clients ({n} agreements)" + _failed(verify),
            verify["requests_per_s"],
            "req/s",
            "/healthz",
            health["requests_per_s"],
            at_least=1_000.0,
            ratio_at_least=0.25,
        ),
        Figure(
            f"verify_p50_ms_{key}",
            f"verification p50 latency ({n} agreements)",
            verify["p50_ms"],
            "ms",
            "/healthz p50",
            health["p50_ms"],
        ),
        Figure(
            f"verify_p99_ms_{key}",
            f"verification p99 latency ({n} agreements)",
            verify["p99_ms"],
            "ms",
            "/healthz p99",
            health["p99_ms"],
            at_most=50.0,
        ),
    ]


def flatness_figures(raw: dict[str, Any]) -> list[Figure]:
    """Cost and memory at the large size beside the small size (flat: ratio near 1)."""
    small, large = raw["small"], raw["large"]
    at_small = f"at {small['agreements']:,}"
    mib = 1024.0
    return [
        Figure(
            "verify_p50_ms_growth",
            f"verification p50 at {large['agreements']:,} agreements",
            large["verify"]["p50_ms"],
            "ms",
            at_small,
            small["verify"]["p50_ms"],
            ratio_at_most=1.25,
        ),
        Figure(
            "rss_mib_large",
            f"service RSS at {large['agreements']:,} agreements",
            large["rss_kib"] / mib,
            "MiB",
            at_small,
            small["rss_kib"] / mib,
            ratio_at_least=0.9,
            ratio_at_most=1.1,
        ),
        Figure(
            "rss_peak_mib",
            "service peak RSS during the run",
            raw["rss_peak_kib"] / mib,
            "MiB",
            "RSS at start",
            raw["rss_start_kib"] / mib,
        ),
    ]


def indexer_figures(raw: dict[str, Any]) -> list[Figure]:
    """The indexer's backfill beside web3.py's plain get_logs + process_log."""
    index, plain = raw["indexer"], raw["web3_plain"]
    return [
        Figure(
            "indexer_events_per_s",
            f"indexer backfill, {index['events']:,} events into a fresh database",
            index["events_per_s"],
            "events/s",
            "web3.py get_logs + process_log",
            plain["events_per_s"],
            at_least=10_000.0,
        )
    ]


def database_figures(raw: dict[str, Any]) -> list[Figure]:
    """Every figure of one database's run, in the table's order."""
    return [
        *notarisation_figures(raw),
        *verification_figures(raw, "small"),
        *verification_figures(raw, "large"),
        *flatness_figures(raw),
        *indexer_figures(raw),
    ]
