"""Read-only evidence from a node: blocks, receipts, the registry's events and views.

Everything here is a read (`eth_call`, `eth_getBlockByNumber`, `eth_getTransactionReceipt`):
no account, no key, no transaction, no file. It is what `verify-certificate` trusts: the node.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3 import Web3
from web3.exceptions import TransactionNotFound

from loantrace.chain.artifacts import load_artifact
from loantrace.chain.registry import ARTIFACT, matches_build
from loantrace.chain.rpcbatch import RpcBatcher
from loantrace.domain.errors import ChainError
from loantrace.domain.hexcodec import to_hex


def _bytes(value: Any) -> bytes:
    """Return a JSON-RPC hex string (or bytes) as bytes."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return bytes.fromhex(str(value).removeprefix("0x"))


@dataclass(frozen=True)
class BlockFacts:
    """What identifies a block."""

    number: int
    hash: bytes
    timestamp: int


@dataclass(frozen=True)
class RegistryEvent:
    """A decoded event of the registry in a transaction receipt."""

    name: str
    address: str
    args: dict[str, Any]


@dataclass(frozen=True)
class TxFacts:
    """A mined transaction: where, whether it succeeded, to whom, and the registry's events."""

    block_number: int
    block_hash: bytes
    succeeded: bool
    to: str | None
    events: tuple[RegistryEvent, ...]


@dataclass(frozen=True)
class SnapshotQuery:
    """One anchored agreement to ask the chain about: its id, the block we recorded its
    anchor in, and for a batched one the `(lender, root)` of its batch."""

    agreement_id: bytes
    anchor_block: int
    batch: tuple[str, bytes] | None = None


def _selector(signature: str) -> str:
    return "0x" + keccak(text=signature)[:4].hex()


# Call data built from fixed selectors: web3's `encode_abi` re-derives every selector of the
# ABI on each call (about 3 ms, most of a verification's CPU time when measured).
_STATUS_OF = _selector("statusOf(bytes32)")
_RECORD_OF = _selector("recordOf(bytes32)")
_BATCH_OF = _selector("batchOf(address,bytes32)")
_STATUS_TYPES = ["uint8", "bytes32", "uint8"]
_RECORD_TYPES = ["address", "uint48", "uint40", "uint8"]
_BATCH_TYPES = ["address", "uint48", "uint40"]


def _status_call(q: SnapshotQuery) -> str:
    return _STATUS_OF + q.agreement_id.hex()


def _anchor_call(q: SnapshotQuery) -> str:
    if q.batch is None:
        return _RECORD_OF + q.agreement_id.hex()
    return _BATCH_OF + abi_encode(["address", "bytes32"], [q.batch[0], q.batch[1]]).hex()


@dataclass(frozen=True)
class Snapshot:
    """What the chain says now about one anchored agreement, read in one JSON-RPC batch."""

    head: int
    status: int
    successor: bytes
    reason: int
    anchored_by: str | None  # the lender of the record or batch; None when there is none
    anchor_block_hash: bytes | None  # None when the node lacks the block


