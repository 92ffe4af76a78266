"""`loantrace migrate`: the schema, brought up to date with neither a node nor a key."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from loantrace.cli import app


@pytest.mark.postgres
def test_migrate_brings_a_fresh_database_to_the_newest_revision(
    fresh_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOANTRACE_DATABASE_URL", fresh_postgres)
    monkeypatch.setenv("LOANTRACE_RPC_URL", "http://127.0.0.1:9")  # never contacted
    first = CliRunner().invoke(app, ["migrate"])
    assert first.exit_code == 0, first.output
    engine = create_engine(fresh_postgres)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"agreements", "outbox", "borrowers", "siwe_nonces", "alembic_version"} <= tables
    again = CliRunner().invoke(app, ["migrate"])  # a no-op the second time
    assert again.exit_code == 0, again.output
    assert again.output == first.output


def test_migrate_needs_a_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOANTRACE_DATABASE_URL", raising=False)
    result = CliRunner().invoke(app, ["migrate"])
    assert result.exit_code != 0
