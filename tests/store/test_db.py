"""Store: chain binding, SQLite WAL, and the same flows on a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil
from loantrace.domain.errors import ChainMismatch
from loantrace.store.db import alembic_config, bind_chain, init_schema, make_engine, read_binding
from tests.conftest import SubmissionFactory, start_runtime


def test_file_sqlite_uses_wal(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lt.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


def test_binding_is_recorded_once_and_mismatch_fails_clearly(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'lt.db'}")
    init_schema(engine)
    bind_chain(engine, chain_id=1, genesis_hash="0x" + "aa" * 32, registry_address="0x" + "11" * 20)
    bind_chain(engine, chain_id=1, genesis_hash="0x" + "aa" * 32, registry_address="0x" + "11" * 20)
    binding = read_binding(engine)
    assert binding is not None
    assert binding.chain_id == 1
    with pytest.raises(ChainMismatch, match="chain id 1 != node's 5"):
        bind_chain(
            engine, chain_id=5, genesis_hash="0x" + "aa" * 32, registry_address="0x" + "11" * 20
        )
    with pytest.raises(ChainMismatch, match="genesis"):
        bind_chain(
            engine, chain_id=1, genesis_hash="0x" + "bb" * 32, registry_address="0x" + "11" * 20
        )
    with pytest.raises(ChainMismatch, match="registry"):
        bind_chain(
            engine, chain_id=1, genesis_hash="0x" + "aa" * 32, registry_address="0x" + "22" * 20
        )


@pytest.mark.anvil
def test_runtime_refuses_database_of_another_chain(tmp_path: Path, anvil: Anvil) -> None:
    url = f"sqlite:///{tmp_path / 'bound.db'}"
    first = start_runtime(connect(anvil.url), database_url=url)
    first.close()
    with Anvil(chain_id=4242) as other, pytest.raises(ChainMismatch, match="another chain"):
        start_runtime(connect(other.url), database_url=url)


@pytest.mark.anvil
def test_restart_on_same_node_reuses_registry_and_records(
    tmp_path: Path, anvil: Anvil, make_submission: SubmissionFactory
) -> None:
    url = f"sqlite:///{tmp_path / 'anvil.db'}"
    node = connect(anvil.url)
    first = start_runtime(node, database_url=url)
    receipt = first.notary.notarise(make_submission(first).submission)
    first.close()
    second = start_runtime(connect(anvil.url), database_url=url)
    assert second.registry.address == first.registry.address
    report = second.verifier.verify(bytes.fromhex(receipt.digest[2:]))
    assert report.verdict == "valid"


@pytest.mark.postgres
@pytest.mark.anvil
def test_notarise_batch_and_verify_on_postgresql_and_anvil(
    postgres_url: str, anvil: Anvil, make_submission: SubmissionFactory
) -> None:
    rt = start_runtime(connect(anvil.url), database_url=postgres_url)
    try:
        assert rt.engine.dialect.name == "postgresql"
        single = rt.notary.notarise(make_submission(rt).submission)
        batch = rt.notary.notarise_batch([make_submission(rt).submission for _ in range(3)])
        for receipt in (single, *batch):
            report = rt.verifier.verify(bytes.fromhex(receipt.digest[2:]))
            assert report.verdict == "valid", report
        rt.notary.revoke(bytes.fromhex(batch[0].digest[2:]), 2)
        assert rt.verifier.verify(bytes.fromhex(batch[0].digest[2:])).verdict == "revoked"
        assert rt.readiness()["database"] == "ok"
    finally:
        with rt.engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        rt.close()
