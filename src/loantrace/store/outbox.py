"""The durable transaction outbox: signed transactions in SQL, one send lock per key.

The send lock is a named lock (`store.locks`): a PostgreSQL advisory lock, or a file lock
beside a SQLite database. Each method commits before it returns.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loantrace.outbox import OutboxTx, TxStatus
from loantrace.store.db import session_scope
from loantrace.store.locks import NamedLocks
from loantrace.store.models import OutboxRow, utcnow
from loantrace.store.uow import taking_turns

_LIVE = (TxStatus.PENDING.value, TxStatus.MINED.value, TxStatus.FAILED.value)


class SqlOutbox:
    """Outbox rows in the service's database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._locks = NamedLocks(engine)

    def lock(self, chain_id: int, sender: str) -> AbstractContextManager[None]:
        """Hold the send lock of (chain, sender) across threads and processes."""
        return self._locks.held(f"send:{chain_id}:{sender.lower()}")

    def next_nonce(self, chain_id: int, sender: str, chain_nonce: int) -> int:
        """Return max(chain nonce, highest live recorded nonce + 1)."""
        with taking_turns(self._engine), Session(self._engine) as session:
            highest = session.exec(
                select(func.max(OutboxRow.nonce)).where(
                    OutboxRow.chain_id == chain_id,
                    OutboxRow.sender == sender,
                    col(OutboxRow.status).in_(_LIVE),
                )
            ).one()
        return chain_nonce if highest is None else max(chain_nonce, int(highest) + 1)

    def record(self, tx: OutboxTx) -> None:
        """Insert `tx` and commit."""
        with session_scope(self._engine) as session:
            session.add(_row(tx))

    def by_intent(self, chain_id: int, sender: str, intent: str) -> OutboxTx | None:
        """Return the newest live transaction recorded for `intent`."""
        newest = (col(OutboxRow.nonce).desc(), col(OutboxRow.created_at).desc())
        found = self._of_sender(
            chain_id,
            sender,
            OutboxRow.intent == intent,
            col(OutboxRow.status).in_(_LIVE),
            order=newest,
            limit=1,
        )
        return found[0] if found else None

    def by_hash(self, tx_hash: str) -> OutboxTx | None:
        """Return the transaction recorded under `tx_hash`."""
        with taking_turns(self._engine), Session(self._engine) as session:
            row = session.get(OutboxRow, tx_hash)
        return None if row is None else _tx(row)

    def pending(self, chain_id: int, sender: str) -> list[OutboxTx]:
        """Return the sender's pending transactions, lowest nonce first."""
        return self._of_sender(chain_id, sender, OutboxRow.status == TxStatus.PENDING.value)

    def mined_from(self, chain_id: int, sender: str, nonce: int) -> list[OutboxTx]:
        """Return the sender's transactions recorded as mined with a nonce >= `nonce`."""
        return self._of_sender(
            chain_id, sender, OutboxRow.status == TxStatus.MINED.value, OutboxRow.nonce >= nonce
        )

    def by_nonce(self, chain_id: int, sender: str, nonce: int) -> list[OutboxTx]:
        """Return every transaction recorded with this nonce (replacements included)."""
        return self._of_sender(chain_id, sender, OutboxRow.nonce == nonce)

    def _of_sender(
        self,
        chain_id: int,
        sender: str,
        *conditions: Any,
        order: tuple[Any, ...] = (col(OutboxRow.nonce),),
        limit: int | None = None,
    ) -> list[OutboxTx]:
        """Return the sender's transactions matching `conditions`, lowest nonce first."""
        query = (
            select(OutboxRow)
            .where(OutboxRow.chain_id == chain_id, OutboxRow.sender == sender, *conditions)
            .order_by(*order)
        )
        with taking_turns(self._engine), Session(self._engine) as session:
            rows = session.exec(query if limit is None else query.limit(limit)).all()
        return [_tx(r) for r in rows]

    def mark(self, tx_hash: str, status: TxStatus, block_number: int | None = None) -> None:
        """Set the status (and mining block) of a recorded transaction."""
        with session_scope(self._engine) as session:
            row = session.get(OutboxRow, tx_hash)
            if row is not None:
                row.status = status.value
                row.block_number = block_number
                row.updated_at = utcnow()
                session.add(row)

    def depth(self) -> tuple[int, float | None]:
        """Return how many transactions are pending and the oldest one's age in seconds."""
        with taking_turns(self._engine), Session(self._engine) as session:
            count, oldest = session.exec(
                select(func.count(), func.min(OutboxRow.created_at)).where(
                    OutboxRow.status == TxStatus.PENDING.value
                )
            ).one()
        if not count or oldest is None:
            return 0, None
        if oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=utcnow().tzinfo)
        return int(count), (utcnow() - oldest).total_seconds()


def _row(tx: OutboxTx) -> OutboxRow:
    return OutboxRow(
        tx_hash=tx.tx_hash,
        chain_id=tx.chain_id,
        sender=tx.sender,
        nonce=tx.nonce,
        raw=tx.raw.hex(),
        to=tx.to,
        data=tx.data.hex(),
        intent=tx.intent,
        status=tx.status.value,
        block_number=tx.block_number,
        max_fee_per_gas=None if tx.max_fee_per_gas is None else str(tx.max_fee_per_gas),
        max_priority_fee_per_gas=(
            None if tx.max_priority_fee_per_gas is None else str(tx.max_priority_fee_per_gas)
        ),
        gas=tx.gas,
    )


def _tx(row: OutboxRow) -> OutboxTx:
    return OutboxTx(
        chain_id=row.chain_id,
        sender=row.sender,
        nonce=row.nonce,
        tx_hash=row.tx_hash,
        raw=bytes.fromhex(row.raw),
        to=row.to,
        data=bytes.fromhex(row.data),
        intent=row.intent,
        status=TxStatus(row.status),
        block_number=row.block_number,
        max_fee_per_gas=None if row.max_fee_per_gas is None else int(row.max_fee_per_gas),
        max_priority_fee_per_gas=(
            None if row.max_priority_fee_per_gas is None else int(row.max_priority_fee_per_gas)
        ),
        gas=row.gas,
        created_at=_aware(row.created_at).timestamp(),
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
