"""`loantrace bench`: the throughput benchmark of issue 12, run by `make bench`.

For each database (SQLite file, throwaway PostgreSQL database) it starts its own anvil,
deploys the contracts with a dev runtime, starts a real `loantrace serve` in dev mode on
them, and measures through HTTP and JSON-RPC only, so whatever the services do shows up:
the node's raw pace, notarisation (single and batched, 1 and 32 clients), verification
beside /healthz at a small and a large number of agreements, gas from receipts, the
indexer's backfill beside web3.py's plain log reading, and the service's memory. The
tracing figures come from scripts/bench_flows.py. Every figure stands beside its baseline
from the same run; bench.json keeps the raw numbers.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Annotated, Any

import typer

QUICK = "finish in well under a minute with small numbers (the smoke test runs this)"


@dataclass(frozen=True)
class Plan:
    """How much of everything a run does."""

    mode: str
    raw_transfers: int
    small: int  # agreements notarised at the first verification figure
    large: int  # ... and at the second
    seed_batch: int  # agreements per seeding request through the batch route; = small, so
    # that the service has handled requests of the same size at both memory readings
    singles_1: int  # pre-signed pool sizes; a phase stops at its pool or its time cap
    singles_32: int
    batch_size: int
    batches_1: int
    batches_32: int
    cap_seconds: float  # the time cap of a notarisation phase
    measure_seconds: float  # duration of a verification or /healthz measurement
    warmup_seconds: float
    events: int  # extra AgreementNotarised events for the indexer's backfill
    events_per_block: int  # ... packed this many to a block
    flows: tuple[int, int, int]  # scripts/bench_flows.py: loans, transfers, samples
    clients: int = 32


QUICK_PLAN = Plan(
    mode="quick",
    raw_transfers=100,
    small=50,
    large=500,
    seed_batch=50,
    singles_1=10,
    singles_32=32,
    batch_size=16,
    batches_1=3,
    batches_32=32,
    cap_seconds=3.0,
    measure_seconds=1.0,
    warmup_seconds=0.2,
    events=200,
    events_per_block=50,
    flows=(2_000, 20_000, 30),
)
FULL_PLAN = Plan(
    mode="full",
    raw_transfers=1_000,
    small=1_000,
    large=100_000,
    seed_batch=1_000,
    singles_1=300,
    singles_32=3_000,
    batch_size=256,
    batches_1=12,
    batches_32=64,
    cap_seconds=20.0,
    measure_seconds=8.0,
    warmup_seconds=1.0,
    events=10_000,
    events_per_block=50,
    flows=(100_000, 1_000_000, 500),
)


def bench(
    quick: Annotated[bool, typer.Option("--quick", help=QUICK)] = False,
    out: Annotated[Path, typer.Option(help="where to write the raw numbers")] = Path("bench.json"),
    database: Annotated[
        str, typer.Option(help="sqlite, postgres or both (each its own anvil and service)")
    ] = "both",
) -> None:
    """Benchmark notarisation, verification, indexing, tracing, gas and memory through the
    real HTTP API on a local anvil; print each figure beside its baseline, write bench.json.
    Exits 0 when targets are missed (the table says so), non-zero only on errors."""
    import json

    from loantrace.cli_common import console, fail, setup_logging
    from loantrace.devtools.bench_report import (
        flow_figures,
        machine,
        print_report,
        trace_and_audit,
    )
    from loantrace.domain.errors import LoantraceError

    kinds = {"sqlite": ["sqlite"], "postgres": ["postgres"], "both": ["sqlite", "postgres"]}
    if database not in kinds:
        fail("--database must be sqlite, postgres or both")
    setup_logging("WARNING")
    plan = QUICK_PLAN if quick else FULL_PLAN
    began, started_at = time.monotonic(), _now()
    report: dict[str, Any] = {"version": 1, "mode": plan.mode, "started_at": started_at}
    report["machine"] = machine()
    report["plan"] = plan.__dict__ | {"flows": list(plan.flows)}
    sections = []

    def say(message: str) -> None:
        console.print(f"[dim]{time.monotonic() - began:6.1f}s[/dim] {message}")

    try:
        with TemporaryDirectory(prefix="loantrace-bench-") as tmp:
            runs = []
            for kind in kinds[database]:
                say(f"[bold]{kind}[/bold]: anvil, deployment, `loantrace serve` …")
                figures, raw = run_database(kind, plan, Path(tmp), say)
                runs.append({"database": kind, "figures": [f.to_json() for f in figures]} | raw)
                sections.append((f"{kind}: through the HTTP API on anvil", figures))
            say("tracing and audit: scripts/bench_flows.py …")
            flows = trace_and_audit(*plan.flows)
    except LoantraceError as exc:
        fail(str(exc))
    common = flow_figures(flows)
    sections.append(("tracing engine (scripts/bench_flows.py)", common))
    report["runs"] = runs
    report["common"] = {"figures": [f.to_json() for f in common], "flows": flows}
    report["finished_at"] = _now()
    report["wall_seconds"] = round(time.monotonic() - began, 2)
    judged = [f for _t, fs in sections for f in fs if f.met is not None]
    report["targets"] = {"met": sum(1 for f in judged if f.met), "total": len(judged)}
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_report(console, report, sections)
    console.print(f"raw numbers in {out}")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def run_database(
    kind: str, plan: Plan, workdir: Path, say: Any
) -> tuple[list[Any], dict[str, Any]]:
    """Measure one database's stack; return its figures and raw numbers."""
    from web3 import Web3

    from loantrace.devtools.anvil import Anvil
    from loantrace.devtools.bench_chain import (
        Contracts,
        indexer_backfill,
        plain_web3_read,
    )
    from loantrace.devtools.bench_stack import (
        SERVICE_OVERRIDES,
        Service,
        deploy,
        new_admin_key,
        service_env,
        throwaway_database,
    )
    from loantrace.domain.errors import ConfigurationError, LoantraceError

    raw: dict[str, Any] = {"started_at": _now()}
    with Anvil() as anvil, throwaway_database(kind, workdir, "service") as database_url:
        admin_key = new_admin_key()
        deployed = deploy(anvil.url, database_url, admin_key)
        env = service_env(anvil.url, database_url, deployed, admin_key)
        raw["service_settings"] = SERVICE_OVERRIDES
        raw["workers"] = os.cpu_count() or 1  # what `serve` runs in prod on this machine
        service = Service(env, workdir / f"service-{kind}.log", workers=raw["workers"])
        try:
            raw["service_start_s"] = round(service.wait_up(), 3)
            say(f"  service up in {raw['service_start_s']:.1f} s at {service.url}")
            raw["rss_start_kib"] = service.memory.rss_kib()
            try:
                raw |= _through_http(service, anvil.url, deployed, admin_key, plan, say)
            except LoantraceError as exc:
                tail = service.tail()
                raise ConfigurationError(f"{exc}\nthe service's last lines:\n{tail}") from exc
        finally:
            raw["rss_peak_kib"] = max(service.memory.peak_kib, service.memory.rss_kib())
            raw["rss_high_water_kib"] = service.memory.high_water_kib()
            service.stop()
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        contracts = Contracts.bind(w3, deployed.registry, deployed.ledger, deployed.fundflow)
        say("  indexer backfill on a fresh database, and web3.py's plain get_logs …")
        with throwaway_database(kind, workdir, "index") as index_url:
            addresses = (deployed.registry, deployed.ledger, deployed.fundflow)
            raw["indexer"] = indexer_backfill(anvil.url, index_url, addresses, deployed.start_block)
        raw["web3_plain"] = plain_web3_read(
            w3,
            contracts,
            deployed.start_block,
            raw["indexer"]["to_block"],
            raw["indexer"]["max_range"],
        )
    raw["finished_at"] = _now()
    from loantrace.devtools.bench_figures import database_figures

    return database_figures(raw), raw


