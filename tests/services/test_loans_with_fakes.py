"""The loan use cases over in-memory fakes of their storage port and of the ledger client."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from types import SimpleNamespace
from typing import cast

import pytest

from loantrace.chain.ledger import LedgerClient
from loantrace.chain.transactor import TxResult
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.agreement import Agreement
from loantrace.domain.delinquency import ReminderPolicy
from loantrace.domain.errors import Conflict
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.terms import LoanTerms
from loantrace.ports.ledger import AgreementRecord, DuplicateRecord, IndexedEvent, MovementRequest
from loantrace.services.indexer import Indexer
from loantrace.services.loans import LoanService, Movement
from tests.services.fakes import FakeLedgerStore

NOW = 1_800_000_000
CHAIN_ID = 31_337
LENDER = "0x" + "1d" * 20
ACCOUNT = b"\xac" * 32
DIGEST = "0x" + "d1" * 32
LOAN_ID = "0x" + "a1" * 32


class FakeLedger:
    """The chain side of the loan use cases: records every call, answers as if mined at once.

    A transaction hash is derived from the call, as the outbox adopts the transaction already
    sent for the same intent: the same call again is the same transaction.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.on_send: Callable[[TxResult], None] | None = None  # another request, meanwhile
        eth = SimpleNamespace(get_block=lambda _which: {"timestamp": NOW})
        self.contract = SimpleNamespace(w3=SimpleNamespace(eth=eth))

    def rate_cap_at(self, timestamp: int) -> tuple[int, int]:
        return 2_400, 345

    def register_loan(self, agreement: Agreement, terms: LoanTerms) -> TxResult:
        return self._send("register_loan", to_hex(agreement.digest))

    def record_disbursement(self, loan_id: bytes, amount: int, to: bytes, ref: bytes) -> TxResult:
        return self._send("record_disbursement", to_hex(loan_id), amount, to_hex(to), to_hex(ref))

    def record_repayment(self, loan_id: bytes, amount: int, frm: bytes, ref: bytes) -> TxResult:
        return self._send("record_repayment", to_hex(loan_id), amount, to_hex(frm), to_hex(ref))

    def sent(self, name: str) -> int:
        return sum(1 for call in self.calls if call[0] == name)

    def _send(self, *call: object) -> TxResult:
        self.calls.append(call)
        tx_hash = "0x" + hashlib.sha256(repr(call).encode()).hexdigest()
        result = TxResult(tx_hash, 100 + len(self.calls), "0x" + "00" * 32, NOW, 50_000, ())
        if self.on_send is not None:
            self.on_send(result)
        return result


class FakeIndexer:
    chain_id = CHAIN_ID

    def __init__(self) -> None:
        self.runs = 0

    def run_once(self) -> None:
        self.runs += 1


TERMS = terms_at(NOW, principal=120_000, instalments=3)


def _setup() -> tuple[FakeLedgerStore, FakeLedger, LoanService]:
    """A store holding one notarised agreement, and the loan service over it."""
    store, ledger = FakeLedgerStore(), FakeLedger()
    store.tables.agreements[DIGEST] = AgreementRecord(
        digest=DIGEST,
        agreement_id=LOAN_ID,
        lender=LENDER,
        borrower="0x" + "b0" * 20,
        borrower_commitment="0x" + "c0" * 32,
        terms_digest=to_hex(TERMS.digest()),
        terms_json=json.dumps(TERMS.to_json(), sort_keys=True),
        supersedes=None,
        lender_signature="0x" + "11" * 65,
        borrower_signature="0x" + "22" * 65,
        mode="single",
        status="notarised",
        tx_hash="0x" + "77" * 32,
        block_number=10,
        block_timestamp=NOW - 60,
    )
    service = LoanService(
        ledger=cast(LedgerClient, ledger),
        uow=store.uow,
        policy=ReminderPolicy(due_soon_days=3, grace_days=5, default_after_days=90),
        lender=LENDER,
        indexer=cast(Indexer, FakeIndexer()),
        index_on_read=True,
    )
    return store, ledger, service


def _registered() -> tuple[FakeLedgerStore, FakeLedger, LoanService, bytes]:
    store, ledger, service = _setup()
    view = service.register(bytes.fromhex(DIGEST[2:]))
    return store, ledger, service, bytes.fromhex(view.loan_id[2:])


def test_a_loan_is_registered_once_with_the_schedule_the_borrower_signed() -> None:
    store, ledger, service = _setup()
    view = service.register(bytes.fromhex(DIGEST[2:]))
    assert (view.loan_id, view.loan.status, view.loan.disbursed) == (LOAN_ID, "unconfirmed", 0)
    assert view.schedule == TERMS.schedule()
    assert store.tables.loans[LOAN_ID].rate_cap_bps == 2_400
    assert service.resolve(bytes.fromhex(DIGEST[2:])) == LOAN_ID  # the digest names the loan
    with pytest.raises(Conflict):
        service.register(bytes.fromhex(DIGEST[2:]))
    assert ledger.calls == [("register_loan", DIGEST)]  # the refused repeat sent nothing


