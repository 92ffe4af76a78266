"""Command line: demo, serve, notarise, verify, sign, compile."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from loantrace.domain.errors import LoantraceError

app = typer.Typer(
    help="Notarise loan agreements on an EVM chain and verify them.", no_args_is_help=True
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ApiOption = Annotated[
    str | None, typer.Option("--api", help="URL of a running service; default: local node + db")
]


def _settings() -> Any:
    from loantrace.settings import Settings

    return Settings()


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _fail(message: str) -> None:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=2)


@app.command()
def demo() -> None:
    """Run the demo on the embedded chain: notarise, batch, tamper, verify; exit 0 if all hold."""
    from loantrace.services.demo import run_demo
    from loantrace.services.demo_ledger import run_ledger_demo
    from loantrace.services.runtime import Runtime
    from loantrace.settings import Settings

    _setup_logging("WARNING")
    runtime = Runtime.start(Settings(mode="dev", rpc_url=None, database_url=None))
    console.print(f"[bold]loantrace demo[/bold] on the {runtime.node.label}")
    console.print(f"chain id {runtime.node.chain_id}, AgreementRegistry {runtime.registry.address}")
    console.print(f"lender (NOTARY) {runtime.notary.lender}\n")
    result = run_demo(runtime)
    reminders = run_ledger_demo(runtime, result)
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
    if not result.ok:
        _fail("some steps did not give the expected outcome")
    console.print("[green]all steps gave the expected outcome[/green]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
) -> None:
    """Serve the HTTP API (embedded chain and in-memory SQLite unless settings say otherwise)."""
    import threading

    import uvicorn

    from loantrace.api.app import create_app
    from loantrace.services.runtime import Runtime

    settings = _settings()
    _setup_logging(settings.log_level)
    runtime = Runtime.start(settings)
    if runtime.node.embedded:
        console.print(
            "[yellow]embedded chain: it lives in this process's memory, and so does the "
            "database; both are gone when it stops. Set LOANTRACE_RPC_URL for a real node.[/yellow]"
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
    try:
        uvicorn.run(create_app(runtime), host=host, port=port, log_level=settings.log_level.lower())
    finally:
        stop.set()


@app.command()
def keeper(
    once: Annotated[bool, typer.Option("--once", help="one round, then exit (for cron)")] = False,
    interval: Annotated[
        float | None, typer.Option(help="seconds between rounds (default: setting)")
    ] = None,
) -> None:
    """Perform due upkeep (contract-raised reminders) and deliver them to webhooks."""
    import signal
    import threading

    from loantrace.services.runtime import Runtime

    settings = _settings()
    _setup_logging(settings.log_level)
    if settings.embedded:
        _fail(
            "the embedded chain lives inside one process: `loantrace serve` runs the keeper "
            "itself. Set LOANTRACE_RPC_URL to run a separate keeper against a real node"
        )
    runtime = Runtime.start(settings)
    if once:
        result = runtime.keeper.run_once()
        console.print(
            f"performed {result.upkeeps_performed} upkeeps, recorded "
            f"{result.reminders_recorded} reminders, delivered {result.deliveries.delivered}, "
            f"retrying {result.deliveries.retried}, dead {result.deliveries.dead}"
        )
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    every = interval or settings.keeper_interval_seconds
    console.print(f"keeper running every {every}s on ledger {runtime.ledger.address}")
    runtime.keeper.run_forever(every, stop)


def _sidecar(file: Path) -> dict[str, Any]:
    path = file.with_name(file.name + ".agreement.json")
    if not path.is_file():
        _fail(f"{path} is missing: it holds borrower, commitment, signature and terms (see `sign`)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


@app.command()
def notarise(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="documents")],
    batch: Annotated[bool, typer.Option(help="anchor all files under one Merkle root")] = False,
    api: ApiOption = None,
) -> None:
    """Notarise FILE(s); each needs FILE.agreement.json. Writes FILE.receipt.json."""
    from loantrace.domain.digest import document_digest
    from loantrace.domain.hexcodec import to_hex

    items = []
    for file in files:
        item = _sidecar(file)
        item["digest"] = to_hex(document_digest(file.read_bytes()))
        items.append(item)
    try:
        receipts = _call_notarise(items, batch or len(items) > 1, api)
    except LoantraceError as exc:
        _fail(str(exc))
    table = Table(title="Notarised")
    for column in ("file", "digest", "block", "tx", "mode"):
        table.add_column(column)
    for file, receipt in zip(files, receipts, strict=True):
        file.with_name(file.name + ".receipt.json").write_text(json.dumps(receipt, indent=2))
        table.add_row(
            file.name,
            receipt["digest"][:18] + "…",
            str(receipt["block_number"]),
            receipt["tx_hash"][:18] + "…",
            receipt["mode"],
        )
    console.print(table)


def _call_notarise(
    items: list[dict[str, Any]], batch: bool, api: str | None
) -> list[dict[str, Any]]:
    if api:
        if batch:
            body = _http("POST", f"{api}/v1/agreements/batch", json={"agreements": items})
            return list(body["receipts"])
        form = {
            k: (json.dumps(v) if k == "terms" else v) for k, v in items[0].items() if v is not None
        }
        return [_http("POST", f"{api}/v1/agreements", data=form)]
    from loantrace.api.routes import receipt_out, submission_of
    from loantrace.api.schemas import AgreementIn
    from loantrace.services.runtime import Runtime

    runtime = Runtime.start(_settings())
    subs = [
        submission_of(AgreementIn.model_validate(it), f"file {i}") for i, it in enumerate(items)
    ]
    receipts = runtime.notary.notarise_batch(subs) if batch else [runtime.notary.notarise(subs[0])]
    return [receipt_out(r).model_dump() for r in receipts]


@app.command()
def sign(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="document to sign")],
    terms: Annotated[Path, typer.Option(exists=True, help="key terms JSON file")],
    borrower_commitment: Annotated[str, typer.Option(help="salted commitment, bytes32 hex")],
    api: Annotated[str, typer.Option("--api", help="URL of the running service")],
    key_env: Annotated[
        str, typer.Option(help="environment variable holding the borrower's private key")
    ] = "LOANTRACE_BORROWER_KEY",
) -> None:
    """Sign FILE as the borrower (EIP-712, like a wallet would) and write FILE.agreement.json."""
    import os

    from eth_account import Account

    from loantrace.domain.digest import document_digest
    from loantrace.domain.hexcodec import to_hex

    key = os.environ.get(key_env)
    if not key:
        _fail(f"set {key_env} to the borrower's private key (hex)")
    borrower = Account.from_key(key)
    terms_json = json.loads(terms.read_text())
    params = {
        "digest": to_hex(document_digest(file.read_bytes())),
        "borrower": borrower.address,
        "borrower_commitment": borrower_commitment,
        "terms": json.dumps(terms_json),
    }
    typed = _http("GET", f"{api}/v1/agreements/typed-data", params=params)
    signed = Account.sign_typed_data(key, full_message=typed)
    sidecar = {
        "borrower": borrower.address,
        "borrower_commitment": borrower_commitment,
        "borrower_signature": to_hex(bytes(signed.signature)),
        "terms": terms_json,
    }
    out = file.with_name(file.name + ".agreement.json")
    out.write_text(json.dumps(sidecar, indent=2))
    console.print(f"wrote {out} (borrower {borrower.address})")


@app.command()
def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="document to check")],
    receipt: Annotated[Path | None, typer.Option(help="receipt JSON (for batched ones)")] = None,
    api: ApiOption = None,
) -> None:
    """Verify FILE against the chain; exit 0 only when the verdict is `valid`."""
    from loantrace.domain.digest import document_digest
    from loantrace.domain.hexcodec import to_hex

    digest = to_hex(document_digest(file.read_bytes()))
    merkle = json.loads(receipt.read_text()).get("merkle") if receipt else None
    if api:
        form = {"digest": digest} | ({"merkle": json.dumps(merkle)} if merkle else {})
        report = _http("POST", f"{api}/v1/verify", data=form)
    else:
        from dataclasses import asdict

        from loantrace.services.receipts import MerkleEvidence
        from loantrace.services.runtime import Runtime

        runtime = Runtime.start(_settings())
        evidence = MerkleEvidence.from_json(merkle) if merkle else None
        report = asdict(runtime.verifier.verify(bytes.fromhex(digest[2:]), evidence))
    table = Table(title=f"Verification of {file.name}", show_header=False)
    for key, value in report.items():
        if value is not None and value != "":
            table.add_row(key, str(value))
    console.print(table)
    if report["verdict"] != "valid":
        raise typer.Exit(code=1)


@app.command()
def compile(
    root: Annotated[Path | None, typer.Option(help="source checkout (default: search up)")] = None,
) -> None:
    """Compile contracts/ with solc-js and write the committed artifacts."""
    from loantrace.chain.compiler import find_source_root, write_artifacts

    try:
        paths = write_artifacts(root or find_source_root())
    except LoantraceError as exc:
        _fail(str(exc))
    for path in paths:
        console.print(f"wrote {path}")


@app.command("gas-report")
def gas_report() -> None:
    """Print the gas of a single notarisation and of batches of 1, 16, 256 and 1,024."""
    from loantrace.services.gas import measure, measure_ledger
    from loantrace.services.runtime import Runtime
    from loantrace.settings import Settings

    _setup_logging("WARNING")
    runtime = Runtime.start(Settings(mode="dev", rpc_url=None, database_url=None))
    table = Table(title="Gas on the embedded chain (cancun rules)")
    for column in ("operation", "items", "gas", "gas per item"):
        table.add_column(column, justify="right")
    for line in [*measure(runtime), *measure_ledger(runtime)]:
        table.add_row(
            line.operation, str(line.documents), f"{line.gas:,}", f"{line.per_document:,}"
        )
    console.print(table)
    console.print("reference: EAS attest 180k-250k gas; one storage anchor per document ~46k")


def _http(method: str, url: str, **kwargs: Any) -> Any:
    try:
        response = httpx.request(method, url, timeout=60.0, **kwargs)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {url}: {exc}")
    if response.status_code >= 400:
        try:
            problem = response.json()
            _fail(f"{problem.get('status')} {problem.get('title')}: {problem.get('detail')}")
        except ValueError:
            _fail(f"{response.status_code} from {url}")
    return response.json()


def main() -> None:
    """Entry point for `python -m loantrace.cli`."""
    try:
        app()
    except LoantraceError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
