"""Command line for access: `loantrace keys create|list|revoke`, `loantrace audit-log verify`.

They work on the service's database directly (the settings' LOANTRACE_DATABASE_URL), so an
operator can make the first keys before any HTTP client has one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from loantrace.cli_common import (
    JsonOption,
    console,
    emit,
    err_console,
    fail,
    load_settings,
    setup_logging,
)

keys_app = typer.Typer(help="API keys: create (token shown once), list, revoke.")
audit_app = typer.Typer(help="The hash-chained audit log.")


def _runtime() -> Any:
    from loantrace.bootstrap import Runtime

    settings = load_settings()
    if settings.embedded:
        fail(
            "keys and the audit log live in the service's database: set LOANTRACE_RPC_URL "
            "and LOANTRACE_DATABASE_URL to the service's node and database"
        )
    setup_logging("WARNING" if settings.log_level.upper() == "INFO" else settings.log_level)
    return Runtime.start(settings)


def _key_json(key: Any) -> dict[str, Any]:
    """Return what may be shown of a key (never its token or hash), with its state."""
    state = "active" if key.active else ("revoked" if key.revoked_at else "expired")
    return {
        "id": key.id,
        "role": key.role,
        "lender": key.lender,
        "name": key.name,
        "created_by": key.created_by,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "state": state,
    }


@keys_app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin | lender | auditor | regulator")],
    name: Annotated[str, typer.Option(help="who or what holds the key")],
    lender: Annotated[str | None, typer.Option(help="lender keys: the lender's address")] = None,
    ttl_days: Annotated[int, typer.Option(help="days until it expires")] = 365,
    as_json: JsonOption = False,
) -> None:
    """Create a key and print its token once (it is stored only hashed)."""
    runtime = _runtime()
    key, token = runtime.access.create_key(
        by="cli", role=role, name=name, lender=lender, ttl_days=ttl_days
    )
    emit(_key_json(key) | {"token": token}, as_json, _print_created)


def _print_created(created: dict[str, Any]) -> None:
    expires = f"{created['expires_at']:%Y-%m-%d}"
    console.print(f"key {created['id']} ({created['role']}) expires {expires}")
    print(created["token"])  # alone on its line, for scripts: TOKEN=$(... | tail -1)


@keys_app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """List every key (never a token)."""
    keys = [_key_json(key) for key in _runtime().access.list_keys()]
    emit({"keys": keys}, as_json, _print_keys)


def _print_keys(listed: dict[str, Any]) -> None:
    table = Table("id", "role", "lender", "name", "expires", "state")
    for key in listed["keys"]:
        table.add_row(
            key["id"],
            key["role"],
            key["lender"] or "",
            key["name"],
            f"{key['expires_at']:%Y-%m-%d}",
            key["state"],
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(help="the key id")], as_json: JsonOption = False
) -> None:
    """Revoke a key at once."""
    key = _key_json(_runtime().access.revoke_key(key_id))
    emit(
        key,
        as_json,
        lambda k: console.print(f"key {k['id']} revoked at {k['revoked_at']:%Y-%m-%d %H:%M:%S}"),
    )


@audit_app.command("verify")
def verify(as_json: JsonOption = False) -> None:
    """Recompute the audit log's hash chain; exit 1 naming the first row that breaks it."""
    verdict = _runtime().audit_log.verify()
    emit(verdict, as_json, _print_verdict)
    if not verdict.intact:
        raise typer.Exit(code=1)


def _print_verdict(verdict: Any) -> None:
    if verdict.intact:
        console.print(f"audit log intact: {verdict.entries} entries")
    else:
        err_console.print(f"audit log broken at row {verdict.broken_at}: {verdict.reason}")


personal_app = typer.Typer(help="Borrowers' encrypted personal data.")


@personal_app.command("rewrap")
def rewrap(as_json: JsonOption = False) -> None:
    """Re-wrap every borrower's data key under the active master key (the first one in
    LOANTRACE_MASTER_KEYS); afterwards the old master key can be removed from the setting,
    which also makes erased borrowers' old key copies (backups, free pages) unreadable."""
    runtime = _runtime()
    done = {"rewrapped": runtime.personal.rewrap_all(), "master_key": _active_key_id()}
    emit(
        done,
        as_json,
        lambda d: console.print(
            f"re-wrapped {d['rewrapped']} data keys under master key {d['master_key']}"
        ),
    )


def _active_key_id() -> str:
    from loantrace.domain.envelope import Keyring

    return Keyring.parse(load_settings().master_keys_spec()).active_id
