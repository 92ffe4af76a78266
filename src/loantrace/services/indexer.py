"""Copy every event of our contracts into SQL: cursor, confirmations, reorgs, bounded ranges.

- A persisted cursor (`cursors` row "indexer") says which block was read last.
- Only blocks at least `confirmations` deep are read.
- For every block holding our events, and for the last block of every range, the block hash
  and parent hash are stored. Before reading on, the newest stored blocks are compared with
  the chain; on a mismatch the blocks after the newest one that is still canonical are
  dropped with their events and the cursor moves back to it, so re-indexing repairs the copy.
- `eth_getLogs` is filtered by our contract addresses over bounded ranges; when the node
  refuses a range, the range is halved (down to one block) and retried. A range that held
  many logs is followed by a narrower one; sparse ranges double, up to `max_range`.
- One writer per chain: a run holds a named lock (PostgreSQL advisory lock, or a file lock
  beside a SQLite database), so any number of processes may run the indexer.
- Each range is written in one database transaction; writes are keyed by
  (chain id, tx hash, log index), so re-reading a range never duplicates an event.

Backfill speed: on a JSON-RPC node the logs are asked for raw (no web3.py formatting of each
log) and decoded by `LogDecoder` from their hex; the hash of an event's block is the one its
log carries, and its parent's hash the one the logs carry for the block before, so a header
is fetched (in one batch per range) only for a block whose predecessor holds none of our
events; rows are written in bulk (`loantrace.store.events`); and while one range is decoded
and written, the next is read on a second thread.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from eth_typing import HexStr
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound
from web3.providers import JSONBaseProvider
from web3.types import FilterParams, RPCEndpoint

from loantrace.domain.errors import ChainError
from loantrace.domain.hexcodec import to_hex
from loantrace.services.indexer_decode import LogDecoder, raw_log
from loantrace.store.db import read_cursor
from loantrace.store.events import BlockRecord, drop_from, recent_blocks, write_range
from loantrace.store.locks import NamedLocks
from loantrace.store.models import ChainEventRow

log = logging.getLogger(__name__)

CURSOR = "indexer"
REORG_DEPTH_CHECKED = 64  # how many stored blocks are compared with the chain each run
HEADER_BATCH = 1_000  # block headers asked in one JSON-RPC batch
FIRST_RANGE = 100  # blocks in the first range read; then doubled up to max_range
LOGS_PER_RANGE = 5_000  # a range that held more logs is followed by a narrower one


@dataclass(frozen=True)
class IndexRun:
    """What one indexer run did."""

    from_block: int
    to_block: int
    events: int
    reorged_from: int | None


@dataclass(frozen=True)
class _Ahead:
    """A range being read ahead: its first and last block, and the read."""

    blocks: tuple[int, int]
    future: Future[tuple[list[Any], Mapping[str, Any]]]


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
        self._range = min(max_range, FIRST_RANGE)  # grows while ranges stay sparse
        self._max_range = max_range
        self._run_lock = threading.Lock()
        self._locks = NamedLocks(engine)
        self._decoder = LogDecoder(contracts, chain_id)
        # A JSON-RPC provider is asked directly (no web3.py formatting of every log); the
        # embedded chain's provider speaks Python objects, so it goes through web3.py.
        self._raw = isinstance(w3.provider, JSONBaseProvider)
        self._pool: ThreadPoolExecutor | None = None  # reads the next range of a backfill
        self._pool_pid = os.getpid()
        self._ahead: _Ahead | None = None

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
        head = int(self._w3.eth.block_number) - self._confirmations
        target = head if max_blocks is None else min(head, cursor + max_blocks)
        first, events = cursor + 1, 0
        ahead, self._ahead = self._ahead, None
        if self._pool_pid != os.getpid():  # a forked process: the reader thread stayed behind
            self._pool, ahead = None, None
        while cursor < target:
            to_block = min(target, cursor + self._range)
            try:
                if ahead is not None and ahead.blocks == (cursor + 1, to_block) and not reorged:
                    logs, last = ahead.future.result()
                else:
                    logs, last = self._read(cursor + 1, to_block)
            except ChainError:
                if to_block == cursor + 1:
                    raise
                self._range = max(1, (to_block - cursor) // 2)
                log.warning("node refused a log range; halving to %s blocks", self._range)
                continue
            finally:
                ahead = None
            self._range = self._next_range(to_block - cursor, len(logs))
            # A backfill reads the next range while this one is decoded and written; the
            # next run_once (a chunked backfill) takes it over when it asks for that range.
            upto = min(head, to_block + self._range)
            if self._raw and upto > to_block:
                ahead = _Ahead(
                    (to_block + 1, upto), self._reader().submit(self._read, to_block + 1, upto)
                )
            events += self._store(logs, cursor + 1, to_block, last)
            cursor = to_block
        self._ahead = ahead
        return IndexRun(first, cursor, events, reorged)

    def _next_range(self, blocks: int, logs: int) -> int:
        """Return the next range's size: doubled, or cut back when this one was crowded."""
        if logs > LOGS_PER_RANGE:
            return max(1, min(self._max_range, blocks * LOGS_PER_RANGE // logs))
        return min(self._max_range, self._range * 2)

    def _read(self, from_block: int, to_block: int) -> tuple[list[Any], Mapping[str, Any]]:
        """Return a range's logs and the header of its last block, read before the logs:
        if a reorganisation comes between, the stored hash is stale and the next run
        repairs the range."""
        last = self._headers([to_block])[0]
        if last is None:
            raise ChainError(f"block {to_block} is not there")
        return self._get_logs(from_block, to_block), last

    def _reader(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indexer-read")
            self._pool_pid = os.getpid()
        return self._pool

    def _get_logs(self, from_block: int, to_block: int) -> list[Any]:
        """Return the logs of our contracts in a range, in JSON-RPC form (hex strings)."""
        addresses = list(self._contracts)
        try:
            if self._raw:
                params = {"fromBlock": hex(from_block), "toBlock": hex(to_block)}
                return list(self._call("eth_getLogs", [{**params, "address": addresses}]))
            query: FilterParams = {
                "fromBlock": from_block,
                "toBlock": to_block,
                "address": addresses,
            }
            return [raw_log(entry) for entry in self._w3.eth.get_logs(query)]
        except Exception as exc:
            raise ChainError(f"get_logs {from_block}-{to_block} failed: {exc}") from exc

    def _store(
        self, logs: Sequence[Mapping[str, Any]], first: int, to_block: int, last: Mapping[str, Any]
    ) -> int:
        decode = self._decoder.decode
        rows = [row for row in map(decode, logs) if row is not None]
        hashes = {row[3]: row[4] for row in rows}  # the block of every event: number -> hash
        return write_range(
            self._engine,
            chain_id=self._chain_id,
            first_block=first,
            last_block=to_block,
            events=rows,
            blocks=self._block_rows(hashes, to_block, last),
            cursor=CURSOR,
        )

    def _block_rows(
        self, hashes: dict[int, str], to_block: int, last: Mapping[str, Any]
    ) -> list[BlockRecord]:
        """Return the rows of the blocks holding events and of the range's last block.

        The hash of a block holding events is the one its logs carry. Its parent's hash is
        the hash the logs carry for the block before it when that block holds events too;
        otherwise the block's header is fetched by that hash (batched). The last block's
        header was read before the logs."""
        rows: list[BlockRecord] = []
        missing: list[tuple[int, str]] = []
        for number, block_hash in sorted(hashes.items()):
            parent = hashes.get(number - 1)
            if parent is not None:
                rows.append((self._chain_id, number, block_hash, parent))
            elif number != to_block:
                missing.append((number, block_hash))
        headers = self._headers([block_hash for _number, block_hash in missing])
        for (number, block_hash), header in zip(missing, headers, strict=True):
            if header is None or _hex(header["hash"]) != block_hash:
                raise ChainError(f"block {number} changed while it was read (a reorganisation)")
            rows.append((self._chain_id, number, block_hash, _hex(header["parentHash"])))
        if hashes.get(to_block, _hex(last["hash"])) != _hex(last["hash"]):
            raise ChainError(f"block {to_block} changed while it was read (a reorganisation)")
        if to_block not in hashes or hashes.get(to_block - 1) is None:
            rows.append((self._chain_id, to_block, _hex(last["hash"]), _hex(last["parentHash"])))
        return rows

    def _headers(self, blocks: Sequence[int | str]) -> list[Mapping[str, Any] | None]:
        """Fetch block headers (by number or by hash), batched on a JSON-RPC node."""
        if not self._raw:
            return [self._header(b) for b in blocks]
        calls = [
            ("eth_getBlockByHash", [b, False])
            if isinstance(b, str)
            else ("eth_getBlockByNumber", [hex(b), False])
            for b in blocks
        ]
        found: list[Mapping[str, Any] | None] = []
        for at in range(0, len(calls), HEADER_BATCH):
            found += self._batch(calls[at : at + HEADER_BATCH])
        return found

    def _header(self, block: int | str) -> Mapping[str, Any] | None:
        try:
            return self._w3.eth.get_block(HexStr(block) if isinstance(block, str) else block)
        except BlockNotFound:
            return None

    def _call(self, method: str, params: list[Any]) -> Any:
        response = self._w3.provider.make_request(RPCEndpoint(method), params)
        if "error" in response:
            raise ChainError(f"{method} failed: {response['error']}")
        return response["result"]

    def _batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        if len(calls) == 1:
            return [self._call(*calls[0])]
        provider: Any = self._w3.provider
        try:
            responses = provider.make_batch_request([(RPCEndpoint(m), p) for m, p in calls])
        except NotImplementedError:  # a provider without batches: one call at a time
            return [self._call(method, params) for method, params in calls]
        if not isinstance(responses, list) or len(responses) != len(calls):
            raise ChainError(f"a batch of {len(calls)} calls failed: {responses}")
        results = []
        for (method, _params), response in zip(calls, responses, strict=True):  # in id order
            if "error" in response:
                raise ChainError(f"{method} failed in a batch: {response['error']}")
            results.append(response["result"])
        return results

    def _repair_reorg(self) -> int | None:
        """Roll back what follows the newest stored block the chain still has; return the
        first block rolled back (None when the newest stored block is still canonical)."""
        stored = recent_blocks(self._engine, chain_id=self._chain_id, limit=REORG_DEPTH_CHECKED)
        newest = self._headers([number for number, _hash in stored[:1]])
        if not stored or (newest[0] is not None and _hex(newest[0]["hash"]) == stored[0][1]):
            return None  # the usual case: one header read
        canonical = newest + self._headers([number for number, _hash in stored[1:]])
        orphaned = stored[-1][0]  # none of the checked blocks is canonical: drop them all
        for (number, stored_hash), header in zip(stored, canonical, strict=True):
            if header is not None and _hex(header["hash"]) == stored_hash:
                # Blocks between this one and the oldest orphaned stored block held none of
                # our events on the old branch, but may on the new one: read them again.
                orphaned = number + 1
                break
        drop_from(self._engine, chain_id=self._chain_id, block=orphaned, cursor=CURSOR)
        log.warning("reorg: dropped indexed blocks from %s; re-indexing", orphaned)
        self._on_reorg()
        return orphaned

    def _cursor(self) -> int:
        saved = read_cursor(self._engine, name=CURSOR)
        return saved if saved is not None else self._start_block - 1


def _hex(value: Any) -> str:
    """Return a hash as lowercase 0x-hex, from JSON-RPC text or web3.py's HexBytes."""
    return value.lower() if isinstance(value, str) else to_hex(bytes(value))
