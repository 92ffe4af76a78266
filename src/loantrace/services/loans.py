"""Use cases of the loan ledger: register a loan, record money movements, read a loan."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from loantrace.chain.ledger import LedgerClient
from loantrace.chain.transactor import TxResult
from loantrace.domain.agreement import Agreement
from loantrace.domain.cost import annual_cost_bps, loan_cash_flows
from loantrace.domain.delinquency import (
    BUCKET_LABELS,
    InstalmentState,
    ReminderPolicy,
    instalment_states,
    loan_delinquency,
)
from loantrace.domain.errors import Conflict, InvalidInput, NotActive, NotFound
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.schedule import Schedule
from loantrace.domain.terms import LoanTerms
from loantrace.ports.ledger import DuplicateRecord, LedgerUnitOfWork, LoanRequest, MovementRequest
from loantrace.services.disclosure import (
    Disclosure,
    cap_refusal,
    disclose,
    schedule_from_json,
    schedule_to_json,
)
from loantrace.services.indexer import Indexer
from loantrace.services.loan_index import (
    LOAN_EVENTS,
    IndexedLoan,
    MovementRecord,
    indexed_loan,
    movement_of,
)
from loantrace.services.receipts import MerkleEvidence, signed_of

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
    """A loan as the index holds it, with each instalment's state now and its real price."""

    loan: IndexedLoan
    states: list[InstalmentState]
    outstanding: int
    days_past_due: int
    bucket: int
    as_of: int
    signed_cost_bps: int | None
    actual_cost_bps: int | None

    @property
    def loan_id(self) -> str:
        """Return the loan id (0x hex)."""
        return self.loan.loan_id

    @property
    def schedule(self) -> Schedule:
        """Return the schedule the borrower signed."""
        return self.loan.schedule

    @property
    def bucket_label(self) -> str:
        """Return the delinquency bucket as text ("current", "1-30", ...)."""
        return BUCKET_LABELS[self.bucket]


