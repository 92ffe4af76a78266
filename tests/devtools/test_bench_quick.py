"""Smoke test of `loantrace bench --quick`: the real command (its own anvil, a real
`loantrace serve`, HTTP load) prints the table and writes every figure with its ratio."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loantrace.chain.localnode import find_anvil
from loantrace.domain.errors import ConfigurationError

pytestmark = [pytest.mark.anvil, pytest.mark.slow]

FIGURES = {
    "raw_node_tx_per_s",
    "single_1_docs_per_s",
    "single_32_docs_per_s",
    "single_32_anchored_p99_ms",
    "queued_32_docs_per_s",
    "queued_32_anchored_p99_ms",
    "batch_1_docs_per_s",
    "batch_32_docs_per_s",
    "gas_single_per_doc",
    "gas_batch_per_doc",
    "healthz_rps_small",
    "verify_rps_small",
    "verify_p50_ms_small",
    "verify_p99_ms_small",
    "healthz_rps_large",
    "verify_rps_large",
    "verify_p50_ms_large",
    "verify_p99_ms_large",
    "verify_p50_ms_growth",
    "rss_mib_large",
    "rss_peak_mib",
    "indexer_events_per_s",
}
COMMON = {"trace_p50_ms", "trace_p95_ms", "audit_s"}


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One `loantrace bench --quick --database sqlite` run in a subprocess."""
    try:
        find_anvil()
    except ConfigurationError as exc:
        pytest.skip(f"anvil unavailable: {exc}")
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    args = [sys.executable, "-m", "loantrace.cli", "bench", "--quick", "--database", "sqlite"]
    done = subprocess.run(
        [*args, "--out", str(out)], capture_output=True, text=True, env=env, timeout=240
    )
    return done, out


def test_quick_bench_exits_zero_and_prints_the_table(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, _out = quick_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for column in ("figure", "value", "baseline", "ratio", "target", "met?"):
        assert column in done.stdout
    assert "raw node: signed transfers" in done.stdout
    assert "verification by digest" in done.stdout
    assert "targets met:" in done.stdout


def test_bench_json_has_every_figure_positive_with_its_ratio(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    done, out = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["mode"] == "quick"
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["python"]
    assert report["machine"]["anvil"].startswith("anvil")
    assert report["started_at"] <= report["finished_at"]
    [run] = report["runs"]
    assert run["database"] == "sqlite"
    assert run["workers"] == (os.cpu_count() or 1)  # as `serve` runs in prod here
    figures = {f["key"]: f for f in run["figures"]}
    common = {f["key"]: f for f in report["common"]["figures"]}
    assert set(figures) == FIGURES
    assert set(common) == COMMON
    for figure in [*figures.values(), *common.values()]:
        assert figure["value"] > 0, figure
        assert {"baseline", "ratio", "target", "met"} <= set(figure), figure
        if figure["baseline"] is not None:
            assert figure["baseline"] > 0, figure
            assert figure["ratio"] == pytest.approx(figure["value"] / figure["baseline"], rel=1e-3)
        if figure["target"] is not None:
            assert isinstance(figure["met"], bool), figure
    # Baselines are the same run's own measurements.
    raw_node = figures["raw_node_tx_per_s"]["value"]
    assert figures["single_1_docs_per_s"]["baseline"] == raw_node
    assert figures["verify_rps_small"]["baseline"] == figures["healthz_rps_small"]["value"]
    # The work really happened: agreements notarised, events indexed, gas from receipts.
    assert run["large"]["agreements"] > run["small"]["agreements"] >= 50
    assert run["indexer"]["events"] == run["web3_plain"]["events"] >= 100
    assert run["gas_batch"]["documents"] > 1
    assert run["gas_single"]["documents"] == 1
    assert run["gas_batch"]["per_document"] < run["gas_single"]["per_document"]
