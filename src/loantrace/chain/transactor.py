"""Sign and send transactions from a local eth-account key with explicit nonces."""

from __future__ import annotations

import ast
import logging
import threading
from dataclasses import dataclass
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted
from web3.types import Nonce, TxParams

try:  # eth-tester (the embedded chain) reports reverts with its own exception
    from eth_tester.exceptions import TransactionFailed
except ImportError:  # pragma: no cover - eth-tester is a dependency, but keep chain/ usable
    TransactionFailed = ContractLogicError

from loantrace.chain.errors import RevertDecoder
from loantrace.domain.errors import ChainError, LoantraceError
from loantrace.domain.hexcodec import to_hex

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TxResult:
    """A mined, successful transaction."""

    tx_hash: str
    block_number: int
    block_hash: str
    block_timestamp: int
    gas_used: int
    logs: tuple[Any, ...]


class Transactor:
    """Send contract calls from one account, keeping its nonce locally."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: RevertDecoder,
        *,
        poll_latency: float = 0.01,
        receipt_timeout: float = 120.0,
    ) -> None:
        self._w3 = w3
        self.account = account
        self._decoder = decoder
        self._poll_latency = poll_latency
        self._receipt_timeout = receipt_timeout
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._chain_id = int(w3.eth.chain_id)

    @property
    def address(self) -> str:
        """Return the sending account's address."""
        return str(self.account.address)

    def preflight(self, call: ContractFunction) -> None:
        """Simulate `call` from our account; raise the mapped domain error if it would revert."""
        try:
            call.call({"from": self.address})
        except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
            raise self._map(exc) from exc

    def send(self, call: ContractFunction | ContractConstructor) -> TxResult:
        """Estimate, sign and send `call`; wait for its receipt; map reverts to domain errors."""
        with self._lock:
            nonce = self._next_nonce()
            try:
                params: TxParams = {
                    "from": self.account.address,
                    "nonce": Nonce(nonce),
                    "chainId": self._chain_id,
                }
                tx = call.build_transaction(params)
            except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
                raise self._map(exc) from exc
            signed = self.account.sign_transaction(cast(dict[str, Any], tx))
            try:
                tx_hash = self._w3.eth.send_raw_transaction(signed.raw_transaction)
            except Exception:
                self._nonce = None  # resynchronise from the node next time
                raise
            self._nonce = nonce + 1
        try:
            receipt = self._w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self._receipt_timeout, poll_latency=self._poll_latency
            )
        except TimeExhausted as exc:
            raise ChainError(f"transaction {to_hex(bytes(tx_hash))} not mined in time") from exc
        if receipt["status"] != 1:
            raise ChainError(f"transaction {to_hex(bytes(tx_hash))} reverted")
        block = self._w3.eth.get_block(receipt["blockNumber"])
        return TxResult(
            tx_hash=to_hex(bytes(tx_hash)),
            block_number=int(receipt["blockNumber"]),
            block_hash=to_hex(bytes(receipt["blockHash"])),
            block_timestamp=int(block["timestamp"]),
            gas_used=int(receipt["gasUsed"]),
            logs=tuple(receipt["logs"]),
        )

    def deploy(self, artifact: dict[str, Any], *args: Any) -> str:
        """Deploy a compiled contract with constructor `args`; return its address."""
        factory = self._w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        result = self.send(factory.constructor(*args))
        receipt = self._w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
        if receipt["contractAddress"] is None:
            raise ChainError("deployment produced no contract address")
        return str(receipt["contractAddress"])

    def _next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = int(self._w3.eth.get_transaction_count(self.account.address, "pending"))
        return self._nonce

    def _map(self, exc: Exception) -> LoantraceError:
        data = revert_data(exc)
        if data is not None:
            return self._decoder.to_domain(data)
        return ChainError(f"the contract rejected the call: {exc}")


def revert_data(exc: Exception) -> bytes | None:
    """Extract the raw revert data from a web3 or eth-tester revert exception."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    # eth-tester formats undecodable revert data as "execution reverted: b'...'".
    message = str(exc.args[0]) if exc.args else ""
    prefix = "execution reverted: "
    if message.startswith(prefix + "b'") or message.startswith(prefix + 'b"'):
        value = ast.literal_eval(message[len(prefix) :])
        if isinstance(value, bytes):
            return value
    return None
