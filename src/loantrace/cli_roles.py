"""Signing accounts and their on-chain roles: `loantrace roles ...`, `loantrace keystore ...`.

Role changes are sent by the contracts' admin, which the running service never holds: give
its keystore (`--keystore` with the password in `LOANTRACE_ADMIN_KEYSTORE_PASSWORD` or
`--password-file`) or a remote signer (`--remote-signer URL --from ADDRESS`).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from loantrace.cli_common import JsonOption, console, emit, fail, load_settings, setup_logging

if TYPE_CHECKING:
    from loantrace.chain.roles import Roles
    from loantrace.chain.signers import Signer
    from loantrace.chain.transactor import TxResult

roles_app = typer.Typer(help="Grant, revoke and list on-chain roles (sent as the admin).")
keystore_app = typer.Typer(help="Encrypted keystores for signing accounts.")

ROLE_HELP = "notary (a lender), regulator, reporter, admin"
KeystoreOption = Annotated[
    Path | None, typer.Option(help="the admin's keystore file", exists=True, dir_okay=False)
]
PasswordFileOption = Annotated[
    Path | None,
    typer.Option(help="file with the keystore password (else $LOANTRACE_ADMIN_KEYSTORE_PASSWORD)"),
]
RemoteOption = Annotated[str | None, typer.Option(help="a remote signer's URL, instead")]
FromOption = Annotated[str | None, typer.Option("--from", help="the remote signer's account")]


def _password(password_file: Path | None, variable: str) -> str:
    if password_file is not None:
        return password_file.read_text().rstrip("\n")
    value = os.environ.get(variable)
    if not value:
        fail(f"give --password-file or set {variable}")
    return value


def _admin(
    keystore: Path | None,
    password_file: Path | None,
    remote_signer: str | None,
    sender: str | None,
) -> Signer:
    from loantrace.chain.signers import LocalSigner, RemoteSigner

    if keystore is not None:
        password = _password(password_file, "LOANTRACE_ADMIN_KEYSTORE_PASSWORD")
        return LocalSigner.from_keystore(keystore, password)
    if remote_signer is not None and sender is not None:
        return RemoteSigner(remote_signer, sender)
    fail("give the admin's --keystore, or --remote-signer with --from")


def _roles(
    keystore: Path | None,
    password_file: Path | None,
    remote_signer: str | None,
    sender: str | None,
) -> Roles:
    from loantrace.bootstrap import admin_roles

    settings = load_settings()
    setup_logging(settings.log_level)
    signer = _admin(keystore, password_file, remote_signer, sender)
    return admin_roles(settings, signer)


def _change(role: str, account: str, sent: list[TxResult], granted: bool) -> dict[str, Any]:
    return {
        "action": "grant" if granted else "revoke",
        "role": role,
        "account": account,
        "transactions": [{"tx_hash": r.tx_hash, "block_number": r.block_number} for r in sent],
    }


def _print_change(change: dict[str, Any]) -> None:
    done, word = ("granted", "to") if change["action"] == "grant" else ("revoked", "from")
    count = len(change["transactions"])
    console.print(f"{done} {change['role']} {word} {change['account']} ({count} transactions)")
    for tx in change["transactions"]:
        console.print(f"  {tx['tx_hash']} in block {tx['block_number']}")


@roles_app.command("grant")
def grant(
    role: Annotated[str, typer.Argument(help=ROLE_HELP)],
    account: Annotated[str, typer.Argument(help="the account's address")],
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    remote_signer: RemoteOption = None,
    sender: FromOption = None,
    as_json: JsonOption = False,
) -> None:
    """Grant a role (on every contract it spans); a role already held is left alone."""
    roles = _roles(keystore, password_file, remote_signer, sender)
    emit(_change(role, account, roles.grant(role, account), True), as_json, _print_change)


@roles_app.command("revoke")
def revoke(
    role: Annotated[str, typer.Argument(help=ROLE_HELP)],
    account: Annotated[str, typer.Argument(help="the account's address")],
    keystore: KeystoreOption = None,
    password_file: PasswordFileOption = None,
    remote_signer: RemoteOption = None,
    sender: FromOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a role (on every contract it spans); a role not held is left alone."""
    roles = _roles(keystore, password_file, remote_signer, sender)
    emit(_change(role, account, roles.revoke(role, account), False), as_json, _print_change)


@roles_app.command("list")
def list_roles(as_json: JsonOption = False) -> None:
    """List who holds each role now (read from the chain; no key needed)."""
    from loantrace.bootstrap import admin_roles
    from loantrace.chain.signers import RemoteSigner

    settings = load_settings()
    setup_logging(settings.log_level)
    nobody = RemoteSigner("http://unused.invalid", "0x" + "00" * 20)  # reads send nothing
    members = [
        {"role": m.role, "account": m.account} for m in admin_roles(settings, nobody).members()
    ]
    emit({"members": members}, as_json, _print_members)


def _print_members(listed: dict[str, Any]) -> None:
    table = Table("role", "account")
    for member in listed["members"]:
        table.add_row(member["role"], member["account"])
    console.print(table)


@keystore_app.command("create")
def create_keystore(
    out: Annotated[Path, typer.Argument(help="the keystore file to write (must not exist)")],
    password_file: PasswordFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make a new random account in an encrypted keystore; print its address only."""
    from loantrace.chain.signers import write_keystore

    password = _password(password_file, "LOANTRACE_KEYSTORE_PASSWORD")
    if out.exists():
        fail(f"{out} exists; a keystore is never overwritten")
    address = write_keystore(secrets.token_bytes(32), password, out)
    emit({"address": address, "keystore": str(out)}, as_json, lambda k: print(k["address"]))
