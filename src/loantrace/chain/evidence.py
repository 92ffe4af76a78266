"""Read-only evidence from a node: blocks, receipts, the registry's events and views.

Everything here is a read (`eth_call`, `eth_getBlockByNumber`, `eth_getTransactionReceipt`):
no account, no key, no transaction, no file. It is what `verify-certificate` trusts: the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode as abi_decode
from web3 import Web3
from web3.exceptions import TransactionNotFound

from loantrace.chain.artifacts import load_artifact
from loantrace.chain.registry import ARTIFACT, matches_build
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

    def snapshot(
        self, agreement_id: bytes, *, anchor_block: int, batch: tuple[str, bytes] | None
    ) -> Snapshot:
        """Read head, status, record (single) or batch (`(lender, root)`), and the anchor
        block's hash, in one JSON-RPC batch: one round trip, however many agreements exist."""
        if not hasattr(self._w3.provider, "make_batch_request"):  # the in-process test chain
            return self._snapshot_one_by_one(agreement_id, anchor_block, batch)
        status_call = self._contract.encode_abi("statusOf", args=[agreement_id])
        if batch is None:
            anchor_call = self._contract.encode_abi("recordOf", args=[agreement_id])
            anchor_type = "(address,uint48,uint40,uint8)"
        else:
            anchor_call = self._contract.encode_abi("batchOf", args=[batch[0], batch[1]])
            anchor_type = "(address,uint48,uint40)"
        requests: list[tuple[str, list[Any]]] = [
            ("eth_blockNumber", []),
            ("eth_call", [{"to": self.registry, "data": status_call}, "latest"]),
            ("eth_call", [{"to": self.registry, "data": anchor_call}, "latest"]),
            ("eth_getBlockByNumber", [hex(anchor_block), False]),
        ]
        head, status_raw, anchor_raw, block = self._batch(requests)
        status, successor, reason = abi_decode(["uint8", "bytes32", "uint8"], _bytes(status_raw))
        ((lender, *_rest),) = abi_decode([anchor_type], _bytes(anchor_raw))
        return Snapshot(
            head=head if isinstance(head, int) else int(head, 16),
            status=int(status),
            successor=bytes(successor),
            reason=int(reason),
            anchored_by=None if int(lender, 16) == 0 else Web3.to_checksum_address(lender),
            anchor_block_hash=_bytes(block["hash"]) if block else None,
        )

    def _snapshot_one_by_one(
        self, agreement_id: bytes, anchor_block: int, batch: tuple[str, bytes] | None
    ) -> Snapshot:
        status, successor, reason = self.status(agreement_id)
        lender = self.record_lender(agreement_id) if batch is None else self.batch_lender(*batch)
        block = self.block(anchor_block)
        return Snapshot(
            head=self.head(),
            status=status,
            successor=successor,
            reason=reason,
            anchored_by=lender,
            anchor_block_hash=block.hash if block else None,
        )

    def _batch(self, requests: list[tuple[str, list[Any]]]) -> list[Any]:
        """Send `requests` as one JSON-RPC batch: one round trip."""
        provider: Any = self._w3.provider
        answers = provider.make_batch_request(requests)
        if not isinstance(answers, list):
            raise ChainError(f"the node refused a batch: {answers.get('error')}")
        by_id = sorted(answers, key=lambda a: int(a["id"]))
        errors = [a["error"] for a in by_id if "error" in a]
        if errors:
            raise ChainError(f"the node answered an error: {errors[0]}")
        return [a["result"] for a in by_id]

    def _has_code(self) -> bool:
        return len(self._w3.eth.get_code(self.registry)) > 0
