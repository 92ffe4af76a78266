"""anvil_reorg at random depths during indexing and reminder delivery, trial after trial.

With a confirmation depth of k, a reorganisation of at most k blocks never reaches the
index: no orphaned reminder is delivered, the keeper's orphaned transactions are resent by
the outbox, a reminder mined again keeps its key, and the database equals a fresh index of
the canonical chain.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import Session, select
from web3.types import RPCEndpoint

from loantrace.bootstrap import Runtime
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil
from loantrace.devtools.receiver import WebhookReceiver
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.webhooks import idempotency_key, parse_secret
from loantrace.services.indexer import Indexer
from loantrace.services.loans import Movement
from loantrace.store.db import init_schema, make_engine
from loantrace.store.models import ChainEventRow
from tests.conftest import SubmissionFactory, start_runtime

pytestmark = [pytest.mark.slow, pytest.mark.anvil]

TRIALS = 20
CONFIRMATIONS = 3
DAY = 86_400


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


def _call(rt: Runtime, method: str, params: list[Any]) -> None:
    rt.node.w3.provider.make_request(RPCEndpoint(method), params)


def _canonical_reminder_keys(rt: Runtime) -> set[str]:
    logs = rt.ledger.contract.events.ReminderRaised.get_logs(from_block=0)
    return {
        idempotency_key(
            rt.node.chain_id,
            "0x" + bytes(e["args"]["loanId"]).hex(),
            int(e["args"]["instalment"]),
            int(e["args"]["stage"]),
        )
        for e in logs
    }


def _rows(engine: Any, start: int, upto: int) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        rows = session.exec(select(ChainEventRow)).all()
    return sorted(
        (r.block_number, r.log_index, r.tx_hash, r.event, r.args_json)
        for r in rows
        if start <= r.block_number <= upto
    )


def test_random_reorgs_never_deliver_an_orphaned_reminder(
    make_submission: SubmissionFactory, receiver: WebhookReceiver
) -> None:
    rng = random.Random(7)
    with Anvil(chain_id=31_341) as node:
        rt = start_runtime(connect(node.url), index_confirmations=CONFIRMATIONS)
        hook, secret = rt.webhooks.register(lender=rt.notary.lender, url=receiver.url)
        receiver.secret = parse_secret(secret)
        for n in range(4):
            terms = terms_at(rt.node.now(), principal=40_000, instalments=4, first_in_days=3 + n)
            receipt = rt.notary.notarise(make_submission(rt, terms=terms).submission)
            view = rt.loans.register(bytes.fromhex(receipt.digest[2:]))
            loan_id = bytes.fromhex(view.loan_id[2:])
            rt.loans.disburse(loan_id, Movement(40_000, b"\x0c" * 32, f"R-{n}"))
        depths = []
        for _trial in range(TRIALS):
            rt.node.advance_time(rng.randint(1, 12) * DAY)
            rt.keeper.run_once()  # performs upkeep at the head; delivers only confirmed ones
            depth = rng.randint(1, CONFIRMATIONS)
            depths.append(depth)
            _call(rt, "anvil_reorg", [depth, []])  # the newest blocks are replaced
            for _ in range(CONFIRMATIONS):
                _call(rt, "evm_mine", [])
            rt.keeper.run_once()  # resends the orphaned upkeep, indexes, delivers
        for _ in range(CONFIRMATIONS + 1):
            _call(rt, "evm_mine", [])
        rt.keeper.run_once()
        for _ in range(CONFIRMATIONS + 1):
            _call(rt, "evm_mine", [])
        final = rt.keeper.run_once()
        delivered = [p["idempotency_key"] for p in receiver.received.accepted]
        canonical = _canonical_reminder_keys(rt)
        orphaned = [k for k in delivered if k not in canonical]
        print(
            f"{TRIALS} reorgs at depths {depths}: {len(delivered)} reminders delivered, "
            f"{len(orphaned)} orphaned, {len(delivered) - len(set(delivered))} twice"
        )
        assert orphaned == []
        assert len(delivered) == len(set(delivered))
        assert set(delivered) == canonical  # every canonical reminder, once
        reference = make_engine("sqlite://")
        init_schema(reference)
        Indexer(
            w3=rt.node.w3,
            engine=reference,
            contracts=[rt.registry.contract, rt.ledger.contract, rt.fundflow.contract],
            chain_id=rt.node.chain_id,
            start_block=0,
        ).run_once()
        upto = final.scanned_to_block
        ours = _rows(rt.engine, 0, upto)
        start = ours[0][0]  # the runtime indexes from the ledger's deployment block
        assert ours == _rows(reference, start, upto)
        assert hook.id is not None
        rt.close()
