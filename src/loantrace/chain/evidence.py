"""Read-only evidence from a node: blocks, receipts, the registry's events and views.

Everything here is a read (`eth_call`, `eth_getBlockByNumber`, `eth_getTransactionReceipt`):
no account, no key, no transaction, no file. It is what `verify-certificate` trusts: the node.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3 import Web3
from web3.exceptions import TransactionNotFound

from loantrace.chain.artifacts import load_artifact
from loantrace.chain.registry import ARTIFACT, matches_build
from loantrace.domain.hexcodec import to_hex


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

    def _has_code(self) -> bool:
        return len(self._w3.eth.get_code(self.registry)) > 0
