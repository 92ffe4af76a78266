"""Use cases of the loan ledger: register a loan, record money movements, read a loan."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loantrace.chain.ledger import LedgerClient, LoanOnChain, ScheduledInstalment
from loantrace.chain.transactor import TxResult
from loantrace.domain.delinquency import (
    BUCKET_LABELS,
    InstalmentState,
    ReminderPolicy,
    instalment_states,
    loan_delinquency,
)
from loantrace.domain.errors import Conflict, InvalidInput, NotActive, NotFound
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.schedule import Instalment, Schedule, build_schedule
from loantrace.store.db import session_scope
from loantrace.store.models import AgreementRow, LoanRow, MovementRow

log = logging.getLogger(__name__)

MAX_AMOUNT = 2**53 - 1


@dataclass(frozen=True)
class Movement:
    """A money movement to record: who, how much, which account, which bank reference."""

    amount: int
    account: bytes
    external_ref: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidInput("amount must be an integer number of minor units")
        if not 1 <= self.amount <= MAX_AMOUNT:
            raise InvalidInput(f"amount must be between 1 and {MAX_AMOUNT} minor units")
        if not 1 <= len(self.external_ref) <= 128 or not self.external_ref.isprintable():
            raise InvalidInput("external_ref must be 1..128 printable characters")

    @property
    def reference_hash(self) -> bytes:
        """Return what goes on chain for the reference: its SHA-256, never the bank's text."""
        return hashlib.sha256(self.external_ref.encode()).digest()


@dataclass(frozen=True)
class LoanView:
    """A loan as the chain holds it, with each instalment's state now."""

    row: LoanRow
    on_chain: LoanOnChain
    schedule: Schedule
    states: list[InstalmentState]
    outstanding: int
    days_past_due: int
    bucket: int
    as_of: int
    movements: list[MovementRow]

    @property
    def bucket_label(self) -> str:
        """Return the delinquency bucket as text ("current", "1-30", ...)."""
        return BUCKET_LABELS[self.bucket]


def schedule_from_json(raw: str) -> Schedule:
    """Rebuild a stored schedule."""
    items = json.loads(raw)
    return Schedule(
        tuple(
            Instalment(
                index=i["index"],
                due_date=date.fromisoformat(i["due_date"]),
                due_at=i["due_at"],
                principal=i["principal"],
                interest=i["interest"],
            )
            for i in items
        )
    )


def schedule_to_json(schedule: Schedule) -> str:
    """Serialise a schedule for storage."""
    return json.dumps(
        [
            {
                "index": i.index,
                "due_date": i.due_date.isoformat(),
                "due_at": i.due_at,
                "principal": i.principal,
                "interest": i.interest,
            }
            for i in schedule.instalments
        ]
    )


