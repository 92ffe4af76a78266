"""Stop at once when the node is no longer the chain this service is bound to.

A node restarted without its state (or swapped for another) still answers, at block 0,
with the same chain id and contract addresses: reads would say `not_found` and writes would
anchor on a chain nobody else knows. The guard compares the node's genesis block and the
code at each contract address with what the service started with; `/readyz` and every send
check it (at most once per `every` seconds, so it costs nothing under load).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from eth_utils.crypto import keccak
from web3 import Web3

from loantrace.chain.node import TRANSPORT_ERRORS
from loantrace.domain.errors import ChainError, ChainMismatch
from loantrace.domain.hexcodec import to_hex


class ChainGuard:
    """Remembers the genesis and the contracts' code; raises ChainMismatch when they change."""

    def __init__(
        self, w3: Web3, genesis_hash: str, contracts: Mapping[str, str], *, every: float = 2.0
    ) -> None:
        self._w3 = w3
        self._genesis = genesis_hash
        self._every = every
        self._code = {name: self._code_hash(address) for name, address in contracts.items()}
        self._addresses = dict(contracts)
        self._checked_at = time.monotonic()
        self._lock = threading.Lock()
        for name, digest in self._code.items():
            if digest == keccak(b""):
                raise ChainMismatch(f"no {name} contract at {contracts[name]} on this node")

    def check(self, *, force: bool = False) -> None:
        """Raise ChainMismatch unless the node still holds our genesis and contracts."""
        with self._lock:
            if not force and time.monotonic() - self._checked_at < self._every:
                return
            try:
                genesis = to_hex(bytes(self._w3.eth.get_block(0)["hash"]))
            except TRANSPORT_ERRORS as exc:
                raise ChainError(f"the node is unreachable: {type(exc).__name__}") from None
            if genesis != self._genesis:
                raise ChainMismatch(
                    f"the node's genesis is now {genesis}, not {self._genesis}: it was reset "
                    "or replaced; nothing is sent until the bound chain is back"
                )
            for name, expected in self._code.items():
                if self._code_hash(self._addresses[name]) != expected:
                    raise ChainMismatch(
                        f"the code at the {name} address {self._addresses[name]} changed or "
                        "vanished; nothing is sent until the bound chain is back"
                    )
            self._checked_at = time.monotonic()

    def _code_hash(self, address: str) -> bytes:
        return keccak(bytes(self._w3.eth.get_code(Web3.to_checksum_address(address))))