def _through_http(
    service: Any, rpc_url: str, deployed: Any, admin_key: str, plan: Plan, say: Any
) -> dict[str, Any]:
    """The phases that need the service: raw node pace first (a quiet chain), then
    verification at the small and large sizes, notarisation, gas, and the event load."""
    from web3 import Web3

    from loantrace.devtools.bench_chain import (
        gas_per_document,
        notarisation_events,
        raw_transfers,
    )
    from loantrace.devtools.bench_load import (
        AgreementFactory,
        Job,
        accepted,
        healthy,
        healthz_jobs,
        run_load,
        verified,
        verify_jobs,
    )
    from loantrace.devtools.bench_stack import create_lender_key
    from loantrace.devtools.sample_terms import terms_at
    from loantrace.domain.errors import ConfigurationError

    raw: dict[str, Any] = {}
    auth = {"Authorization": f"Bearer {create_lender_key(service.url, admin_key, deployed.lender)}"}
    factory = AgreementFactory(
        deployed.domain, deployed.lender, terms_at(int(time.time())), uuid.uuid4().hex[:8]
    )

    def load(name: str, jobs: Any, clients: int, check: Any, **kw: Any) -> dict[str, Any]:
        result = run_load(service.url, iter(jobs), clients=clients, check=check, **kw)
        service.check_alive()
        summary = result.summary() | {"bodies": result.bodies}
        if result.ok == 0:
            raise ConfigurationError(f"{name}: no request succeeded: {result.first_error}")
        return summary

    def seed(total: int) -> dict[str, Any]:
        """Notarise agreements through the batch route up to `total`; two clients, so the
        next batch is signed here while the service works on the last one."""
        began, needed = time.perf_counter(), total - factory.made

        def jobs() -> Iterator[Job]:
            step = max(plan.seed_batch, total // 10)
            while factory.made < total:
                crossed = factory.made // step != (factory.made + plan.seed_batch) // step
                if crossed and total >= 10 * plan.seed_batch:
                    spent = time.perf_counter() - began
                    say(f"    {factory.made:,} agreements signed and sent, {spent:.0f} s")
                yield from factory.batch_jobs(1, min(plan.seed_batch, total - factory.made))

        result = load("seeding", jobs(), 2, accepted, headers=auth)
        if result["failed"]:
            raise ConfigurationError(f"seeding failed: {result['first_error']}")
        seconds = time.perf_counter() - began
        return {"agreements": total, "added": needed, "seconds": round(seconds, 3)}

    def verification(label: str) -> dict[str, Any]:
        say(f"  verification and /healthz, {plan.clients} clients, {factory.made:,} agreements …")
        digests = list(factory.digests)
        found: dict[str, Any] = {"agreements": factory.made}
        for name, jobs, check in (
            ("verify", verify_jobs(digests), verified),
            ("healthz", healthz_jobs(), healthy),
        ):
            load(f"{name} warm-up", jobs, plan.clients, check, duration=plan.warmup_seconds)
            found[name] = load(name, jobs, plan.clients, check, duration=plan.measure_seconds)
            found[name].pop("bodies")
        found["rss_kib"] = service.memory.rss_kib()
        return found

    say(f"  raw node pace: {plan.raw_transfers:,} signed transfers, 1 client …")
    raw["raw_node"] = raw_transfers(rpc_url, plan.raw_transfers)
    raw["seed_small"] = seed(plan.small)
    raw["small"] = verification("small")
    say(f"  seeding to {plan.large:,} agreements through the batch route …")
    raw["seed_large"] = seed(plan.large)
    raw["large"] = verification("large")
    for key, clients, batches in (
        ("single_1", 1, plan.singles_1),
        ("single_32", plan.clients, plan.singles_32),
        ("queued_32", plan.clients, plan.singles_32),
        ("batch_1", 1, plan.batches_1),
        ("batch_32", plan.clients, plan.batches_32),
    ):
        say(f"  notarisation {key.replace('_', ', ')} client(s) …")
        jobs = (  # signed by the borrowers before the clock starts
            factory.single_jobs(batches)
            if key.startswith("single")
            else factory.single_jobs(batches, anchoring="batch")
            if key.startswith("queued")
            else factory.batch_jobs(batches, plan.batch_size)
        )
        raw[key] = load(key, jobs, clients, accepted, duration=plan.cap_seconds, headers=auth)
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    from loantrace.devtools.bench_chain import Contracts

    contracts = Contracts.bind(w3, deployed.registry, deployed.ledger, deployed.fundflow)
    raw["gas_single"] = gas_per_document(rpc_url, contracts.registry, _tx_hash(raw["single_1"]))
    raw["gas_batch"] = gas_per_document(rpc_url, contracts.registry, _tx_hash(raw["batch_1"]))
    for key in ("single_1", "single_32", "queued_32", "batch_1", "batch_32"):
        raw[key].pop("bodies")
    say(f"  event load: {plan.events:,} notarisations from a second NOTARY, raw transactions …")
    raw["event_load"] = notarisation_events(
        rpc_url,
        contracts.registry,
        deployed.domain,
        deployed.events_notary,
        plan.events,
        plan.events_per_block,
    )
    raw["agreements_via_service"] = factory.made
    return raw


def _tx_hash(summary: dict[str, Any]) -> str:
    """The transaction of the first anchored answer of a phase (a receipt, a batch's first
    receipt, or a 202's status once mined)."""
    for body in summary["bodies"]:
        if not isinstance(body, dict):
            continue
        receipts = body.get("receipts")
        candidate = receipts[0] if isinstance(receipts, list) and receipts else body
        if isinstance(candidate, dict) and candidate.get("tx_hash"):
            return str(candidate["tx_hash"])
    from loantrace.domain.errors import ChainError

    raise ChainError("no answer of the notarisation phase named its transaction")