class LoanService:
    """Register loans and record their money movements on the LoanLedger."""

    def __init__(
        self, *, ledger: LedgerClient, engine: Engine, policy: ReminderPolicy, lender: str
    ) -> None:
        self._ledger = ledger
        self._engine = engine
        self._policy = policy
        self._lender = lender

    @property
    def ledger(self) -> LedgerClient:
        """Return the ledger client."""
        return self._ledger

    def register(self, digest: bytes) -> LoanView:
        """Register the loan of a singly notarised agreement, with the schedule of its terms."""
        key = to_hex(digest)
        with Session(self._engine) as session:
            agreement = session.get(AgreementRow, key)
            if agreement is None:
                raise NotFound(f"no agreement {key} is notarised here")
            if session.get(LoanRow, key) is not None:
                raise Conflict(f"a loan is already registered for {key}")
        if agreement.status != "notarised":
            raise NotActive(f"agreement {key} is {agreement.status}; register its amendment")
        if agreement.mode != "single":
            raise InvalidInput("only singly notarised agreements can back a loan for now")
        terms = json.loads(agreement.terms_json)
        schedule = build_schedule(
            principal=terms["principal"],
            apr_bps=terms["apr_bps"],
            instalments=terms["instalments"],
            method=terms["repayment_method"],
            first_due_date=date.fromisoformat(terms["first_due_date"]),
        )
        empty = [i.index for i in schedule.instalments if i.amount == 0]
        if empty:
            raise InvalidInput(
                f"these terms give instalments {empty} nothing to pay (tiny principal or a "
                "zero-rate bullet); the ledger needs every instalment to carry an amount"
            )
        now = self._now()
        if schedule.instalments[0].due_at <= now:
            raise InvalidInput(
                f"the schedule is past: the first instalment was due on "
                f"{schedule.instalments[0].due_date.isoformat()}, before the chain's current time"
            )
        result = self._ledger.register_loan(
            loan_id=digest,
            borrower_commitment=bytes.fromhex(agreement.borrower_commitment[2:]),
            principal=terms["principal"],
            apr_bps=terms["apr_bps"],
            currency=terms["currency"],
            purpose=terms["purpose"],
            schedule=[
                ScheduledInstalment(i.due_at, i.principal, i.interest) for i in schedule.instalments
            ],
        )
        assert result is not None
        row = LoanRow(
            loan_id=key,
            lender=agreement.lender,
            borrower_commitment=agreement.borrower_commitment,
            principal=terms["principal"],
            currency=terms["currency"],
            apr_bps=terms["apr_bps"],
            purpose=terms["purpose"],
            repayment_method=terms["repayment_method"],
            schedule_json=schedule_to_json(schedule),
            tx_hash=result.tx_hash,
            block_number=result.block_number,
        )
        with session_scope(self._engine) as session:
            session.add(row)
        log.info("registered loan %s gas=%s", key, result.gas_used)
        return self.view(digest)

    def disburse(self, loan_id: bytes, movement: Movement) -> tuple[MovementRow, bool]:
        """Record a disbursement; return it and whether it is new (False: a retried call)."""
        return self._record(loan_id, movement, "disbursement")

    def repay(self, loan_id: bytes, movement: Movement) -> tuple[MovementRow, bool]:
        """Record a repayment; return it and whether it is new (False: a retried call)."""
        return self._record(loan_id, movement, "repayment")

    def view(self, loan_id: bytes) -> LoanView:
        """Read a loan from the chain and compute each instalment's state at chain time."""
        key = to_hex(loan_id)
        with Session(self._engine) as session:
            row = session.get(LoanRow, key)
            if row is None:
                raise NotFound(f"no loan {key} is registered here")
            movements = list(
                session.exec(
                    select(MovementRow)
                    .where(MovementRow.loan_id == key)
                    .order_by(col(MovementRow.id))
                ).all()
            )
        on_chain = self._ledger.loan_of(loan_id)
        if on_chain is None:
            raise NotFound(f"loan {key} is not on chain")
        schedule = schedule_from_json(row.schedule_json)
        now = self._now()
        states = instalment_states(schedule, on_chain.repaid, now, self._policy)
        outstanding, days, bucket = loan_delinquency(schedule, on_chain.repaid, now, self._policy)
        return LoanView(row, on_chain, schedule, states, outstanding, days, bucket, now, movements)

    def _record(self, loan_id: bytes, movement: Movement, kind: str) -> tuple[MovementRow, bool]:
        key = to_hex(loan_id)
        with Session(self._engine) as session:
            if session.get(LoanRow, key) is None:
                raise NotFound(f"no loan {key} is registered here")
            existing = session.exec(
                select(MovementRow).where(
                    MovementRow.lender == self._lender,
                    MovementRow.external_ref == movement.external_ref,
                )
            ).first()
        if existing is not None:
            same = (existing.loan_id, existing.kind, existing.amount) == (
                key,
                kind,
                movement.amount,
            )
            if same:
                return existing, False  # a retried call: recorded once, never double-counted
            raise Conflict(f"external_ref {movement.external_ref!r} was used for another movement")
        args = (loan_id, movement.amount, movement.account, movement.reference_hash)
        if kind == "disbursement":
            result: TxResult = self._ledger.record_disbursement(*args)
        else:
            result = self._ledger.record_repayment(*args)
        row = MovementRow(
            loan_id=key,
            lender=self._lender,
            kind=kind,
            amount=movement.amount,
            account=to_hex(movement.account),
            external_ref=movement.external_ref,
            tx_hash=result.tx_hash,
            block_number=result.block_number,
            block_timestamp=result.block_timestamp,
        )
        with session_scope(self._engine) as session:
            session.add(row)
        log.info("%s on loan %s tx=%s gas=%s", kind, key, result.tx_hash, result.gas_used)
        return row, True

    def _now(self) -> int:
        return int(self._ledger.contract.w3.eth.get_block("latest")["timestamp"])


def iso(timestamp: int) -> str:
    """Return a unix timestamp as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
