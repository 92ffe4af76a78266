"""Copy every event of our contracts into SQL: cursor, confirmations, reorgs, bounded ranges.

- A persisted cursor (`cursors` row "indexer") says which block was read last.
- Only blocks at least `confirmations` deep are read.
- For every block holding our events, and for the last block of every range, the block hash
  and parent hash are stored. Before reading on, the newest stored blocks are compared with
  the chain; on a mismatch the orphaned blocks and their events are deleted and the cursor
  moves back to the newest block that is still canonical, so re-indexing repairs the copy.
- `eth_getLogs` is filtered by our contract addresses over bounded ranges; when the node
  refuses a range, the range is halved (down to one block) and retried.
- One writer per chain: a run holds a named lock (PostgreSQL advisory lock, or a file lock
  beside a SQLite database), so any number of processes may run the indexer.
- Each range is written in one database transaction; writes are keyed by
  (chain id, tx hash, log index), so re-reading a range never duplicates an event.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.abi import event_abi_to_log_topic
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from web3 import Web3
from web3.contract import Contract
from web3.types import FilterParams

from loantrace.domain.errors import ChainError
from loantrace.domain.hexcodec import to_hex
from loantrace.store.db import read_cursor, session_scope
from loantrace.store.locks import NamedLocks
from loantrace.store.models import ChainEventRow, CursorRow, IndexedBlockRow

log = logging.getLogger(__name__)

CURSOR = "indexer"
REORG_DEPTH_CHECKED = 64  # how many stored blocks are compared with the chain each run


@dataclass(frozen=True)
class IndexRun:
    """What one indexer run did."""

    from_block: int
    to_block: int
    events: int
    reorged_from: int | None


class Indexer:
    """Index the events of some contracts of one chain into the database."""

    def __init__(
        self,
        *,
        w3: Web3,
        engine: Engine,
        contracts: Sequence[Contract],
        chain_id: int,
        start_block: int,
        confirmations: int = 0,
        max_range: int = 2_000,
        on_reorg: Callable[[], None] = lambda: None,
    ) -> None:
        self._w3 = w3
        self._on_reorg = on_reorg
        self._engine = engine
        self._contracts = {c.address: c for c in contracts}
        self._chain_id = chain_id
        self._start_block = start_block
        self._confirmations = confirmations
        self._range = max_range
        self._max_range = max_range
        self._run_lock = threading.Lock()
        self._locks = NamedLocks(engine)
        self._topics: dict[bytes, tuple[Contract, str]] = {}
        for contract in contracts:
            abi: list[dict[str, Any]] = [dict(item) for item in contract.abi]
            for item in abi:
                if item.get("type") == "event":  # struct parameters hash as tuples
                    topic = event_abi_to_log_topic(item)  # type: ignore[arg-type]
                    self._topics[bytes(topic)] = (contract, str(item["name"]))

    @property
    def chain_id(self) -> int:
        """Return the id of the chain this indexer reads."""
        return self._chain_id

    def indexed_to(self) -> int:
        """Return the last block indexed (the persisted cursor)."""
        return self._cursor()

    def run_once(self, *, max_blocks: int | None = None) -> IndexRun:
        """Repair any reorg, then index confirmed blocks after the cursor (up to max_blocks)."""
        # One writer per chain: threads of this process, and every other process (API
        # replicas, `loantrace index`, the keeper) on the same database, take turns.
        with self._run_lock, self._locks.held(f"index:{self._chain_id}"):
            return self._run(max_blocks)

    def events_after(self, *, contract: str, event: str, after_block: int) -> list[ChainEventRow]:
        """Return indexed events of one kind after a block, in chain order."""
        with Session(self._engine) as session:
            return list(
                session.exec(
                    select(ChainEventRow)
                    .where(
                        ChainEventRow.chain_id == self._chain_id,
                        ChainEventRow.contract == contract,
                        ChainEventRow.event == event,
                        ChainEventRow.block_number > after_block,
                    )
                    .order_by(col(ChainEventRow.block_number), col(ChainEventRow.log_index))
                ).all()
            )

    def _run(self, max_blocks: int | None) -> IndexRun:
        reorged = self._repair_reorg()
        cursor = self._cursor()
        target = int(self._w3.eth.block_number) - self._confirmations
        if max_blocks is not None:
            target = min(target, cursor + max_blocks)
        first, events = cursor + 1, 0
        while cursor < target:
            to_block = min(target, cursor + self._range)
            try:
                logs = self._get_logs(cursor + 1, to_block)
            except ChainError:
                if to_block == cursor + 1:
                    raise
                self._range = max(1, (to_block - cursor) // 2)
                log.warning("node refused a log range; halving to %s blocks", self._range)
                continue
            events += self._store(logs, to_block)
            cursor = to_block
            self._range = min(self._max_range, self._range * 2)
        return IndexRun(first, cursor, events, reorged)

    def _get_logs(self, from_block: int, to_block: int) -> list[Any]:
        params: FilterParams = {
            "fromBlock": from_block,
            "toBlock": to_block,
            "address": list(self._contracts),
        }
        try:
            return list(self._w3.eth.get_logs(params))
        except Exception as exc:
            raise ChainError(f"get_logs {from_block}-{to_block} failed: {exc}") from exc

    def _store(self, logs: Sequence[Any], to_block: int) -> int:
        rows = [row for row in (self._decode(entry) for entry in logs) if row is not None]
        block_numbers = {r.block_number for r in rows} | {to_block}
        blocks = [self._block_row(n) for n in sorted(block_numbers)]
        with session_scope(self._engine) as session:
            known = set(
                session.exec(
                    select(ChainEventRow.tx_hash, ChainEventRow.log_index).where(
                        ChainEventRow.chain_id == self._chain_id,
                        col(ChainEventRow.block_number).in_(block_numbers),
                    )
                ).all()
            )
            fresh = [r for r in rows if (r.tx_hash, r.log_index) not in known]
            session.add_all(fresh)
            for block in blocks:
                session.merge(block)
            cursor = session.get(CursorRow, CURSOR) or CursorRow(name=CURSOR, block_number=0)
            cursor.block_number = to_block
            session.add(cursor)
        return len(fresh)

    def _decode(self, entry: Any) -> ChainEventRow | None:
        topics = entry["topics"]
        found = self._topics.get(bytes(topics[0])) if topics else None
        if found is None:
            return None
        contract, name = found
        decoded = getattr(contract.events, name)().process_log(entry)
        args = {k: _plain(v) for k, v in decoded["args"].items()}
        loan_id = args.get("loanId")
        return ChainEventRow(
            chain_id=self._chain_id,
            tx_hash=to_hex(bytes(entry["transactionHash"])),
            log_index=int(entry["logIndex"]),
            block_number=int(entry["blockNumber"]),
            block_hash=to_hex(bytes(entry["blockHash"])),
            contract=str(entry["address"]),
            event=name,
            loan_id=loan_id if isinstance(loan_id, str) else None,
            args_json=json.dumps(args, sort_keys=True),
        )

    def _block_row(self, number: int) -> IndexedBlockRow:
        block = self._w3.eth.get_block(number)
        return IndexedBlockRow(
            chain_id=self._chain_id,
            number=number,
            hash=to_hex(bytes(block["hash"])),
            parent_hash=to_hex(bytes(block["parentHash"])),
        )

    def _repair_reorg(self) -> int | None:
        """Roll back stored blocks the chain no longer has; return the first orphaned number."""
        with Session(self._engine) as session:
            stored = session.exec(
                select(IndexedBlockRow)
                .where(IndexedBlockRow.chain_id == self._chain_id)
                .order_by(col(IndexedBlockRow.number).desc())
                .limit(REORG_DEPTH_CHECKED)
            ).all()
        orphaned: int | None = None
        for block in stored:
            canonical = self._w3.eth.get_block(block.number)
            if to_hex(bytes(canonical["hash"])) == block.hash:
                break
            orphaned = block.number
        if orphaned is None:
            return None
        with session_scope(self._engine) as session:  # one transaction: rows and cursor
            session.execute(
                delete(ChainEventRow).where(
                    col(ChainEventRow.chain_id) == self._chain_id,
                    col(ChainEventRow.block_number) >= orphaned,
                )
            )
            session.execute(
                delete(IndexedBlockRow).where(
                    col(IndexedBlockRow.chain_id) == self._chain_id,
                    col(IndexedBlockRow.number) >= orphaned,
                )
            )
            cursor = session.get(CursorRow, CURSOR) or CursorRow(name=CURSOR, block_number=0)
            cursor.block_number = min(cursor.block_number, orphaned - 1)
            session.add(cursor)
        log.warning("reorg: dropped indexed blocks from %s; re-indexing", orphaned)
        self._on_reorg()
        return orphaned

    def _cursor(self) -> int:
        saved = read_cursor(self._engine, name=CURSOR)
        return saved if saved is not None else self._start_block - 1


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return to_hex(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
