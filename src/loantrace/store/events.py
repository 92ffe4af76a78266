"""Bulk writes of the indexer: chain events, the blocks they came from, and the cursor.

A range is written in one transaction without ORM objects: events through COPY on
PostgreSQL and `executemany` on SQLite, blocks and the cursor as upserts. Events already
stored (keyed by chain id, tx hash and log index) are skipped, so re-reading a range never
duplicates one; a reorganisation is rolled back in one transaction too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from loantrace.store.models import ChainEventRow, CursorRow, IndexedBlockRow, utcnow

# (chain id, tx hash, log index, block number, block hash, contract, event, loan id, args)
EventRecord = tuple[int, str, int, int, str, str, str, str | None, str]
BlockRecord = tuple[int, int, str, str]  # (chain id, number, hash, parent hash)

EVENTS: Table = ChainEventRow.__table__  # type: ignore[attr-defined]
BLOCKS: Table = IndexedBlockRow.__table__  # type: ignore[attr-defined]
CURSORS: Table = CursorRow.__table__  # type: ignore[attr-defined]
EVENT_COLUMNS = (
    "chain_id",
    "tx_hash",
    "log_index",
    "block_number",
    "block_hash",
    "contract",
    "event",
    "loan_id",
    "args_json",
)
BLOCK_COLUMNS = ("chain_id", "number", "hash", "parent_hash")


def write_range(
    engine: Engine,
    *,
    chain_id: int,
    first_block: int,
    last_block: int,
    events: Sequence[EventRecord],
    blocks: Sequence[BlockRecord],
    cursor: str,
) -> int:
    """Store a range's events and blocks and move `cursor` to its last block, in one
    transaction; return how many events were new."""
    with engine.begin() as conn:
        known = {
            (tx_hash, log_index)
            for tx_hash, log_index in conn.execute(
                select(EVENTS.c.tx_hash, EVENTS.c.log_index).where(
                    EVENTS.c.chain_id == chain_id,
                    EVENTS.c.block_number >= first_block,
                    EVENTS.c.block_number <= last_block,
                )
            )
        }
        fresh = [e for e in events if (e[1], e[2]) not in known] if known else list(events)
        if fresh:
            _insert_events(conn, fresh)
        if blocks:
            _upsert_blocks(conn, blocks)
        _upsert_cursor(conn, cursor, last_block)
    return len(fresh)


def recent_blocks(engine: Engine, *, chain_id: int, limit: int) -> list[tuple[int, str]]:
    """Return the newest stored blocks as (number, hash), newest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(BLOCKS.c.number, BLOCKS.c.hash)
            .where(BLOCKS.c.chain_id == chain_id)
            .order_by(BLOCKS.c.number.desc())
            .limit(limit)
        )
        return [(int(number), str(block_hash)) for number, block_hash in rows]


def drop_from(engine: Engine, *, chain_id: int, block: int, cursor: str) -> None:
    """Delete the events and blocks from `block` on and move `cursor` back before it, in one
    transaction (a reorganisation orphaned them)."""
    with engine.begin() as conn:
        conn.execute(
            delete(EVENTS).where(EVENTS.c.chain_id == chain_id, EVENTS.c.block_number >= block)
        )
        conn.execute(delete(BLOCKS).where(BLOCKS.c.chain_id == chain_id, BLOCKS.c.number >= block))
        saved = conn.execute(
            select(CURSORS.c.block_number).where(CURSORS.c.name == cursor)
        ).scalar_one_or_none()
        _upsert_cursor(conn, cursor, block - 1 if saved is None else min(saved, block - 1))


def _insert_events(conn: Connection, rows: Sequence[EventRecord]) -> None:
    columns = ", ".join(EVENT_COLUMNS)
    dialect = conn.dialect.name
    if dialect == "postgresql":
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY chain_events ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    elif dialect == "sqlite":
        marks = ", ".join("?" * len(EVENT_COLUMNS))
        sql = f"INSERT INTO chain_events ({columns}) VALUES ({marks})"  # noqa: S608 (constants)
        conn.exec_driver_sql(sql, rows)
    else:
        conn.execute(insert(EVENTS), [dict(zip(EVENT_COLUMNS, r, strict=True)) for r in rows])


def _upsert_blocks(conn: Connection, rows: Sequence[BlockRecord]) -> None:
    dialect = conn.dialect.name
    if dialect == "postgresql":  # one statement for a range of one chain: arrays, unnested
        _chain, numbers, hashes, parents = zip(*rows, strict=True)
        values = (rows[0][0], ",".join(map(str, numbers)), ",".join(hashes), ",".join(parents))
        conn.exec_driver_sql(_UPSERT_BLOCKS_POSTGRESQL, values)
    elif dialect == "sqlite":
        conn.exec_driver_sql(_UPSERT_BLOCKS_SQLITE, list(rows))
    else:  # another database: delete and insert, in this transaction
        for chain_id, number, block_hash, parent_hash in rows:
            conn.execute(
                delete(BLOCKS).where(BLOCKS.c.chain_id == chain_id, BLOCKS.c.number == number)
            )
            conn.execute(
                insert(BLOCKS).values(
                    chain_id=chain_id, number=number, hash=block_hash, parent_hash=parent_hash
                )
            )


_UPSERT_BLOCKS_SQLITE = (
    "INSERT INTO indexed_blocks (chain_id, number, hash, parent_hash) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (chain_id, number) DO UPDATE"
    " SET hash = excluded.hash, parent_hash = excluded.parent_hash"
)
_UPSERT_BLOCKS_POSTGRESQL = (
    "INSERT INTO indexed_blocks (chain_id, number, hash, parent_hash)"
    " SELECT %s, * FROM unnest(string_to_array(%s, ',')::bigint[],"
    " string_to_array(%s, ','), string_to_array(%s, ','))"
    " ON CONFLICT (chain_id, number) DO UPDATE"
    " SET hash = excluded.hash, parent_hash = excluded.parent_hash"
)


def _upsert_cursor(conn: Connection, name: str, block: int) -> None:
    value = {"name": name, "block_number": block, "updated_at": utcnow()}
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        make = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = make(CURSORS).values(value)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["name"],
                set_={
                    "block_number": statement.excluded.block_number,
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )
        return
    conn.execute(delete(CURSORS).where(CURSORS.c.name == name))
    conn.execute(insert(CURSORS).values(value))