class LoanService:
    """Register loans and record their money movements on the LoanLedger.

    Storage is reached only through a unit of work (`uow()` opens one transaction).
    """

    def __init__(
        self,
        *,
        ledger: LedgerClient,
        uow: Callable[[], LedgerUnitOfWork],
        policy: ReminderPolicy,
        lender: str,
        indexer: Indexer,
        index_on_read: bool,
    ) -> None:
        self._ledger = ledger
        self._uow = uow
        self._policy = policy
        self._lender = lender
        self._indexer = indexer
        self._index_on_read = index_on_read

    @property
    def ledger(self) -> LedgerClient:
        """Return the ledger client."""
        return self._ledger

    def register(self, digest: bytes) -> LoanView:
        """Register the loan of a notarised agreement with exactly the terms it was signed with.

        The schedule is the one the borrower signed; the rate cap in force when the agreement
        was notarised is checked here first (the contract checks it again), so a refusal
        explains which instalment is over the cap and sends nothing.
        """
        key = to_hex(digest)
        with self._uow() as uow:
            agreement = uow.agreements.get(key)
            if agreement is None:
                raise NotFound(f"no agreement {key} is notarised here")
            if agreement.agreement_id is None:
                raise NotActive(f"agreement {key} predates agreement ids; notarise it again")
            loan_key = agreement.agreement_id
            if uow.loans.get(loan_key) is not None:
                raise Conflict(f"a loan is already registered for {key}")
        if agreement.status != "notarised":
            raise NotActive(f"agreement {key} is {agreement.status}; register its amendment")
        terms = LoanTerms.from_json(json.loads(agreement.terms_json))
        schedule = terms.schedule()
        now = self._now()
        if schedule.instalments[0].due_at <= now:
            raise InvalidInput(
                f"the schedule is past: the first instalment was due on "
                f"{schedule.instalments[0].due_date.isoformat()}, before the chain's current time"
            )
        cap_bps, _lpr = self._ledger.rate_cap_at(agreement.block_timestamp)
        if terms.apr_bps > cap_bps:
            raise InvalidInput(
                f"the declared APR {terms.apr_bps} bps is above the rate cap of {cap_bps} bps "
                "in force when the agreement was notarised"
            )
        refusal = cap_refusal(schedule, terms.principal, cap_bps)
        if refusal is not None:
            raise InvalidInput(f"the ledger refuses this loan: {refusal}")
        signed = signed_of(agreement)
        if agreement.mode == "single":
            result = self._ledger.register_loan(signed.agreement, terms)
        else:
            evidence = MerkleEvidence.of_record(agreement)
            result = self._ledger.register_batched_loan(
                evidence.root, signed, evidence.proof, terms
            )
        assert result is not None
        loan = LoanRequest(
            loan_id=loan_key,
            digest=key,
            lender=agreement.lender,
            borrower_commitment=agreement.borrower_commitment,
            principal=terms.principal,
            currency=terms.currency,
            apr_bps=terms.apr_bps,
            rate_cap_bps=cap_bps,
            purpose=terms.purpose,
            repayment_method=terms.repayment_method,
            start_at=schedule.start_at,
            schedule_json=schedule_to_json(schedule),
            tx_hash=result.tx_hash,
            block_number=result.block_number,
        )
        with self._uow() as uow:
            uow.loans.add(loan)
        log.info("registered loan %s gas=%s", loan_key, result.gas_used)
        return self.view(bytes.fromhex(loan_key[2:]))

    def disclosure(self, terms: LoanTerms) -> Disclosure:
        """Return what `terms` cost beside the rate cap in force now."""
        return disclose(terms, self._ledger.rate_cap())

    def agreement_of(self, digest: bytes) -> Agreement:
        """Return the agreement notarised here under `digest`, as both parties signed it."""
        with self._uow() as uow:
            record = uow.agreements.get(to_hex(digest))
        if record is None:
            raise NotFound(f"no agreement {to_hex(digest)} is notarised here")
        return signed_of(record).agreement

    def loan_id_of(self, ref: bytes) -> bytes:
        """Return the loan id `ref` names: a local agreement digest's loan, else `ref` itself."""
        try:
            return bytes.fromhex(self.resolve(ref)[2:])
        except NotFound:
            return ref

    def lender_of(self, ref: bytes) -> str:
        """Return the lender of a loan registered here (by loan id or agreement digest)."""
        key = self.resolve(ref)
        with self._uow() as uow:
            loan = uow.loans.get(key)
        if loan is None:
            raise NotFound(f"no loan {key} is registered here")
        return loan.lender

    def resolve(self, ref: bytes) -> str:
        """Return the loan id of `ref`: a loan id, or the digest of its agreement."""
        key = to_hex(ref)
        with self._uow() as uow:
            if uow.loans.get(key) is not None:
                return key
            loan = uow.loans.by_digest(key)
        if loan is None:
            raise NotFound(f"no loan {key} is registered here")
        return loan.loan_id

    def disburse(self, loan_id: bytes, movement: Movement) -> tuple[MovementRecord, bool]:
        """Record a disbursement; return it and whether it is new (False: a retried call)."""
        return self._record(loan_id, movement, "disbursement")

    def repay(self, loan_id: bytes, movement: Movement) -> tuple[MovementRecord, bool]:
        """Record a repayment; return it and whether it is new (False: a retried call)."""
        return self._record(loan_id, movement, "repayment")

    def view(self, loan_ref: bytes) -> LoanView:
        """Read a loan from the index and compute each instalment's state at chain time."""
        key = self.resolve(loan_ref)
        if self._index_on_read:
            self._indexer.run_once()
        with self._uow() as uow:
            request = uow.loans.get(key)
            if request is None:
                raise NotFound(f"no loan {key} is registered here")
            events = uow.events.of_loan(self._indexer.chain_id, key, LOAN_EVENTS)
            records = uow.movements.of_loan(key)
        requested = schedule_from_json(request.schedule_json, request.start_at)
        loan = indexed_loan(request, events, records, requested)
        schedule, now = loan.schedule, self._now()
        states = instalment_states(schedule, loan.repaid, now, self._policy)
        outstanding, days, bucket = loan_delinquency(schedule, loan.repaid, now, self._policy)
        signed_cost = annual_cost_bps(loan_cash_flows([(loan.start_at, loan.principal)], schedule))
        paid_out = [
            (m.block_timestamp, m.amount)
            for m in loan.movements
            if m.kind == "disbursement" and m.block_timestamp is not None
        ]
        actual_cost = annual_cost_bps(loan_cash_flows(paid_out, schedule)) if paid_out else None
        return LoanView(loan, states, outstanding, days, bucket, now, signed_cost, actual_cost)

    def _existing(self, movement: Movement) -> MovementRequest | None:
        with self._uow() as uow:
            return uow.movements.by_reference(self._lender, movement.external_ref)

    def _record(
        self, loan_ref: bytes, movement: Movement, kind: str
    ) -> tuple[MovementRecord, bool]:
        """Record a movement once: a retry, or a concurrent duplicate, gets the first record.

        The chain write goes through the outbox under the reference's intent, so a retry
        after a lost database write (or while the first transaction is pending) adopts the
        first transaction instead of sending another.
        """
        key = self.resolve(loan_ref)
        loan_id = bytes.fromhex(key[2:])
        existing = self._existing(movement)
        if existing is not None:
            same = (existing.loan_id, existing.kind, existing.amount) == (
                key,
                kind,
                movement.amount,
            )
            if same:
                return movement_of(existing), False  # a retry: recorded once, counted once
            raise Conflict(f"external_ref {movement.external_ref!r} was used for another movement")
        args = (loan_id, movement.amount, movement.account, movement.reference_hash)
        if kind == "disbursement":
            result: TxResult = self._ledger.record_disbursement(*args)
        else:
            result = self._ledger.record_repayment(*args)
        request = MovementRequest(
            id=0,  # assigned when stored
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
        try:
            with self._uow() as uow:
                stored = uow.movements.add(request)
        except DuplicateRecord:  # a concurrent duplicate recorded it first
            first = self._existing(movement)
            if first is None or first.tx_hash != request.tx_hash:
                raise
            return movement_of(first), False
        log.info("%s on loan %s tx=%s gas=%s", kind, key, result.tx_hash, result.gas_used)
        return movement_of(stored), True

    def _now(self) -> int:
        return int(self._ledger.contract.w3.eth.get_block("latest")["timestamp"])


def iso(timestamp: int) -> str:
    """Return a unix timestamp as an ISO 8601 UTC string."""
    return datetime.fromtimestamp(timestamp, UTC).isoformat()
