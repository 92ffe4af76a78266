"""CLI: a bad setting, an unreachable node or database, a missing key: one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from loantrace.chain.localnode import free_port
from loantrace.cli import app
from loantrace.devtools.anvil import Anvil

READ_COMMANDS = [
    ["audit", "--json"],
    ["trace", "0x" + "ab" * 32, "--json"],
    ["keys", "list", "--json"],
    ["audit-log", "verify", "--json"],
    ["roles", "list", "--json"],
    ["keeper", "--once", "--json"],
    ["index", "--once", "--json"],
    ["integrity", "--no-source", "--json"],
]


def run(args: list[str], **env: str | None) -> Result:
    """Run `loantrace ARGS` with only the given LOANTRACE_* settings."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("LOANTRACE_")}
    return CliRunner().invoke(app, args, env=clean | env)


def one_error_line(result: Result) -> str:
    """Assert exit 2, nothing on stdout, and a single `error:` line on stderr; return it."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("args", READ_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_a_malformed_setting_is_named_in_one_line(args: list[str]) -> None:
    line = one_error_line(
        run(args, LOANTRACE_RPC_URL="http://127.0.0.1:9", LOANTRACE_RECEIPT_POLL_SECONDS="abc")
    )
    assert line == (
        "error: LOANTRACE_RECEIPT_POLL_SECONDS: Input should be a valid number, "
        "unable to parse string as a number"
    )


def test_every_bad_setting_is_named_and_their_values_are_not_echoed() -> None:
    line = one_error_line(
        run(["audit"], LOANTRACE_MODE="staging", LOANTRACE_INDEX_CONFIRMATIONS="-5")
    )
    assert line.startswith("error: LOANTRACE_MODE: Input should be 'dev' or 'prod'; ")
    assert "LOANTRACE_INDEX_CONFIRMATIONS: Input should be greater than or equal to 0" in line
    assert "staging" not in line  # a setting's value may be a secret


@pytest.mark.parametrize("args", READ_COMMANDS[:6], ids=lambda a: " ".join(a[:2]))
def test_an_unreachable_node_is_one_line_naming_the_setting(args: list[str]) -> None:
    port = free_port()  # nobody listens there
    url = f"http://operator:hunter2@127.0.0.1:{port}/v3/projectsecret"
    line = one_error_line(run(args, LOANTRACE_RPC_URL=url))
    assert line == (
        f"error: LOANTRACE_RPC_URL (http://127.0.0.1:{port}): "
        "cannot reach the JSON-RPC node: ConnectionError"
    )
    assert "hunter2" not in line
    assert "projectsecret" not in line


def test_a_real_process_prints_one_line_and_exits_2() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOANTRACE_")}
    env["LOANTRACE_RPC_URL"] = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [sys.executable, "-m", "loantrace.cli", "keys", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: LOANTRACE_RPC_URL (http://127.0.0.1:")
    assert done.stderr.count("\n") == 1


@pytest.mark.anvil
def test_a_bad_or_unreachable_database_and_a_missing_key_password_are_one_line(
    anvil: Anvil, tmp_path: Path
) -> None:
    unknown = one_error_line(
        run(["keys", "list"], LOANTRACE_RPC_URL=anvil.url, LOANTRACE_DATABASE_URL="nosuch://x")
    )
    assert unknown.startswith("error: LOANTRACE_DATABASE_URL: ")
    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/loantrace"
    refused = one_error_line(
        run(["audit", "--json"], LOANTRACE_RPC_URL=anvil.url, LOANTRACE_DATABASE_URL=closed)
    )
    assert refused.startswith("error: LOANTRACE_DATABASE_URL: cannot use the database: ")
    assert "Connection refused" in refused
    no_password = one_error_line(
        run(
            ["keys", "list"],
            LOANTRACE_RPC_URL=anvil.url,
            LOANTRACE_DATABASE_URL="sqlite://",
            LOANTRACE_KEYSTORE_DIR=str(tmp_path),
        )
    )
    assert no_password == (
        "error: LOANTRACE_KEYSTORE_DIR needs LOANTRACE_KEYSTORE_PASSWORD or "
        "LOANTRACE_KEYSTORE_PASSWORD_FILE"
    )


def test_usage_errors_and_help_keep_their_own_exit_codes() -> None:
    assert run(["notarise", "--help"]).exit_code == 0
    missing = run(["notarise"])
    assert missing.exit_code == 2
    assert "Missing argument" in missing.output
    assert run(["notarise", "/nonexistent/file"]).exit_code == 2
