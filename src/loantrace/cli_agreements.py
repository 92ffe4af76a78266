"""Commands for agreements: notarise, sign (as a borrower's wallet would)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
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
)
from loantrace.domain.errors import LoantraceError, NotFound

SIDECAR = ".agreement.json"
RECEIPT = ".receipt.json"


@dataclass(frozen=True)
class _Document:
    """A document to notarise: its file, and the JSON item sent (sidecar plus digest)."""

    path: Path
    item: dict[str, Any]

    @property
    def digest(self) -> str:
        return str(self.item["digest"])


def _sidecar_path(file: Path) -> Path:
    return file.with_name(file.name + SIDECAR)


def _receipt_path(file: Path) -> Path:
    return file.with_name(file.name + RECEIPT)


def _sidecar(file: Path) -> dict[str, Any]:
    path = _sidecar_path(file)
    if not path.is_file():
        fail(f"{path} is missing: it holds borrower, commitment, signature and terms (see `sign`)")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"{path} is not a readable JSON sidecar: {type(exc).__name__}")
    if not isinstance(data, dict):
        fail(f"{path} must hold a JSON object")
    return data


def _collect(targets: list[Path]) -> tuple[list[Path], list[dict[str, str]]]:
    """Return the documents named or found in folders (sorted by name), and what was skipped.

    In a folder, a document is a file with a FILE.agreement.json sidecar; sidecars and
    receipts are not documents. A file named explicitly must have its sidecar.
    """
    found: list[Path] = []
    skipped: list[dict[str, str]] = []
    for target in targets:
        if not target.is_dir():
            found.append(target)
            continue
        for path in sorted(p for p in target.iterdir() if p.is_file()):
            if path.name.endswith((SIDECAR, RECEIPT)):
                continue
            if _sidecar_path(path).is_file():
                found.append(path)
            else:
                skipped.append({"file": str(path), "reason": f"no {path.name}{SIDECAR}"})
    seen: set[Path] = set()
    unique = []
    for path in found:
        if path.resolve() not in seen:
            seen.add(path.resolve())
            unique.append(path)
    return unique, skipped


def _notarised_before(document: _Document) -> bool:
    """Return whether the document's receipt exists and names this very digest."""
    try:
        receipt = json.loads(_receipt_path(document.path).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(receipt, dict) and str(receipt.get("digest", "")).lower() == document.digest


def notarise(
    targets: Annotated[
        list[Path],
        typer.Argument(
            exists=True, help="documents, or folders: every file in one with FILE.agreement.json"
        ),
    ],
    batch: Annotated[bool, typer.Option(help="anchor all files under one Merkle root")] = False,
    batch_size: Annotated[
        int | None,
        typer.Option(
            min=1, help="at most N documents per Merkle root (default: all; local: the setting)"
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="also notarise files whose receipt matches")
    ] = False,
    api: ApiOption = None,
    as_json: JsonOption = False,
) -> None:
    """Notarise FILE(s) or every document of a folder; each needs FILE.agreement.json.

    Writes FILE.receipt.json; a file whose receipt already names its digest is skipped
    (unless --force). Several files are anchored under one Merkle root per batch.
    """

    files, skipped = _collect(targets)
    result: dict[str, Any] = {"notarised": [], "recovered": [], "skipped": skipped, "batches": []}
    with progress(as_json) as bar:
        documents = _hash(files, force, skipped, bar)
        if documents:
            _send(documents, api, batch or len(documents) > 1, batch_size, result, bar)
    emit(result, as_json, _print_notarised)


def _hash(
    files: list[Path], force: bool, skipped: list[dict[str, str]], bar: Progress
) -> list[_Document]:
    """Hash every file; return those to notarise, adding the others to `skipped`."""
    from loantrace.domain.digest import document_digest
    from loantrace.domain.hexcodec import to_hex

    documents = []
    hashing = bar.add_task("hashing", total=len(files))
    for file in files:
        item = _sidecar(file) | {"digest": to_hex(document_digest(file.read_bytes()))}
        document = _Document(file, item)
        if not force and _notarised_before(document):
            skipped.append({"file": str(file), "reason": "already notarised (receipt matches)"})
        else:
            documents.append(document)
        bar.advance(hashing)
    return documents


def _send(
    documents: list[_Document],
    api: str | None,
    as_batch: bool,
    batch_size: int | None,
    result: dict[str, Any],
    bar: Progress,
) -> None:
    """Recover the receipts of documents already notarised; anchor the others in batches."""
    submit = _Submitter(api)
    sending = bar.add_task("submitting", total=len(documents))
    try:
        fresh = []
        for document in documents:
            known = submit.existing(document.digest)
            if known is None:
                fresh.append(document)
                continue
            result["recovered"].append(_write(document, known))
            bar.advance(sending)
        size = batch_size or submit.max_batch or len(fresh) or 1
        for start in range(0, len(fresh), size):
            chunk = fresh[start : start + size]
            receipts = submit([d.item for d in chunk], as_batch)
            written = [_write(d, r) for d, r in zip(chunk, receipts, strict=True)]
            result["notarised"].extend(written)
            first = written[0]
            result["batches"].append(
                {
                    "root": first["root"],
                    "tx_hash": first["tx_hash"],
                    "block_number": first["block_number"],
                    "documents": len(written),
                }
            )
            bar.advance(sending, len(chunk))
    except LoantraceError as exc:
        fail(str(exc))
    finally:
        submit.close()


def _write(document: _Document, receipt: dict[str, Any]) -> dict[str, Any]:
    """Write a receipt beside its document (at once: a later run skips it); report it."""
    path = _receipt_path(document.path)
    path.write_text(json.dumps(receipt, indent=2))
    return {
        "file": str(document.path),
        "digest": receipt["digest"],
        "receipt": str(path),
        "tx_hash": receipt["tx_hash"],
        "block_number": receipt["block_number"],
        "mode": receipt["mode"],
        "root": (receipt.get("merkle") or {}).get("root"),
    }


def _print_notarised(result: dict[str, Any]) -> None:
    rows = [(line, "") for line in result["notarised"]]
    rows += [(line, " (was already; receipt recovered)") for line in result["recovered"]]
    if rows:
        table = Table(title="Notarised")
        for column in ("file", "digest", "block", "tx", "mode"):
            table.add_column(column)
        for line, note in rows:
            table.add_row(
                Path(line["file"]).name,
                line["digest"][:18] + "…",
                str(line["block_number"]),
                line["tx_hash"][:18] + "…",
                line["mode"] + note,
            )
        console.print(table)
    for entry in result["skipped"]:
        console.print(f"skipped {entry['file']}: {entry['reason']}", highlight=False)
    roots = [b for b in result["batches"] if b["root"]]
    if roots:
        count = len(result["notarised"])
        console.print(
            f"{count} documents anchored under {len(roots)} Merkle root(s)", highlight=False
        )
    elif not rows:
        console.print("nothing to notarise")


class _Submitter:
    """Send agreements to a running service (--api) or through a runtime started once."""

    def __init__(self, api: str | None) -> None:
        self._api = api
        self._runtime: Any = None
        self.max_batch: int | None = None
        if api is None:
            from loantrace.bootstrap import Runtime

            self._runtime = Runtime.start(load_settings())
            self.max_batch = int(self._runtime.settings.max_batch_size)

    def existing(self, digest: str) -> dict[str, Any] | None:
        """Return the receipt of an agreement notarised already, or None."""
        if self._api:
            found = http("GET", f"{self._api}/v1/agreements/{digest}", none_on_404=True)
            return dict(found) if found is not None else None
        from loantrace.presenters import receipt_json

        try:
            return receipt_json(self._runtime.notary.receipt(bytes.fromhex(digest[2:])))
        except NotFound:
            return None

    def __call__(self, items: list[dict[str, Any]], batch: bool) -> list[dict[str, Any]]:
        """Notarise `items` (as one batch, or the single one); return their receipts."""
        api = self._api
        if api:
            if batch:
                body = http("POST", f"{api}/v1/agreements/batch", json={"agreements": items})
                return list(body["receipts"])
            form = {
                k: (json.dumps(v) if k == "terms" else v)
                for k, v in items[0].items()
                if v is not None
            }
            return [http("POST", f"{api}/v1/agreements", data=form)]
        from loantrace.presenters import receipt_json
        from loantrace.services.submissions import submission_from_json

        notary = self._runtime.notary
        subs = [submission_from_json(it, f"file {i}") for i, it in enumerate(items)]
        receipts = notary.notarise_batch(subs) if batch else [notary.notarise(subs[0])]
        return [receipt_json(r) for r in receipts]

    def close(self) -> None:
        """Release the runtime's connections, if one was started."""
        if self._runtime is not None:
            self._runtime.close()


def sign(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="document to sign")],
    terms: Annotated[Path, typer.Option(exists=True, help="key terms JSON file")],
    borrower_commitment: Annotated[str, typer.Option(help="salted commitment, bytes32 hex")],
    api: Annotated[str, typer.Option("--api", help="URL of the running service")],
    key_env: Annotated[
        str, typer.Option(help="environment variable holding the borrower's private key")
    ] = "LOANTRACE_BORROWER_KEY",
    as_json: JsonOption = False,
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
    if not as_json:  # the borrower sees the cost before signing
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
    out = _sidecar_path(file)
    out.write_text(json.dumps(sidecar, indent=2))
    written = {
        "sidecar": str(out),
        "digest": params["digest"],
        "borrower": borrower.address,
        "disclosure": disclosure,
    }
    emit(
        written,
        as_json,
        lambda w: console.print(f"wrote {w['sidecar']} (borrower {w['borrower']})"),
    )
