"""Commands that check evidence, read-only: `verify` and `verify-certificate`.

Against a node (`--rpc`), they need no key and no database, send no transaction and create
no file: an auditor runs them with nothing but a node of the chain and a registry address.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loantrace.cli_common import ApiOption, JsonOption, console, fail, http
from loantrace.domain.errors import LoantraceError

RpcOption = Annotated[
    str | None,
    typer.Option("--rpc", envvar="LOANTRACE_RPC_URL", help="JSON-RPC URL of a node of the chain"),
]


def verify(
    target: Annotated[str, typer.Argument(help="the document (a file), or its SHA-256 (0x…)")],
    receipt: Annotated[Path | None, typer.Option(help="receipt JSON (for batched ones)")] = None,
    rpc: RpcOption = None,
    registry: Annotated[
        str | None,
        typer.Option(envvar="LOANTRACE_REGISTRY_ADDRESS", help="the AgreementRegistry address"),
    ] = None,
    manifests: Annotated[
        list[str] | None,
        typer.Option(
            "--manifests",
            help="folder or URL template with {sha256} of published batch manifests "
            "(repeatable): finds a batched document without its receipt",
        ),
    ] = None,
    from_block: Annotated[int, typer.Option(help="the registry's first block")] = 0,
    as_json: JsonOption = False,
    api: ApiOption = None,
) -> None:
    """Verify a document against the chain; exit 0 only when the verdict is `valid`.

    With --rpc and --registry it is read-only: no key, no database, no file, no transaction.
    """
    digest = _digest(target)
    given = json.loads(receipt.read_text()) if receipt else {}
    merkle = given.get("merkle")
    where = {k: str(given[k]) for k in ("chain_id", "contract_address") if given.get(k)}
    if api:
        form = {"digest": digest} | ({"merkle": json.dumps(merkle)} if merkle else {}) | where
        report = http("POST", f"{api}/v1/verify", data=form)
    else:
        if not rpc or not registry:
            fail("give --rpc and --registry (read-only, against a node), or --api URL")
        try:
            report = _verify_read_only(
                digest, merkle, where, rpc, registry, manifests or [], from_block
            )
        except LoantraceError as exc:
            fail(str(exc))
    _print(
        report,
        f"Verification of {Path(target).name if not _is_digest(target) else digest}",
        as_json,
    )
    if report["verdict"] != "valid":
        raise typer.Exit(code=1)


def verify_certificate(
    certificate: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CERT.json")],
    document: Annotated[
        Path | None, typer.Option(exists=True, dir_okay=False, help="the certified document")
    ] = None,
    rpc: RpcOption = None,
    registry: Annotated[
        str | None, typer.Option(help="the registry address you trust (else the certificate's)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check an evidence certificate against the chain alone; name the first check that fails.

    Exit 0 when valid, 1 when a check fails, 2 on usage errors.
    """
    from web3 import Web3

    from loantrace.chain.evidence import ChainEvidence
    from loantrace.services.certificates import check_certificate, load_certificate

    if not rpc:
        fail("give --rpc URL (or LOANTRACE_RPC_URL): a node of the certificate's chain")
    w3 = Web3(Web3.HTTPProvider(rpc, request_kwargs={"timeout": 30}))
    try:
        w3.eth.chain_id  # noqa: B018 - fail here, in one line, when the node is unreachable
    except Exception as exc:
        fail(f"cannot reach the node at {rpc}: {type(exc).__name__}")
    data = load_certificate(certificate.read_text(errors="replace"))
    verdict = check_certificate(
        data,
        lambda address: ChainEvidence(w3, address),
        document=document.read_bytes() if document else None,
        registry=registry,
    )
    if as_json:
        print(json.dumps(verdict.to_json(), indent=2))
    else:
        table = Table(title=f"Certificate {certificate.name}", show_header=False)
        for check in verdict.checks:
            mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
            table.add_row(mark, check.name, check.detail)
        console.print(table)
        colour = "green" if verdict.ok else "red"
        console.print(f"result: [{colour}]{verdict.result}[/{colour}]")
    if not verdict.ok:
        raise typer.Exit(code=1)


def _verify_read_only(
    digest: str,
    merkle: dict[str, Any] | None,
    where: dict[str, str],
    rpc: str,
    registry: str,
    manifests: list[str],
    from_block: int,
) -> dict[str, Any]:
    from loantrace.bootstrap_auditor import read_only_verifier
    from loantrace.services.receipts import MerkleEvidence

    verifier, node = read_only_verifier(rpc, registry, manifests, from_block)
    report = verifier.verify(
        bytes.fromhex(digest[2:]),
        MerkleEvidence.from_json(merkle) if merkle else None,
        chain_id=int(where["chain_id"]) if "chain_id" in where else None,
        contract=where.get("contract_address"),
    )
    return asdict(report) | {"genesis_hash": node.genesis_hash}


def _is_digest(target: str) -> bool:
    return target.startswith("0x") and len(target) == 66 and not Path(target).exists()


def _digest(target: str) -> str:
    from loantrace.domain.digest import document_digest
    from loantrace.domain.hexcodec import parse_bytes32, to_hex

    if _is_digest(target):
        try:
            return to_hex(parse_bytes32(target, field="digest"))
        except LoantraceError as exc:
            fail(str(exc))
    path = Path(target)
    if not path.is_file():
        fail(f"{target} is neither a file nor a 0x-prefixed SHA-256 digest")
    return to_hex(document_digest(path.read_bytes()))


def _print(report: dict[str, Any], title: str, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, default=str))
        return
    table = Table(title=title, show_header=False)
    for key, value in report.items():
        if value is not None and value != "" and value != ():
            table.add_row(key, str(value))
    console.print(table)
