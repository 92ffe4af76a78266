"""Command line: demo, serve, compile, gas-report; more commands in cli_agreements/cli_ops."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loantrace import (
    cli_access,
    cli_agreements,
    cli_batcher,
    cli_deploy,
    cli_ops,
    cli_roles,
    cli_verify,
)
from loantrace.cli_common import (
    JsonOption,
    ReportingGroup,
    console,
    emit,
    err_console,
    fail,
    load_settings,
    setup_logging,
)
from loantrace.devtools import bench
from loantrace.domain.errors import LoantraceError

app = typer.Typer(
    cls=ReportingGroup,  # a bad setting, an unreachable node: one `error:` line, exit 2
    help="Notarise loan agreements on an EVM chain, record loans, trace their money.",
    no_args_is_help=True,
)
for module, names in (
    (cli_agreements, ("notarise", "sign")),
    (cli_verify, ("verify",)),
    (cli_ops, ("keeper", "index", "trace", "audit", "migrate")),
):
    for name in names:
        app.command()(getattr(module, name))
app.add_typer(cli_access.keys_app, name="keys")
app.add_typer(cli_access.audit_app, name="audit-log")
app.add_typer(cli_access.personal_app, name="personal-data")
app.add_typer(cli_roles.roles_app, name="roles")
app.add_typer(cli_roles.keystore_app, name="keystore")
app.command("verify-certificate")(cli_verify.verify_certificate)
app.command("deploy")(cli_deploy.deploy)
app.command("integrity")(cli_deploy.integrity)
app.command("batcher")(cli_batcher.batcher)
app.command("bench")(bench.bench)


@app.command()
def demo() -> None:
    """Run the demo on the embedded chain: notarise, batch, tamper, verify; exit 0 if all hold."""
    from loantrace.bootstrap import Runtime
    from loantrace.devtools.demo import run_demo
    from loantrace.devtools.demo_cap import report_deduction, run_cap_demo
    from loantrace.devtools.demo_flows import run_flow_demo
    from loantrace.devtools.demo_ledger import run_ledger_demo
    from loantrace.devtools.demo_parties import run_parties_demo, two_lender_keystores
    from loantrace.settings import Settings

    setup_logging("WARNING")
    keystores, password = two_lender_keystores()  # two lenders, each with its own key
    admin_token = secrets.token_urlsafe(32)
    # The demo's reference webhook receiver listens on loopback, which is otherwise refused.
    settings = Settings(
        mode="dev",
        rpc_url=None,
        database_url=None,
        webhook_allow_hosts="127.0.0.1/32",
        keystore_dir=keystores,
        keystore_password=password,
        admin_key=admin_token,
    )
    runtime = Runtime.start(settings)
    console.print(f"[bold]loantrace demo[/bold] on the {runtime.node.label}")
    console.print(f"chain id {runtime.node.chain_id}, AgreementRegistry {runtime.registry.address}")
    lenders = ", ".join(d.signer.address for d in runtime.desks.values())
    regulator = runtime.regulator.signer.address if runtime.regulator else "none"
    console.print(f"lenders (NOTARY, keystore keys) {lenders}; regulator {regulator}\n")
    result = run_demo(runtime)
    deducted = run_cap_demo(runtime, result)
    reminders = run_ledger_demo(runtime, result)
    report_deduction(runtime, result, deducted)
    findings = run_flow_demo(runtime, result)
    parties = run_parties_demo(runtime, admin_token)
    table = Table(title="What happened")
    for column in ("step", "digest (= sha256sum)", "outcome", "expected", "detail"):
        table.add_column(column)
    for step in result.steps:
        mark = "[green]" if step.ok else "[red]"
        table.add_row(
            step.action, step.digest[:18] + "…", f"{mark}{step.outcome}", step.expected, step.detail
        )
    console.print(table)
    received = Table(title="Reminders raised by the contract, received signed by the demo webhook")
    for column in ("loan", "instalment", "stage", "days past due", "amount due"):
        received.add_column(column)
    for line in reminders:
        received.add_row(
            line.loan,
            str(line.instalment + 1),
            line.stage,
            str(line.days_past_due),
            f"{line.amount_due:,}",
        )
    console.print(received)
    audit = Table(title="Audit findings of the fund-flow loans, each with on-chain evidence")
    for column in ("severity", "rule", "loan", "amount", "evidence (tx#log)"):
        audit.add_column(column)
    for f in findings:
        evidence = ", ".join(f"{e.tx_hash[:10]}…#{e.log_index}" for e in f.evidence[:2])
        audit.add_row(str(f.severity), str(f.rule), f.loan_id[:12] + "…", f"{f.amount:,}", evidence)
    console.print(audit)
    who = Table(title="Two lenders, a regulator, an auditor and a borrower, over HTTP")
    for column in ("who: what", "HTTP status", "expected", "detail"):
        who.add_column(column)
    for step in parties:
        mark = "[green]" if step.ok else "[red]"
        who.add_row(step.action, f"{mark}{step.outcome}", step.expected, step.detail)
    console.print(who)
    if not result.ok or not all(step.ok for step in parties):
        fail("some steps did not give the expected outcome")
    console.print("[green]all steps gave the expected outcome[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="API worker processes (default: the core count in prod, 1 in dev); "
            "background loops run once, in this process",
        ),
    ] = None,
) -> None:
    """Serve the HTTP API. Without a node configured, a local chain and a database are kept
    in the data directory and survive restarts (LOANTRACE_LOCAL_CHAIN=memory: neither does)."""
    import os
    import threading

    import uvicorn

    from loantrace.api.app import create_app, settle_heap
    from loantrace.bootstrap import Runtime
    from loantrace.chain.localnode import LocalNode

    settings = load_settings()
    setup_logging(settings.log_level)
    local = None
    if settings.rpc_url is None and settings.local_chain == "persistent":
        local = LocalNode(settings.data_dir)
        settings = settings.model_copy(
            update={
                "rpc_url": local.url,
                "database_url": settings.database_url or local.database_url,
                "keeper_in_serve": True,
            }
        )
        console.print(f"local chain {local.chain_id} and database kept in {settings.data_dir}")
    try:
        runtime = Runtime.start(settings)
    except BaseException:
        if local is not None:
            local.stop()
        raise
    if runtime.node.embedded:
        console.print(
            "[yellow]in-memory chain: it lives in this process's memory, and so does the "
            "database; both are gone when it stops.[/yellow]"
        )
    console.print(f"AgreementRegistry {runtime.registry.address} on chain {runtime.node.chain_id}")
    console.print(f"lender (NOTARY) {runtime.notary.lender}; API on http://{host}:{port}")
    stop = threading.Event()
    if runtime.node.embedded or settings.keeper_in_serve:
        threading.Thread(
            target=runtime.keeper.run_forever,
            args=(settings.keeper_interval_seconds, stop),
            name="keeper",
            daemon=True,
        ).start()
        console.print(f"keeper runs in this process every {settings.keeper_interval_seconds}s")
    if settings.index_in_serve and not runtime.node.embedded:
        threading.Thread(
            target=runtime.flows.index_forever, args=(5.0, stop), name="indexer", daemon=True
        ).start()
        console.print("indexer runs in this process")
    batchers = runtime.batchers if settings.batcher_in_serve else []
    threads = [
        threading.Thread(target=b.run_forever, args=(stop,), name="batcher", daemon=True)
        for b in batchers
    ]
    for thread in threads:
        thread.start()
    if batchers:
        console.print(
            f"batcher runs in this process: batches of up to {settings.queue_batch_size}, "
            f"closed after {settings.queue_window_ms} ms"
        )
    count = workers or ((os.cpu_count() or 1) if settings.mode == "prod" else 1)
    in_memory = settings.effective_database_url() in ("sqlite://", "sqlite:///:memory:")
    if count > 1 and (runtime.node.embedded or in_memory):
        console.print("[yellow]an in-process chain or database: 1 worker[/yellow]")
        count = 1
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": settings.log_level.lower(),
        "log_config": None,  # our logging: JSON when asked, and no query strings
        "access_log": False,  # the request-id middleware writes one access line instead
    }
    try:
        if count == 1:
            api = create_app(runtime)
            settle_heap()
            uvicorn.run(api, **options)
        else:  # each worker builds its runtime from the environment this process settled
            os.environ.update(_worker_environment(runtime))
            console.print(f"{count} API workers")
            uvicorn.run(
                "loantrace.api.app:app_from_environment", factory=True, workers=count, **options
            )
    finally:
        stop.set()
        for batcher, thread in zip(batchers, threads, strict=True):
            batcher.wake()  # let a batch being anchored be recorded before the pool closes
            thread.join(timeout=10)
        runtime.close()
        if local is not None:
            local.stop()


def _worker_environment(runtime: Any) -> dict[str, str]:
    """The settings a worker needs to find what this process started, deployed and bound."""
    settings = runtime.settings
    env = {
        "LOANTRACE_RPC_URL": str(settings.rpc_url),
        "LOANTRACE_DATABASE_URL": settings.effective_database_url(),
        "LOANTRACE_REGISTRY_ADDRESS": runtime.registry.address,
        "LOANTRACE_LEDGER_ADDRESS": runtime.ledger.address,
        "LOANTRACE_FUNDFLOW_ADDRESS": runtime.fundflow.address,
        "LOANTRACE_LEDGER_START_BLOCK": str(settings.ledger_start_block),
        # the loops run here, once: never in the workers
        "LOANTRACE_KEEPER_IN_SERVE": "false",
        "LOANTRACE_INDEX_IN_SERVE": str(settings.index_in_serve).lower(),  # read, not write
        "LOANTRACE_BATCHER_IN_SERVE": "false",
    }
    return env


@app.command()
def compile(
    root: Annotated[Path | None, typer.Option(help="source checkout (default: search up)")] = None,
    evm_version: Annotated[
        str, typer.Option(help="target EVM; paris has no PUSH0, which some chains refuse")
    ] = "paris",
    as_json: JsonOption = False,
) -> None:
    """Compile contracts/ with solc-js and write the committed artifacts."""
    from loantrace.chain.compiler import find_source_root, write_artifacts

    try:
        paths = write_artifacts(root or find_source_root(), evm_version=evm_version)
    except LoantraceError as exc:
        fail(str(exc))
    emit({"written": [str(p) for p in paths]}, as_json, _print_written)


def _print_written(report: dict[str, Any]) -> None:
    for path in report["written"]:
        console.print(f"wrote {path}")


@app.command("gas-report")
def gas_report(as_json: JsonOption = False) -> None:
    """Print the gas of a single notarisation and of batches of 1, 16, 256 and 1,024."""
    from loantrace.bootstrap import Runtime
    from loantrace.devtools.gas import measure, measure_ledger
    from loantrace.settings import Settings

    setup_logging("WARNING")
    runtime = Runtime.start(Settings(mode="dev", rpc_url=None, database_url=None))
    lines = [
        {
            "operation": line.operation,
            "items": line.documents,
            "gas": line.gas,
            "gas_per_item": line.per_document,
        }
        for line in [*measure(runtime), *measure_ledger(runtime)]
    ]
    emit({"chain": "embedded (cancun rules)", "lines": lines}, as_json, _print_gas)


def _print_gas(report: dict[str, Any]) -> None:
    table = Table(title="Gas on the embedded chain (cancun rules)")
    for column in ("operation", "items", "gas", "gas per item"):
        table.add_column(column, justify="right")
    for line in report["lines"]:
        table.add_row(
            line["operation"], str(line["items"]), f"{line['gas']:,}", f"{line['gas_per_item']:,}"
        )
    console.print(table)
    console.print("reference: EAS attest 180k-250k gas; one storage anchor per document ~46k")


def main() -> None:
    """Entry point for `python -m loantrace.cli`."""
    try:
        app()
    except LoantraceError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
