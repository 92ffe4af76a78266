"""Commands that check evidence: verify (read-only against a node, or through the API)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from loantrace.cli_common import ApiOption, console, http, load_settings


def verify(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="document to check")],
    receipt: Annotated[Path | None, typer.Option(help="receipt JSON (for batched ones)")] = None,
    api: ApiOption = None,
) -> None:
    """Verify FILE against the chain; exit 0 only when the verdict is `valid`."""
    from loantrace.domain.digest import document_digest
    from loantrace.domain.hexcodec import to_hex

    digest = to_hex(document_digest(file.read_bytes()))
    given = json.loads(receipt.read_text()) if receipt else {}
    merkle = given.get("merkle")
    where = {k: str(given[k]) for k in ("chain_id", "contract_address") if given.get(k)}
    if api:
        form = {"digest": digest} | ({"merkle": json.dumps(merkle)} if merkle else {}) | where
        report = http("POST", f"{api}/v1/verify", data=form)
    else:
        from dataclasses import asdict

        from loantrace.bootstrap import Runtime
        from loantrace.services.receipts import MerkleEvidence

        runtime = Runtime.start(load_settings())
        evidence = MerkleEvidence.from_json(merkle) if merkle else None
        report = asdict(
            runtime.verifier.verify(
                bytes.fromhex(digest[2:]),
                evidence,
                chain_id=int(where["chain_id"]) if "chain_id" in where else None,
                contract=where.get("contract_address"),
            )
        )
    table = Table(title=f"Verification of {file.name}", show_header=False)
    for key, value in report.items():
        if value is not None and value != "":
            table.add_row(key, str(value))
    console.print(table)
    if report["verdict"] != "valid":
        raise typer.Exit(code=1)
