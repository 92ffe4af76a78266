"""The keeper: contract-raised reminders reach the lender's webhook, once, whoever performs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.chain.ledger import LedgerClient
from loantrace.chain.registry import revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.devtools.receiver import WebhookReceiver
from loantrace.domain.delinquency import SECONDS_PER_DAY
from loantrace.domain.webhooks import parse_secret
from loantrace.services.loans import Movement
from loantrace.store.db import read_cursor
from tests.conftest import SAMPLE_TERMS, SubmissionFactory

TERMS = replace(
    SAMPLE_TERMS,
    apr_bps=1_000,
    principal=200_000,
    instalments=2,
    repayment_method="equal_principal",
)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _active_loan(rt: Runtime, make: SubmissionFactory) -> tuple[bytes, int]:
    # Relative to the chain's clock: other tests move a shared anvil node's time forward.
    first_due = datetime.fromtimestamp(rt.node.now(), UTC).date() + timedelta(days=10)
    terms = replace(
        TERMS,
        start_date=(first_due - timedelta(days=10)).isoformat(),
        first_due_date=first_due.isoformat(),
    )
    receipt = rt.notary.notarise(make(rt, terms=terms).submission)
    view = rt.loans.register(bytes.fromhex(receipt.digest[2:]))
    loan_id = bytes.fromhex(view.loan_id[2:])
    rt.loans.disburse(loan_id, Movement(200_000, b"\x01" * 32, f"D-{receipt.digest}"))
    return loan_id, view.schedule.instalments[0].due_at


def _hook(rt: Runtime, receiver: WebhookReceiver) -> int:
    row, secret = rt.webhooks.register(lender=rt.notary.lender, url=receiver.url)
    receiver.secret = parse_secret(secret)
    assert row.id is not None
    return row.id


def _go_to(rt: Runtime, timestamp: int) -> None:
    rt.node.advance_time(timestamp - rt.node.now())


def test_keeper_delivers_each_stage_signed_exactly_once(
    runtime: Runtime, make_submission: SubmissionFactory, receiver: WebhookReceiver
) -> None:
    hook = _hook(runtime, receiver)
    loan_id, due_at = _active_loan(runtime, make_submission)
    _go_to(runtime, due_at - 2 * SECONDS_PER_DAY)
    first = runtime.keeper.run_once()
    assert (first.upkeeps_performed, first.reminders_recorded) == (1, 1)
    assert runtime.keeper.run_once().reminders_recorded == 0
    _go_to(runtime, due_at + 5 * SECONDS_PER_DAY)
    runtime.keeper.run_once()
    stages = [p["stage_name"] for p in receiver.received.accepted]
    assert stages == ["due_soon", "due", "bucket_1_30", "overdue"]  # late: caught up in order
    assert receiver.received.rejected == receiver.received.duplicates == 0
    assert all(p["loan_id"] == "0x" + loan_id.hex() for p in receiver.received.accepted)
    log = runtime.webhooks.deliveries(hook)
    assert [d.status for d, _ in log] == ["delivered"] * 4
    assert read_cursor(runtime.engine, name="reminders") == runtime.node.head()


def test_reminders_performed_by_an_external_keeper_are_delivered(
    embedded_runtime: Runtime, make_submission: SubmissionFactory, receiver: WebhookReceiver
) -> None:
    rt = embedded_runtime
    _hook(rt, receiver)
    _loan_id, due_at = _active_loan(rt, make_submission)
    _go_to(rt, due_at - SECONDS_PER_DAY)
    stranger = Account.create()  # performUpkeep is permissionless
    rt.node.fund_for_dev(stranger)
    theirs = LedgerClient(
        rt.node.w3, rt.ledger.address, Transactor(rt.node.w3, stranger, revert_decoder())
    )
    performed = theirs.perform_upkeep(theirs.check_upkeep().perform_data)
    assert len(theirs.reminders_in(performed)) == 1
    result = rt.keeper.run_once()
    assert (result.upkeeps_performed, result.reminders_recorded) == (0, 1)
    assert [p["stage_name"] for p in receiver.received.accepted] == ["due_soon"]
    assert receiver.received.accepted[0]["tx_hash"] == performed.tx_hash


def test_a_crash_between_perform_and_record_loses_nothing(
    embedded_runtime: Runtime, make_submission: SubmissionFactory, receiver: WebhookReceiver
) -> None:
    rt = embedded_runtime
    _hook(rt, receiver)
    _loan_id, due_at = _active_loan(rt, make_submission)
    _go_to(rt, due_at + 2 * SECONDS_PER_DAY)
    rt.ledger.perform_upkeep(rt.ledger.check_upkeep().perform_data)  # then the process died
    restarted = rt.keeper.run_once()
    assert restarted.reminders_recorded == 3
    assert sorted(p["stage_name"] for p in receiver.received.accepted) == [
        "bucket_1_30",
        "due",
        "due_soon",
    ]


def test_repaid_instalments_raise_nothing(
    embedded_runtime: Runtime, make_submission: SubmissionFactory, receiver: WebhookReceiver
) -> None:
    rt = embedded_runtime
    _hook(rt, receiver)
    loan_id, due_at = _active_loan(rt, make_submission)
    owed = rt.loans.view(loan_id).schedule.instalments[0].amount
    rt.loans.repay(loan_id, Movement(owed, b"\x02" * 32, "R-1"))
    _go_to(rt, due_at + 3600)
    assert rt.keeper.run_once().reminders_recorded == 0
    assert receiver.received.accepted == []
