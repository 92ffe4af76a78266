"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlmodel import SQLModel

from loantrace.store.db import alembic_config, bind_chain, init_schema, make_engine, read_binding

BIG_CHAIN_ID = 131_277_322_940_537  # the embedded chain's id: over 32 bits


def _check(url: str) -> None:
    engine = make_engine(url)
    try:
        init_schema(engine)
        init_schema(engine)  # idempotent
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
        bind_chain(
            engine,
            chain_id=BIG_CHAIN_ID,
            genesis_hash="0x" + "ab" * 32,
            registry_address="0x" + "cd" * 20,
        )
        binding = read_binding(engine)
        assert binding is not None
        assert binding.chain_id == BIG_CHAIN_ID
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    finally:
        engine.dispose()


def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_migrations_match_models_on_postgresql(fresh_postgres: str) -> None:
    _check(fresh_postgres)  # its own database: others bind the session one to a chain
