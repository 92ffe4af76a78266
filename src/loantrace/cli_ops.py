"""Operational commands: the keeper, the indexer, tracing and audits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from loantrace.cli_common import (
    ApiOption,
    JsonOption,
    console,
    emit,
    fail,
    http,
    load_settings,
    progress,
    setup_logging,
)

if TYPE_CHECKING:
    from loantrace.services.indexer import Indexer


def keeper(
    once: Annotated[bool, typer.Option("--once", help="one round, then exit (for cron)")] = False,
    interval: Annotated[
        float | None, typer.Option(help="seconds between rounds (default: setting)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Perform due upkeep (contract-raised reminders) and deliver them to webhooks."""
    import signal
    import threading

    from loantrace.bootstrap import Runtime

    settings = load_settings()
    setup_logging(settings.log_level)
    if settings.embedded:
        fail(
            "the embedded chain lives inside one process: `loantrace serve` runs the keeper "
            "itself. Set LOANTRACE_RPC_URL to run a separate keeper against a real node"
        )
    runtime = Runtime.start(settings)
    if once:
        emit(runtime.keeper.run_once(), as_json, _print_keeper_round)
        return
    if as_json:
        fail("--json reports one round: give --once too")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    every = interval or settings.keeper_interval_seconds
    console.print(f"keeper running every {every}s on ledger {runtime.ledger.address}")
    runtime.keeper.run_forever(every, stop)


def _print_keeper_round(result: Any) -> None:
    console.print(
        f"performed {result.upkeeps_performed} upkeeps, recorded "
        f"{result.reminders_recorded} reminders, delivered {result.deliveries.delivered}, "
        f"retrying {result.deliveries.retried}, dead {result.deliveries.dead}"
    )


