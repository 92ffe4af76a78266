"""The transaction outbox port: every signed transaction is durable before it is broadcast.

A sender allocates nonces and records each signed transaction in an outbox *before* it
leaves the process, under a lock that every process sending from the same key shares
(PostgreSQL advisory lock, a file lock for SQLite, a thread lock in memory). So `serve`,
the keeper and any number of API replicas can share a key without nonce collisions, and a
crash after broadcast loses nothing: the sender finds the transaction again, re-broadcasts
the same bytes if the node no longer has it, and adopts its receipt.

An *intent* names what a transaction does (a notarisation, a bank reference): a second
request with the same intent adopts the first transaction instead of sending another one.

This port sits outside both adapters, which never import each other: `chain/` (the
transactor) uses it with the in-memory implementation below, `store/` provides the durable
one, and `services/` wires them together.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol


class TxStatus(StrEnum):
    """Where an outbox transaction stands."""

    PENDING = "pending"  # signed and recorded; broadcast, or about to be
    MINED = "mined"  # its receipt says success
    FAILED = "failed"  # mined but reverted
    REPLACED = "replaced"  # another transaction took its nonce (a fee bump or a retry)


@dataclass(frozen=True)
class OutboxTx:
    """One signed transaction as recorded before broadcast."""

    chain_id: int
    sender: str
    nonce: int
    tx_hash: str
    raw: bytes
    to: str | None
    data: bytes
    intent: str | None
    status: TxStatus = TxStatus.PENDING
    block_number: int | None = None
    max_fee_per_gas: int | None = None
    max_priority_fee_per_gas: int | None = None
    gas: int | None = None
    created_at: float | None = None  # unix seconds when it was recorded


class Outbox(Protocol):
    """Durable storage of signed transactions, with one lock per sending key."""

    def lock(self, chain_id: int, sender: str) -> AbstractContextManager[None]:
        """Hold the key's send lock (shared by every process using this outbox)."""

    def next_nonce(self, chain_id: int, sender: str, chain_nonce: int) -> int:
        """Return the next nonce: after the chain's and after every live recorded one."""

    def record(self, tx: OutboxTx) -> None:
        """Store a signed transaction durably (committed when this returns)."""

    def by_intent(self, chain_id: int, sender: str, intent: str) -> OutboxTx | None:
        """Return the live (not replaced) transaction recorded for an intent, if any."""

    def by_hash(self, tx_hash: str) -> OutboxTx | None:
        """Return the transaction recorded under a hash, if any."""

    def pending(self, chain_id: int, sender: str) -> list[OutboxTx]:
        """Return the sender's pending transactions, lowest nonce first."""

    def mined_from(self, chain_id: int, sender: str, nonce: int) -> list[OutboxTx]:
        """Return the sender's transactions recorded as mined with a nonce >= `nonce`."""

    def by_nonce(self, chain_id: int, sender: str, nonce: int) -> list[OutboxTx]:
        """Return every transaction recorded with this nonce (replacements included)."""

    def mark(self, tx_hash: str, status: TxStatus, block_number: int | None = None) -> None:
        """Set a transaction's status (and the block that mined it)."""


class MemoryOutbox:
    """An in-process outbox: one process, nothing survives it (tests, the embedded demo)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rows: dict[str, OutboxTx] = {}

    @contextmanager
    def _held(self) -> Iterator[None]:
        with self._lock:
            yield

    def lock(self, chain_id: int, sender: str) -> AbstractContextManager[None]:
        """Hold the process-wide lock."""
        return self._held()

    def next_nonce(self, chain_id: int, sender: str, chain_nonce: int) -> int:
        """Return max(chain nonce, highest live nonce + 1)."""
        live = [
            t.nonce
            for t in self._rows.values()
            if (t.chain_id, t.sender) == (chain_id, sender) and t.status is not TxStatus.REPLACED
        ]
        return max([chain_nonce, *(n + 1 for n in live)])

    def record(self, tx: OutboxTx) -> None:
        """Keep `tx`."""
        with self._lock:
            self._rows[tx.tx_hash] = replace(tx, created_at=tx.created_at or time.time())

    def by_nonce(self, chain_id: int, sender: str, nonce: int) -> list[OutboxTx]:
        """Return the transactions of one nonce."""
        return [
            t
            for t in self._rows.values()
            if (t.chain_id, t.sender, t.nonce) == (chain_id, sender, nonce)
        ]

    def by_intent(self, chain_id: int, sender: str, intent: str) -> OutboxTx | None:
        """Return the newest live transaction of an intent."""
        found = [
            t
            for t in self._rows.values()
            if (t.chain_id, t.sender, t.intent) == (chain_id, sender, intent)
            and t.status is not TxStatus.REPLACED
        ]
        return max(found, key=lambda t: (t.nonce, t.created_at or 0.0)) if found else None

    def by_hash(self, tx_hash: str) -> OutboxTx | None:
        """Return the transaction under `tx_hash`."""
        return self._rows.get(tx_hash)

    def pending(self, chain_id: int, sender: str) -> list[OutboxTx]:
        """Return the sender's pending transactions by nonce."""
        rows = [
            t
            for t in self._rows.values()
            if (t.chain_id, t.sender) == (chain_id, sender) and t.status is TxStatus.PENDING
        ]
        return sorted(rows, key=lambda t: t.nonce)

    def mined_from(self, chain_id: int, sender: str, nonce: int) -> list[OutboxTx]:
        """Return the sender's mined transactions from `nonce` on."""
        rows = [
            t
            for t in self._rows.values()
            if (t.chain_id, t.sender) == (chain_id, sender)
            and t.status is TxStatus.MINED
            and t.nonce >= nonce
        ]
        return sorted(rows, key=lambda t: t.nonce)

    def mark(self, tx_hash: str, status: TxStatus, block_number: int | None = None) -> None:
        """Update a transaction's status."""
        with self._lock:
            row = self._rows.get(tx_hash)
            if row is not None:
                self._rows[tx_hash] = replace(row, status=status, block_number=block_number)
