"""Sign and send transactions from one signer (local key or remote) through the outbox."""

from __future__ import annotations

import ast
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, cast

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress, HexAddress, HexStr
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
)
from web3.types import Nonce, TxParams

try:  # eth-tester (the embedded chain) reports reverts with its own exception
    from eth_tester.exceptions import TransactionFailed
except ImportError:  # pragma: no cover - eth-tester is a dependency, but keep chain/ usable
    TransactionFailed = ContractLogicError

from loantrace.chain.errors import RevertDecoder
from loantrace.chain.node import TRANSPORT_ERRORS
from loantrace.chain.signers import LocalSigner, Signer
from loantrace.domain.errors import ChainError, Conflict, LoantraceError, Pending
from loantrace.domain.hexcodec import to_hex
from loantrace.outbox import MemoryOutbox, Outbox, OutboxTx, TxStatus

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


# What nodes answer when a transaction they are given is already in hand or already mined:
# the transaction is not lost, its receipt will tell.
_HARMLESS_BROADCAST_ERRORS = ("already known", "nonce too low", "known transaction")


class Transactor:
    """Send contract calls from one account through the outbox: durable before broadcast.

    The nonce comes from the outbox under the key's lock, so every process sharing the key
    and the database agrees on it. A call with an `intent` is sent once: a repeat (a client
    retry, a concurrent duplicate) adopts the transaction already recorded for it, pending or
    mined, and the same intent with different call data is a conflict. `use_intents=False`
    sends every call as given (contract tests that need the contract's own answer to a
    repeat).
    """

    def __init__(
        self,
        w3: Web3,
        signer: Signer | LocalAccount,
        decoder: RevertDecoder,
        *,
        outbox: Outbox | None = None,
        poll_latency: float = 0.01,
        receipt_timeout: float = 120.0,
        use_intents: bool = True,
    ) -> None:
        self._w3 = w3
        self._use_intents = use_intents
        self.signer: Signer = LocalSigner(signer) if isinstance(signer, LocalAccount) else signer
        self._decoder = decoder
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self._poll_latency = poll_latency
        self._receipt_timeout = receipt_timeout
        self._chain_id = int(w3.eth.chain_id)
        self.guard: Callable[[], None] | None = None  # raises when the node is another chain

    @property
    def address(self) -> str:
        """Return the sending account's address."""
        return self.signer.address

    def preflight(self, call: ContractFunction) -> None:
        """Simulate `call` from our account; raise the mapped domain error if it would revert."""
        try:
            call.call({"from": self.address})
        except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
            raise self._map(exc) from exc

    def send(
        self, call: ContractFunction | ContractConstructor, *, intent: str | None = None
    ) -> TxResult:
        """Record, sign and broadcast `call` (or adopt its intent's transaction); await it.

        Raises `Pending` when the transaction is recorded but not mined within the receipt
        timeout (or the node cannot take it now): it is not lost, the sender resends it.
        """
        if self.guard is not None:
            self.guard()
        to, data = _target(call)
        with self.outbox.lock(self._chain_id, self.address):
            use = intent is not None and self._use_intents
            tx = self._adoptable(intent, data) if use and intent is not None else None
            if tx is None:
                tx = self._sign_and_record(call, to, data, intent)
                self._broadcast(tx)
        return self.await_receipt(tx)

    def await_receipt_now(self, tx: OutboxTx) -> TxResult:
        """Settle `tx` from its receipt if it is mined; raise `Pending` at once if not."""
        return self.await_receipt(tx, timeout=0.0)

    def await_receipt(self, tx: OutboxTx, *, timeout: float | None = None) -> TxResult:
        """Wait for `tx`'s receipt; record the outcome; map a revert to the domain error."""
        tx_hash = HexBytes(tx.tx_hash)
        try:
            if timeout == 0.0:
                receipt = self._receipt(tx.tx_hash)
                if receipt is None:
                    raise TimeExhausted
            else:
                receipt = self._w3.eth.wait_for_transaction_receipt(
                    tx_hash,
                    timeout=self._receipt_timeout if timeout is None else timeout,
                    poll_latency=self._poll_latency,
                )
        except TimeExhausted:
            raise Pending(
                f"transaction {tx.tx_hash} is recorded and broadcast but not mined yet",
                tx.tx_hash,
            ) from None
        block_number = int(receipt["blockNumber"])
        if not self._settle(tx, receipt):
            raise self._replay_revert(tx, block_number)
        block = self._w3.eth.get_block(block_number)
        return TxResult(
            tx_hash=tx.tx_hash,
            block_number=block_number,
            block_hash=to_hex(bytes(receipt["blockHash"])),
            block_timestamp=int(block["timestamp"]),
            gas_used=int(receipt["gasUsed"]),
            logs=tuple(receipt["logs"]),
        )

    def resend_pending(self, *, stuck_after: float | None = None) -> int:
        """Re-broadcast, byte for byte, every pending transaction the node no longer has.

        Settles the ones already mined and those whose nonce another transaction took. With
        `stuck_after` (seconds), a transaction pending longer than that is replaced at the
        same nonce with both fee fields raised by 12.5 % (what nodes require of a
        replacement). Returns how many were broadcast. Run by the keeper round and at start.
        """
        with self.outbox.lock(self._chain_id, self.address):
            return self._heal(stuck_after=stuck_after)

    def deploy(self, artifact: dict[str, Any], *args: Any) -> str:
        """Deploy a compiled contract with constructor `args`; return its address."""
        factory = self._w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        result = self.send(factory.constructor(*args))
        receipt = self._w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
        if receipt["contractAddress"] is None:
            raise ChainError("deployment produced no contract address")
        return str(receipt["contractAddress"])

    # internals ------------------------------------------------------------------------------

    def _adoptable(self, intent: str, data: bytes) -> OutboxTx | None:
        existing = self.outbox.by_intent(self._chain_id, self.address, intent)
        if existing is None or existing.status is TxStatus.FAILED:
            return None  # never sent, or reverted: a retry sends afresh
        if existing.data != data:
            raise Conflict(f"{intent} was already sent as another transaction ({existing.tx_hash})")
        log.info("adopting %s for %s", existing.tx_hash, intent)
        return existing

    def _sign_and_record(
        self,
        call: ContractFunction | ContractConstructor,
        to: str | None,
        data: bytes,
        intent: str | None,
    ) -> OutboxTx:
        chain_nonce = self._chain_nonce()
        nonce = self.outbox.next_nonce(self._chain_id, self.address, chain_nonce)
        if chain_nonce < nonce:  # the node lost some of ours: give them back first
            self._heal(chain_nonce)
            nonce = self.outbox.next_nonce(self._chain_id, self.address, self._chain_nonce())
        try:
            params: TxParams = {
                "from": self.address,
                "nonce": Nonce(nonce),
                "chainId": self._chain_id,
            }
            built = call.build_transaction(params)
        except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
            raise self._map(exc) from exc
        built_tx = {k: v for k, v in cast(dict[str, Any], built).items() if k != "from"}
        signed = self.signer.sign_transaction(built_tx)
        tx = OutboxTx(
            chain_id=self._chain_id,
            sender=self.address,
            nonce=nonce,
            tx_hash=to_hex(signed.tx_hash),
            raw=signed.raw,
            to=to,
            data=data,
            intent=intent,
            max_fee_per_gas=_int_or_none(built.get("maxFeePerGas")),
            max_priority_fee_per_gas=_int_or_none(built.get("maxPriorityFeePerGas")),
            gas=_int_or_none(built.get("gas")),
        )
        self.outbox.record(tx)  # durable before it leaves the process
        return tx

    def _broadcast(self, tx: OutboxTx) -> None:
        try:
            self._w3.eth.send_raw_transaction(tx.raw)
        except TRANSPORT_ERRORS as exc:
            raise Pending(
                f"transaction {tx.tx_hash} is recorded; the node cannot take it now "
                f"({type(exc).__name__}), it will be resent",
                tx.tx_hash,
            ) from None
        except Exception as exc:
            if any(text in str(exc).lower() for text in _HARMLESS_BROADCAST_ERRORS):
                return
            # The node refused it outright (funds, gas, a malformed field): it never entered
            # the chain, so its nonce is free again for the next transaction.
            self.outbox.mark(tx.tx_hash, TxStatus.REPLACED)
            raise ChainError(f"the node refused transaction {tx.tx_hash}: {exc}") from exc

    def _heal(self, chain_nonce: int | None = None, *, stuck_after: float | None = None) -> int:
        chain_nonce = self._chain_nonce() if chain_nonce is None else chain_nonce
        mined_nonce = int(
            self._w3.eth.get_transaction_count(
                ChecksumAddress(HexAddress(HexStr(self.address))), "latest"
            )
        )
        # Recorded as mined, yet the chain has not used their nonces: a reorg or a node
        # restored from older state dropped them. They were accepted: send them again.
        for tx in self.outbox.mined_from(self._chain_id, self.address, mined_nonce):
            log.warning("transaction %s (nonce %s) is no longer on chain", tx.tx_hash, tx.nonce)
            self.outbox.mark(tx.tx_hash, TxStatus.PENDING)
        resent = 0
        pending = self.outbox.pending(self._chain_id, self.address)
        newest = {tx.nonce: tx.tx_hash for tx in sorted(pending, key=lambda t: t.created_at or 0)}
        for tx in pending:
            receipt = self._receipt(tx.tx_hash)
            if receipt is not None:
                self._settle(tx, receipt)
            elif tx.nonce < mined_nonce:
                self._settle_nonce(tx.nonce)  # another transaction took the nonce
            elif newest[tx.nonce] != tx.tx_hash:
                continue  # a replacement of it is pending: only one of them can be mined
            elif _stuck(tx, stuck_after):
                try:
                    self._broadcast(self._replace(tx))
                except Pending:
                    break
                except ChainError:
                    log.exception("the node refused the replacement of %s", tx.tx_hash)
                    continue
                resent += 1
            elif tx.nonce >= chain_nonce:  # the node does not have it (any more): resend
                try:
                    self._broadcast(tx)
                except Pending:
                    break  # the node is down: the next pass resends
                except ChainError:
                    log.exception("the node refused %s; its nonce is free again", tx.tx_hash)
                    continue
                resent += 1
        return resent

    def _settle_nonce(self, nonce: int) -> None:
        """A used nonce: the recorded transaction that was mined is settled, the rest replaced."""
        for tx in self.outbox.by_nonce(self._chain_id, self.address, nonce):
            receipt = self._receipt(tx.tx_hash)
            if receipt is None:
                self.outbox.mark(tx.tx_hash, TxStatus.REPLACED)
            else:
                self._settle(tx, receipt)

    def _settle(self, tx: OutboxTx, receipt: Any) -> bool:
        """Record the outcome of a mined transaction; return whether it succeeded."""
        succeeded = bool(receipt["status"] == 1)
        status = TxStatus.MINED if succeeded else TxStatus.FAILED
        self.outbox.mark(tx.tx_hash, status, int(receipt["blockNumber"]))
        return succeeded

    def _replace(self, tx: OutboxTx) -> OutboxTx:
        """Sign `tx` again at its nonce with both fee fields raised 12.5 %; record it."""
        if tx.max_fee_per_gas is None or tx.max_priority_fee_per_gas is None:
            raise ChainError(f"{tx.tx_hash} has no EIP-1559 fees to raise")
        max_fee = _bumped(tx.max_fee_per_gas)
        tip = _bumped(tx.max_priority_fee_per_gas)
        params: dict[str, Any] = {
            "chainId": self._chain_id,
            "nonce": tx.nonce,
            "to": tx.to,
            "data": HexBytes(tx.data),
            "value": 0,
            "gas": tx.gas,
            "maxFeePerGas": max_fee,
            "maxPriorityFeePerGas": tip,
            "type": 2,
        }
        signed = self.signer.sign_transaction(params)
        replacement = replace(
            tx,
            tx_hash=to_hex(signed.tx_hash),
            raw=signed.raw,
            status=TxStatus.PENDING,
            max_fee_per_gas=max_fee,
            max_priority_fee_per_gas=tip,
            created_at=None,
        )
        self.outbox.record(replacement)  # durable before broadcast, as always
        log.warning("replaced stuck %s by %s (fees +12.5%%)", tx.tx_hash, replacement.tx_hash)
        return replacement

    def _receipt(self, tx_hash: str) -> Any | None:
        try:
            return self._w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _chain_nonce(self) -> int:
        return int(
            self._w3.eth.get_transaction_count(
                ChecksumAddress(HexAddress(HexStr(self.address))), "pending"
            )
        )

    def _replay_revert(self, tx: OutboxTx, block_number: int) -> LoantraceError:
        """Re-run a reverted transaction at its block to name the contract's error."""
        try:
            self._w3.eth.call(
                {"from": self.address, "to": tx.to, "data": HexBytes(tx.data)},  # type: ignore[typeddict-item]
                block_number - 1,
            )
        except (ContractCustomError, ContractLogicError, TransactionFailed) as exc:
            return self._map(exc)
        except Exception:  # noqa: S110 - fall through to the generic error
            pass
        return ChainError(f"transaction {tx.tx_hash} reverted")

    def _map(self, exc: Exception) -> LoantraceError:
        data = revert_data(exc)
        if data is not None:
            return self._decoder.to_domain(data)
        return ChainError(f"the contract rejected the call: {exc}")


def call_intent(call: ContractFunction) -> str:
    """Name a write by its recipient and calldata: the very same call is sent once."""
    to, data = _target(call)
    return f"{to}:call:{to_hex(keccak(data))}"


def _target(call: ContractFunction | ContractConstructor) -> tuple[str | None, bytes]:
    """Return the recipient and calldata of `call` (None for a deployment)."""
    if isinstance(call, ContractConstructor):
        return None, bytes(HexBytes(call.data_in_transaction))
    return str(call.address), bytes(HexBytes(call._encode_transaction_data()))


def _bumped(fee: int) -> int:
    """Raise a fee by 12.5 %, rounding up, and by at least one wei."""
    return max(fee + 1, -(-fee * 9 // 8))


def _stuck(tx: OutboxTx, stuck_after: float | None) -> bool:
    if stuck_after is None or tx.created_at is None or tx.max_fee_per_gas is None:
        return False
    if tx.max_priority_fee_per_gas is None or tx.gas is None:
        return False
    return time.time() - tx.created_at > stuck_after


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int) else None


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
