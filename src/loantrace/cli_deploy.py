"""Production deployment and its checks: `loantrace deploy`, `loantrace integrity`.

The deployer signs with `LOANTRACE_DEPLOYER_KEY` (hex), an encrypted keystore (`--keystore`,
password in `--password-file` or `LOANTRACE_DEPLOYER_KEYSTORE_PASSWORD`) or a remote signer
(`--remote-signer URL --from ADDRESS`); it keeps no role once the deployment is done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from loantrace.cli_common import (
    JsonOption,
    console,
    emit,
    err_console,
    fail,
    load_settings,
    plain,
    setup_logging,
)
from loantrace.domain.errors import LoantraceError

if TYPE_CHECKING:
    from loantrace.chain.addressbook import AddressBook
    from loantrace.chain.integrity import IntegrityReport
    from loantrace.chain.node import Node
    from loantrace.chain.signers import Signer

DEV_CHAIN_IDS = (31337, 1337)  # anvil, hardhat, ganache: where published keys are harmless


def deploy(
    rpc: Annotated[str, typer.Option(help="JSON-RPC URL of the target chain")],
    admin: Annotated[str, typer.Option(help="the contracts' admin (a multisig is fine)")],
    roles: Annotated[
        Path | None,
        typer.Option(help='JSON or TOML: {"notary": [...], "regulator": [...], "reporter": [...]}'),
    ] = None,
    out: Annotated[Path, typer.Option(help="write DIR/deployments/<chain id>.json")] = Path(),
    evm_version: Annotated[
        str | None, typer.Option(help="refuse artifacts built for another EVM version")
    ] = None,
    keystore: Annotated[
        Path | None, typer.Option(help="the deployer's keystore file", dir_okay=False)
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="its password (else $LOANTRACE_DEPLOYER_KEYSTORE_PASSWORD)"),
    ] = None,
    remote_signer: Annotated[str | None, typer.Option(help="a remote signer's URL")] = None,
    sender: Annotated[
        str | None, typer.Option("--from", help="the remote signer's account")
    ] = None,
    lpr_bps: Annotated[
        int | None, typer.Option(help="LPR at deployment, bps (default LOANTRACE_LPR_BPS)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy AgreementRegistry, LoanLedger and FundFlow, grant roles, hand them to --admin."""
    from loantrace.bootstrap_chain import deployer_transactor
    from loantrace.chain import addressbook
    from loantrace.chain import deploy as deployment
    from loantrace.chain.node import connect

    setup_logging("WARNING")
    try:
        signer = _deployer(keystore, password_file, remote_signer, sender)
        built_for = _check_evm_version(evm_version)
        node = connect(rpc)
        _refuse_published_key(signer, node)
        lpr, policy = _ledger_parameters(lpr_bps)
        plan = deployment.DeployPlan(
            admin=admin,
            roles=addressbook.read_roles_file(roles) if roles else {},
            lpr_bps=lpr,
            policy=policy,
        )
        deployment.check_chain_runs(node.w3, built_for)
        path = addressbook.book_path(out, node.chain_id)
        existing = addressbook.load(path) if path.exists() else None
        (err_console if as_json else console).print(
            f"chain {node.chain_id}, deployer {signer.address}, EVM {built_for}"
        )
        outcome = deployment.run(
            node,
            deployer_transactor(node, signer),
            plan,
            existing,
            lambda book: addressbook.save(book, path),
        )
    except LoantraceError as exc:
        fail(str(exc))
    book = outcome.book
    if outcome.nothing_to_do and not as_json:
        console.print(
            f"nothing to deploy: {path} matches the artifacts and the code on chain {book.chain_id}"
        )
        if book.admin.lower() != admin.lower() or any(
            set(accounts) - set(book.roles.get(role, ())) for role, accounts in plan.roles.items()
        ):
            err_console.print(
                f"[yellow]the deployment's admin is {book.admin} and it granted what the book "
                "lists; other role changes are the admin's: `loantrace roles grant`[/yellow]"
            )
    report = _book_json(book, path) | {
        "deployed": list(outcome.deployed),
        "sent": outcome.sent,
        "nothing_to_do": outcome.nothing_to_do,
    }
    emit(report, as_json, lambda _: _print_book(book, path))


def _book_json(book: AddressBook, path: Path) -> dict[str, Any]:
    return {
        "address_book": str(path),
        "chain_id": book.chain_id,
        "genesis_hash": book.genesis_hash,
        "contracts": {
            name: {
                "address": entry.address,
                "block_number": entry.block_number,
                "tx_hash": entry.tx_hash,
            }
            for name, entry in book.contracts.items()
        },
        "roles": {role: list(accounts) for role, accounts in sorted(book.roles.items())},
        "deployer": book.deployer,
        "admin": book.admin,
    }