def index(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    interval: Annotated[float, typer.Option(help="seconds between passes")] = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Copy our contracts' events into the database (cursor, confirmations, reorg repair).

    A long backfill is read in ranges of LOANTRACE_INDEX_MAX_RANGE blocks, with a progress
    bar on a terminal; with --json each pass prints one JSON line.
    """
    import signal
    import threading

    current = load_settings()
    setup_logging(current.log_level)
    if current.embedded:
        fail("the embedded chain lives inside `loantrace serve`, which indexes on read")
    stop = threading.Event()  # a signal while starting stops it cleanly once started
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runtime = _start(current)
    chunk = int(current.index_max_range)
    try:
        while not stop.is_set():  # a signal ends the loop between ranges, never inside one
            target = int(runtime.node.w3.eth.block_number) - int(current.index_confirmations)
            run = _index_pass(runtime.indexer, target, chunk, stop, as_json)
            emit(run, as_json, _print_index_pass, line=True)
            if once:
                break
            stop.wait(interval)
    finally:
        runtime.close()


def _index_pass(
    indexer: Indexer, target: int, chunk: int, stop: Any, as_json: bool
) -> dict[str, Any]:
    """Index up to `target`, `chunk` blocks at a time, showing progress on a long backfill."""
    start = indexer.indexed_to()
    if target - start <= chunk:
        run = indexer.run_once()
        return {
            "from_block": run.from_block,
            "to_block": run.to_block,
            "events": run.events,
            "reorged_from": run.reorged_from,
        }
    first, to_block, events, reorged = start + 1, start, 0, None
    with progress(as_json) as bar:
        task = bar.add_task("indexing: 0 events", total=target - start)
        while to_block < target and not stop.is_set():
            run = indexer.run_once(max_blocks=chunk)
            stalled = run.to_block <= to_block  # e.g. a reorg moved the cursor back
            first, to_block = min(first, run.from_block), run.to_block
            events += run.events
            reorged = run.reorged_from if reorged is None else reorged
            completed = max(0, to_block - start)
            bar.update(task, completed=completed, description=f"indexing: {events} events")
            if stalled:
                break  # the next pass goes on from the repaired cursor
    return {"from_block": first, "to_block": to_block, "events": events, "reorged_from": reorged}


def _print_index_pass(run: dict[str, Any]) -> None:
    console.print(
        f"indexed blocks {run['from_block']}..{run['to_block']}: {run['events']} events",
        highlight=False,
    )


def _start(settings: Any) -> Any:
    """Start the service's runtime, or the auditor's read-only one (LOANTRACE_READ_ONLY)."""
    if settings.read_only:
        from loantrace.bootstrap_auditor import AuditorRuntime

        return AuditorRuntime.start(settings)
    from loantrace.bootstrap import Runtime

    return Runtime.start(settings)


def _runtime() -> Any:
    return _start(load_settings())


def trace(
    loan_id: Annotated[str, typer.Argument(help="loan id (the agreement digest)")],
    policy: Annotated[str, typer.Option(help="poison | haircut | fifo")] = "fifo",
    max_hops: Annotated[int, typer.Option(help="1..12")] = 6,
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print where a loan's money went: edges with tainted amounts, and destinations."""
    if api:
        params = {"policy": policy, "max_hops": max_hops}
        graph = http("GET", f"{api}/v1/loans/{loan_id}/flows", params=params)
    else:
        from loantrace.domain.tracing import Policy
        from loantrace.presenters import graph_json

        if policy not in {p.value for p in Policy}:
            fail("policy must be poison, haircut or fifo")
        found = _runtime().flows.trace(loan_id.lower(), policy=Policy(policy), max_hops=max_hops)
        graph = graph_json(found, max_hops)
    title = f"Flows of {loan_id[:18]}… ({policy}, {max_hops} hops)"
    emit(graph, as_json, lambda g: _print_graph(g, title))


def _print_graph(graph: dict[str, Any], title: str) -> None:
    edges = Table(title=title)
    for column in ("hop", "kind", "from", "to", "amount", "tainted", "tx"):
        edges.add_column(column)
    for e in graph["edges"]:
        edges.add_row(
            str(e["hop"]),
            e["kind"],
            _short(e["from_account"]),
            _short(e["to_account"]),
            f"{e['amount']:,}",
            f"{e['tainted']:,}",
            _short(e["evidence"]["tx_hash"]),
        )
    console.print(edges)
    ends = Table(title="Destinations")
    for column in ("account", "category", "tainted"):
        ends.add_column(column)
    for d in graph["destinations"]:
        ends.add_row(_short(d["account"]), d["category"] or "-", f"{d['tainted']:,}")
    console.print(ends)
    if graph["truncated"]:
        console.print("[yellow]truncated by the hop or size limit[/yellow]")


def audit(
    loan_id: Annotated[str | None, typer.Option("--loan", help="one loan only")] = None,
    severity: Annotated[str | None, typer.Option(help="low | medium | high")] = None,
    rule: Annotated[str | None, typer.Option(help="e.g. prohibited_use")] = None,
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print audit findings (one loan, or the whole portfolio) with their chain evidence."""
    if api:
        path = f"/v1/loans/{loan_id}/audit" if loan_id else "/v1/audit/findings"
        params = {k: v for k, v in (("severity", severity), ("rule", rule)) if v}
        body = http("GET", f"{api}{path}", params=params | {"limit": 1000} if not loan_id else {})
        findings = body if loan_id else body["findings"]
    else:
        from loantrace.presenters import finding_json

        flows = _runtime().flows
        found = (
            flows.audit(loan_id.lower())
            if loan_id
            else flows.portfolio(rule=rule, severity=severity)
        )
        findings = [finding_json(f) for f in found]
    emit({"count": len(findings), "findings": findings}, as_json, _print_findings)


def _print_findings(report: dict[str, Any]) -> None:
    findings = report["findings"]
    table = Table(title=f"{len(findings)} findings")
    for column in ("severity", "rule", "loan", "amount", "explanation", "evidence"):
        table.add_column(column)
    for f in findings:
        evidence = ", ".join(f"{_short(e['tx_hash'])}#{e['log_index']}" for e in f["evidence"])
        table.add_row(
            f["severity"],
            f["rule"],
            _short(f["loan_id"]),
            f"{f['amount']:,}",
            f["explanation"],
            evidence,
        )
    console.print(table)


def _short(value: str | None) -> str:
    return "-" if value is None else (value[:10] + "…" if len(value) > 12 else value)


def migrate(as_json: JsonOption = False) -> None:
    """Bring LOANTRACE_DATABASE_URL's schema up to date; needs no node and no key."""
    from loantrace.bootstrap_chain import migrate_database

    settings = load_settings()
    setup_logging("WARNING" if settings.log_level.upper() == "INFO" else settings.log_level)
    emit(
        {"revision": migrate_database(settings)},
        as_json,
        lambda r: console.print(f"database schema at revision {r['revision']}"),
    )
