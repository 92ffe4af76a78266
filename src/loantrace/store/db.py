"""Engine creation, schema, and the binding of a database to one chain and contract."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from loantrace.domain.errors import ChainMismatch
from loantrace.store.models import ChainBindingRow, CursorRow, utcnow
from loantrace.store.uow import taking_turns

log = logging.getLogger(__name__)


POOL_SIZE = 20  # connections kept open per process: the requests a worker serves at once
MAX_OVERFLOW = 20  # ... and opened beyond them at peaks (closed again when returned)


def make_engine(url: str, *, pool_size: int = POOL_SIZE) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a busy timeout.

    The pool keeps `pool_size` connections: SQLAlchemy's default of 5 was below the requests
    one worker serves at once, so under load most requests opened (and closed) a connection
    of their own, which on PostgreSQL is an authenticated session start each time.
    """
    sized = {"pool_size": pool_size, "max_overflow": MAX_OVERFLOW}
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        engine = create_engine(url, pool_pre_ping=True, **sized)
    elif url in ("sqlite://", "sqlite:///:memory:"):
        engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
    else:
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **sized
        )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK_KEY = int.from_bytes(b"loantrace-migrate"[:8], "big") >> 1  # fits a bigint


def alembic_config(connection: Connection) -> Config:
    """Return an Alembic config that migrates `connection` with our migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def init_schema(engine: Engine) -> None:
    """Bring the schema up to the newest migration (a no-op when it is current)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            # One migrator at a time when several API processes start together.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        command.upgrade(alembic_config(connection), "head")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """Yield a session that commits on success and rolls back on any error."""
    with taking_turns(engine), Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def read_binding(engine: Engine) -> ChainBindingRow | None:
    """Return the chain binding of this database, if any."""
    with Session(engine) as session:
        return session.get(ChainBindingRow, 1)


def bind_chain(
    engine: Engine,
    *,
    chain_id: int,
    genesis_hash: str,
    registry_address: str,
    ledger_address: str | None = None,
    fundflow_address: str | None = None,
) -> None:
    """Record the chain of a fresh database, or fail if it belongs to another one."""
    with session_scope(engine) as session:
        existing = session.get(ChainBindingRow, 1)
        if existing is None:
            session.add(
                ChainBindingRow(
                    chain_id=chain_id,
                    genesis_hash=genesis_hash,
                    registry_address=registry_address,
                    ledger_address=ledger_address,
                    fundflow_address=fundflow_address,
                )
            )
            log.info("database bound to chain_id=%s registry=%s", chain_id, registry_address)
            return
        check_binding(
            existing,
            chain_id=chain_id,
            genesis_hash=genesis_hash,
            registry=registry_address,
            ledger=ledger_address,
        )
        if existing.ledger_address is None and ledger_address is not None:
            existing.ledger_address = ledger_address
        if existing.fundflow_address is None and fundflow_address is not None:
            existing.fundflow_address = fundflow_address
        session.add(existing)


def check_binding(
    binding: ChainBindingRow,
    *,
    chain_id: int,
    genesis_hash: str,
    registry: str | None,
    ledger: str | None = None,
) -> None:
    """Raise ChainMismatch if `binding` names another chain or contract."""
    problems = []
    if binding.chain_id != chain_id:
        problems.append(f"chain id {binding.chain_id} != node's {chain_id}")
    if binding.genesis_hash != genesis_hash:
        problems.append(f"genesis {binding.genesis_hash} != node's {genesis_hash}")
    if registry is not None and binding.registry_address.lower() != registry.lower():
        problems.append(f"registry {binding.registry_address} != configured {registry}")
    if ledger and binding.ledger_address and binding.ledger_address.lower() != ledger.lower():
        problems.append(f"ledger {binding.ledger_address} != configured {ledger}")
    if problems:
        raise ChainMismatch(
            "this database belongs to another chain or contract: "
            + "; ".join(problems)
            + ". Use a fresh database for this chain, or point at the original node."
        )


def read_cursor(engine: Engine, *, name: str) -> int | None:
    """Return the last block a named chain reader has processed, if any."""
    with Session(engine) as session:
        row = session.get(CursorRow, name)
        return row.block_number if row is not None else None


def save_cursor(engine: Engine, *, name: str, block_number: int) -> None:
    """Persist how far a named chain reader has processed."""
    with session_scope(engine) as session:
        row = session.get(CursorRow, name) or CursorRow(name=name, block_number=block_number)
        row.block_number = block_number
        row.updated_at = utcnow()
        session.add(row)