class ChainEvidence:
    """Typed reads of one node and one AgreementRegistry address."""

    def __init__(self, w3: Web3, registry: str) -> None:
        """Read `registry` through `w3`; nothing is checked until asked."""
        self._w3 = w3
        self._artifact = load_artifact(ARTIFACT)
        self.registry = Web3.to_checksum_address(registry)
        self._contract = w3.eth.contract(address=self.registry, abi=self._artifact["abi"])
        self.rpc = RpcBatcher(w3.provider)

    def chain_id(self) -> int:
        """Return the node's chain id."""
        return int(self._w3.eth.chain_id)

    def block(self, number: int) -> BlockFacts | None:
        """Return block `number`, or None when the node has no such block."""
        if number > int(self._w3.eth.block_number):
            return None
        block = self._w3.eth.get_block(number)
        return BlockFacts(number, bytes(block["hash"]), int(block["timestamp"]))

    def head(self) -> int:
        """Return the latest block number."""
        return int(self._w3.eth.block_number)

    def is_registry_build(self) -> bool:
        """Return whether the code at the registry address is this build's AgreementRegistry."""
        return matches_build(bytes(self._w3.eth.get_code(self.registry)), self._artifact)

    def transaction(self, tx_hash: bytes) -> TxFacts | None:
        """Return a mined transaction with the registry's events decoded, or None."""
        try:
            receipt = self._w3.eth.get_transaction_receipt(to_hex(tx_hash))  # type: ignore[arg-type]
        except TransactionNotFound:
            return None
        events = []
        for entry in receipt["logs"]:
            if Web3.to_checksum_address(entry["address"]) != self.registry:
                continue
            for event in (
                self._contract.events.AgreementNotarised,
                self._contract.events.BatchAnchored,
            ):
                try:
                    decoded = event().process_log(entry)
                except Exception:  # noqa: S112 - another event of the registry
                    continue
                events.append(RegistryEvent(decoded["event"], self.registry, dict(decoded["args"])))
                break
        to = receipt.get("to")
        return TxFacts(
            block_number=int(receipt["blockNumber"]),
            block_hash=bytes(receipt["blockHash"]),
            succeeded=int(receipt["status"]) == 1,
            to=Web3.to_checksum_address(to) if to else None,
            events=tuple(events),
        )

    def record_lender(self, agreement_id: bytes) -> str | None:
        """Return the lender of a single record, or None when there is none."""
        if not self._has_code():
            return None
        lender, _at, _block, _status = self._contract.functions.recordOf(agreement_id).call()
        return None if int(lender, 16) == 0 else str(lender)

    def batch_lender(self, lender: str, root: bytes) -> str | None:
        """Return the lender of the batch `lender` anchored under `root`, or None."""
        if not self._has_code():
            return None
        owner, _at, _block = self._contract.functions.batchOf(lender, root).call()
        return None if int(owner, 16) == 0 else str(owner)

    def status(self, agreement_id: bytes) -> tuple[int, bytes, int]:
        """Return (status, successor, reason) of an agreement id from `statusOf`."""
        status, successor, reason = self._contract.functions.statusOf(agreement_id).call()
        return int(status), bytes(successor), int(reason)

    def snapshots(self, queries: Sequence[SnapshotQuery]) -> list[Snapshot | None]:
        """Read what the chain says now about each of `queries`, however many, in two round
        trips: the head, then every query's status, record (single) or batch, and anchor block
        hash in one JSON-RPC batch pinned at that head by its hash (EIP-1898), so all answers
        are of one block. None for a query the node could not answer (the full path judges it).
        """
        if not queries:
            return []
        if not hasattr(self._w3.provider, "make_batch_request"):  # the in-process test chain
            return [self._snapshot_one_by_one(q) for q in queries]
        (head_block,) = self._batch([("eth_getBlockByNumber", ["latest", False])])
        number = head_block["number"]
        head = number if isinstance(number, int) else int(number, 16)
        pin = {"blockHash": to_hex(_bytes(head_block["hash"])), "requireCanonical": True}
        requests: list[tuple[str, list[Any]]] = []
        for q in queries:
            requests.append(("eth_call", [{"to": self.registry, "data": _status_call(q)}, pin]))
            requests.append(("eth_call", [{"to": self.registry, "data": _anchor_call(q)}, pin]))
        blocks = sorted({q.anchor_block for q in queries if q.anchor_block <= head})
        requests.extend(("eth_getBlockByNumber", [hex(n), False]) for n in blocks)
        answers = self.rpc.send(requests)
        hashes = dict(zip(blocks, answers[2 * len(queries) :], strict=True))
        found: list[Snapshot | None] = []
        for i, q in enumerate(queries):
            status_raw, anchor_raw = answers[2 * i], answers[2 * i + 1]
            block = hashes.get(q.anchor_block)
            if isinstance(status_raw, ChainError) or isinstance(anchor_raw, ChainError):
                found.append(None)
                continue
            anchor_types = _RECORD_TYPES if q.batch is None else _BATCH_TYPES
            try:
                status, successor, reason = abi_decode(_STATUS_TYPES, _bytes(status_raw))
                lender = abi_decode(anchor_types, _bytes(anchor_raw))[0]
            except (DecodingError, ValueError):  # no registry code there (or not ours)
                found.append(None)
                continue
            found.append(
                Snapshot(
                    head=head,
                    status=int(status),
                    successor=bytes(successor),
                    reason=int(reason),
                    anchored_by=None if int(lender, 16) == 0 else to_checksum_address(lender),
                    anchor_block_hash=_bytes(block["hash"]) if isinstance(block, dict) else None,
                )
            )
        return found

    def _snapshot_one_by_one(self, q: SnapshotQuery) -> Snapshot:
        status, successor, reason = self.status(q.agreement_id)
        lender = (
            self.record_lender(q.agreement_id) if q.batch is None else self.batch_lender(*q.batch)
        )
        block = self.block(q.anchor_block)
        return Snapshot(
            head=self.head(),
            status=status,
            successor=successor,
            reason=reason,
            anchored_by=lender,
            anchor_block_hash=block.hash if block else None,
        )

    def _batch(self, requests: list[tuple[str, list[Any]]]) -> list[Any]:
        """Send `requests` as one JSON-RPC batch: one round trip; any error raises."""
        answers = self.rpc.send(requests)
        errors = [a for a in answers if isinstance(a, ChainError)]
        if errors:
            raise ChainError(f"the node answered an error: {errors[0]}")
        return answers

    def _has_code(self) -> bool:
        return len(self._w3.eth.get_code(self.registry)) > 0