def test_the_view_joins_the_bank_reference_to_the_indexed_disbursement() -> None:
    store, _ledger, service, loan_id = _registered()
    recorded, new = service.disburse(loan_id, Movement(120_000, ACCOUNT, "BANK-1"))
    assert new
    assert (recorded.external_ref, recorded.log_index) == ("BANK-1", None)  # not indexed yet

    def index(n: int, event: str, **args: object) -> None:
        tx = recorded.tx_hash if event == "LoanDisbursed" else "0x" + f"{n:064x}"
        store.add_event(CHAIN_ID, LOAN_ID, IndexedEvent(tx, n, 200 + n, event, json.dumps(args)))

    index(
        1,
        "LoanRegistered",
        lender=LENDER,
        borrowerCommitment="0x" + "c0" * 32,
        principal=120_000,
        aprBps=TERMS.apr_bps,
        rateCapBps=2_400,
        currency="0x" + b"CNY".ljust(32, b"\0").hex(),
        purpose="0x" + b"CONSUMPTION".ljust(32, b"\0").hex(),
    )
    index(2, "LoanDisbursed", amount=120_000, toAccount=to_hex(ACCOUNT), disbursedAt=NOW)
    index(3, "LoanStatusChanged", status=2)
    loan = service.view(loan_id).loan
    assert (loan.status, loan.disbursed, loan.currency) == ("active", 120_000, "CNY")
    ((movement,),) = [loan.movements]
    assert (movement.external_ref, movement.record_id) == ("BANK-1", recorded.record_id)
    assert movement.log_index == 2


def test_a_retried_disbursement_returns_the_first_record_and_is_sent_once() -> None:
    store, ledger, service, loan_id = _registered()
    first, new = service.disburse(loan_id, Movement(120_000, ACCOUNT, "BANK-1"))
    again, new_again = service.disburse(loan_id, Movement(120_000, ACCOUNT, "BANK-1"))
    assert (new, new_again) == (True, False)
    assert again == first
    assert ledger.sent("record_disbursement") == 1
    assert len(store.tables.movements) == 1


def test_an_external_reference_reused_for_another_movement_is_a_conflict() -> None:
    store, ledger, service, loan_id = _registered()
    service.disburse(loan_id, Movement(120_000, ACCOUNT, "BANK-1"))
    with pytest.raises(Conflict, match="BANK-1"):
        service.repay(loan_id, Movement(120_000, ACCOUNT, "BANK-1"))  # another kind
    with pytest.raises(Conflict, match="BANK-1"):
        service.disburse(loan_id, Movement(119_999, ACCOUNT, "BANK-1"))  # another amount
    assert (ledger.sent("record_disbursement"), ledger.sent("record_repayment")) == (1, 0)
    assert len(store.tables.movements) == 1


def _recorded_meanwhile(store: FakeLedgerStore, tx_hash: str) -> MovementRequest:
    """The same movement, recorded by a concurrent request that committed first."""
    first = MovementRequest(
        41, LOAN_ID, LENDER, "repayment", 5_000, to_hex(ACCOUNT), "BANK-R", tx_hash, 150, NOW
    )
    store.tables.movements[first.id] = first
    return first


def test_a_concurrent_duplicate_resolves_to_the_first_record() -> None:
    store, ledger, service, loan_id = _registered()
    ledger.on_send = lambda result: _recorded_meanwhile(store, result.tx_hash)
    recorded, new = service.repay(loan_id, Movement(5_000, ACCOUNT, "BANK-R"))
    assert not new
    assert recorded.record_id == 41  # the first record, not a second one
    assert list(store.tables.movements) == [41]


def test_a_duplicate_with_another_transaction_is_not_hidden() -> None:
    store, ledger, service, loan_id = _registered()
    ledger.on_send = lambda _result: _recorded_meanwhile(store, "0x" + "99" * 32)
    with pytest.raises(DuplicateRecord):
        service.repay(loan_id, Movement(5_000, ACCOUNT, "BANK-R"))
    assert list(store.tables.movements) == [41]


def test_a_store_failure_half_way_records_nothing_and_a_retry_records_once() -> None:
    store, ledger, service, loan_id = _registered()
    store.fail_on = "commit"
    with pytest.raises(OSError, match="half-way"):
        service.disburse(loan_id, Movement(120_000, ACCOUNT, "BANK-1"))
    assert store.tables.movements == {}  # sent on chain, but nothing half-written here
    store.fail_on = None
    recorded, new = service.disburse(loan_id, Movement(120_000, ACCOUNT, "BANK-1"))
    assert new
    assert [m.tx_hash for m in store.tables.movements.values()] == [recorded.tx_hash]
    assert len({call for call in ledger.calls if call[0] == "record_disbursement"}) == 1