def integrity(
    rpc: Annotated[
        str | None, typer.Option(help="JSON-RPC URL (default LOANTRACE_RPC_URL)")
    ] = None,
    address_book: Annotated[
        Path | None,
        typer.Option(help="an address book (default LOANTRACE_ADDRESS_BOOK, then settings)"),
    ] = None,
    source: Annotated[
        bool, typer.Option(help="also compare the artifacts with a fresh compile (solc-js)")
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Compare the code on chain with the committed build (and the build with the source);
    exit 0 on a match, 1 on a mismatch."""
    from loantrace.chain.addressbook import CONTRACT_NAMES, book_path, load
    from loantrace.chain.integrity import IntegrityReport, check_chain, check_sources
    from loantrace.chain.node import connect

    setup_logging("WARNING")
    try:
        settings = None
        if rpc is None or address_book is None:
            settings = load_settings()
            rpc = rpc or settings.rpc_url
            address_book = address_book or settings.address_book
        if rpc is None:
            fail("give --rpc or set LOANTRACE_RPC_URL: integrity checks a real chain")
        node = connect(rpc)
        if address_book is None and settings is not None and settings.registry_address is None:
            address_book = book_path(Path(), node.chain_id)  # where `deploy` writes it
        book = load(address_book) if address_book is not None else None
        if book is not None:
            _same_chain(book, node)
            addresses = dict(zip(CONTRACT_NAMES, book.addresses(), strict=True))
        else:
            given = (
                (settings.registry_address, settings.ledger_address, settings.fundflow_address)
                if settings is not None
                else (None, None, None)
            )
            if None in given:
                fail("give --address-book, or set the three LOANTRACE_*_ADDRESS settings")
            addresses = dict(zip(CONTRACT_NAMES, (str(a) for a in given), strict=True))
        report = IntegrityReport(
            node.chain_id,
            check_chain(node.w3, addresses, book),
            check_sources(None) if source else (),
        )
    except LoantraceError as exc:
        fail(str(exc))
    emit(plain(report) | {"ok": report.ok}, as_json, lambda _: _print_report(report))
    if not report.ok:
        raise typer.Exit(code=1)


def _deployer(
    keystore: Path | None,
    password_file: Path | None,
    remote_signer: str | None,
    sender: str | None,
) -> Signer:
    from loantrace.chain.signers import LocalSigner, RemoteSigner

    key = os.environ.get("LOANTRACE_DEPLOYER_KEY")
    ways = [keystore is not None, remote_signer is not None, bool(key)]
    if sum(ways) != 1:
        fail(
            "sign with exactly one of: LOANTRACE_DEPLOYER_KEY, --keystore, "
            "or --remote-signer with --from"
        )
    if keystore is not None:
        if password_file is not None:
            try:
                password = password_file.read_text().rstrip("\n")
            except OSError as exc:
                fail(f"cannot read {password_file}: {type(exc).__name__}")
        else:
            password = os.environ.get("LOANTRACE_DEPLOYER_KEYSTORE_PASSWORD", "")
            if not password:
                fail("give --password-file or set LOANTRACE_DEPLOYER_KEYSTORE_PASSWORD")
        return LocalSigner.from_keystore(keystore, password)
    if remote_signer is not None:
        if sender is None:
            fail("--remote-signer needs --from ADDRESS")
        return RemoteSigner(remote_signer, sender)
    return LocalSigner.from_key(str(key))


def _refuse_published_key(signer: Signer, node: Node) -> None:
    from loantrace.chain.signers import LocalSigner
    from loantrace.settings import well_known_key

    if not isinstance(signer, LocalSigner) or node.chain_id in DEV_CHAIN_IDS:
        return
    if well_known_key(bytes(signer.account.key).hex()):
        fail(f"{signer.address} is a published development key: never on chain {node.chain_id}")


def _check_evm_version(wanted: str | None) -> str:
    from loantrace.chain.artifacts import load_artifact

    built_for = str(load_artifact("AgreementRegistry")["compiler"]["settings"]["evmVersion"])
    if wanted is not None and wanted != built_for:
        fail(
            f"the artifacts are built for {built_for}: run `loantrace compile --evm-version "
            f"{wanted}` first (and commit them: the service checks the code against them)"
        )
    return built_for


def _ledger_parameters(lpr_bps: int | None) -> tuple[int, tuple[int, int, int]]:
    """Return the ledger's LPR and reminder policy: the options, else the service settings."""
    from loantrace.settings import Settings

    # mode=dev: read only the ledger's parameters, without the service's production checks.
    settings = Settings(mode="dev", rpc_url=None, database_url=None)
    policy = (settings.due_soon_days, settings.grace_days, settings.default_after_days)
    return lpr_bps or settings.lpr_bps, policy


def _same_chain(book: AddressBook, node: Node) -> None:
    if (book.chain_id, book.genesis_hash) != (node.chain_id, node.genesis_hash):
        fail(
            f"the address book is for chain {book.chain_id} (genesis {book.genesis_hash[:12]}…); "
            f"the node is chain {node.chain_id} (genesis {node.genesis_hash[:12]}…)"
        )


def _print_book(book: AddressBook, path: Path) -> None:
    for name, entry in book.contracts.items():  # plain lines: addresses are copied from here
        console.print(f"{name} {entry.address} (block {entry.block_number}, tx {entry.tx_hash})")
    for role, accounts in sorted(book.roles.items()):
        console.print(f"{role}: {', '.join(accounts)}")
    console.print(f"deployer {book.deployer} holds no role; admin {book.admin}")
    console.print(f"address book: {path}")


def _print_report(report: IntegrityReport) -> None:
    table = Table(title=f"chain {report.chain_id}")
    table.add_column("contract")
    table.add_column("address", overflow="fold")
    table.add_column("on chain")
    table.add_column("detail", overflow="fold")
    for check in report.code:
        mark = "[green]" if check.ok else "[red]"
        table.add_row(check.contract, check.address, f"{mark}{check.verdict}", check.detail)
    console.print(table)
    if report.source:
        sources = Table("contract", "artifact vs source", "detail")
        for entry in report.source:
            mark = {"match": "[green]", "differs": "[red]"}.get(entry.verdict, "[yellow]")
            sources.add_row(entry.contract, f"{mark}{entry.verdict}", entry.detail)
        console.print(sources)
    console.print(
        "[green]integrity: match[/green]" if report.ok else "[red]integrity: MISMATCH[/red]"
    )
