"""Where an accepted write stands: the outbox record of its transaction and its receipt."""

from __future__ import annotations

from dataclasses import dataclass

from loantrace.chain.transactor import Transactor
from loantrace.domain.errors import NotFound, Pending
from loantrace.domain.hexcodec import to_hex
from loantrace.outbox import TxStatus


@dataclass(frozen=True)
class TransactionStatus:
    """A recorded transaction: pending, mined, failed or replaced."""

    tx_hash: str
    status: str
    nonce: int
    block_number: int | None
    error: str | None = None


def transaction_status(transactor: Transactor, tx_hash: bytes) -> TransactionStatus:
    """Return the status of a transaction this service recorded; settle it if it is mined."""
    key = to_hex(tx_hash)
    tx = transactor.outbox.by_hash(key)
    if tx is None:
        raise NotFound(f"no transaction {key} was sent by this service")
    error = None
    if tx.status is TxStatus.PENDING:
        try:
            transactor.await_receipt_now(tx)
        except Pending:
            pass
        except Exception as exc:  # a revert: recorded as failed, reported here
            error = str(exc)
        tx = transactor.outbox.by_hash(key) or tx
    return TransactionStatus(tx.tx_hash, tx.status.value, tx.nonce, tx.block_number, error)
