"""Commands for agreements: notarise, sign (as a borrower's wallet would)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from loantrace.cli_common import ApiOption, console, fail, http, load_settings
from loantrace.domain.errors import LoantraceError


def _sidecar(file: Path) -> dict[str, Any]:
    path = file.with_name(file.name + ".agreement.json")
    if not path.is_file():
        fail(f"{path} is missing: it holds borrower, commitment, signature and terms (see `sign`)")
    data: dict[str, Any] = json.loads(path.read_text())
    return data


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
        fail(str(exc))
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
            body = http("POST", f"{api}/v1/agreements/batch", json={"agreements": items})
            return list(body["receipts"])
        form = {
            k: (json.dumps(v) if k == "terms" else v) for k, v in items[0].items() if v is not None
        }
        return [http("POST", f"{api}/v1/agreements", data=form)]
    from loantrace.bootstrap import Runtime
    from loantrace.presenters import receipt_json
    from loantrace.services.submissions import submission_from_json

    runtime = Runtime.start(load_settings())
    subs = [submission_from_json(it, f"file {i}") for i, it in enumerate(items)]
    receipts = runtime.notary.notarise_batch(subs) if batch else [runtime.notary.notarise(subs[0])]
    return [receipt_json(r) for r in receipts]


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
        fail(f"set {key_env} to the borrower's private key (hex)")
    borrower = Account.from_key(key)
    terms_json = json.loads(terms.read_text())
    params = {
        "digest": to_hex(document_digest(file.read_bytes())),
        "borrower": borrower.address,
        "borrower_commitment": borrower_commitment,
        "terms": json.dumps(terms_json),
    }
    typed = http("GET", f"{api}/v1/agreements/typed-data", params=params)
    disclosure = typed.pop("disclosure", None) or {}
    console.print(
        "the plan costs {cost} bps a year all-in (APR declared {apr} bps, cap {cap} bps); "
        "{total:,} to repay in {n} instalments".format(
            cost=disclosure.get("annual_cost_bps"),
            apr=disclosure.get("apr_bps"),
            cap=disclosure.get("rate_cap_bps"),
            total=disclosure.get("total_repayable", 0),
            n=disclosure.get("instalments"),
        )
    )
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
