"""The indexer: every event once, resumable, confirmation depth, reorgs, refused ranges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from loantrace.chain.fundflow import FundFlowClient, deploy_fundflow
from loantrace.domain.errors import ChainError
from loantrace.services.indexer import Indexer
from loantrace.store.db import init_schema, make_engine
from loantrace.store.models import ChainEventRow
from tests.chain.conftest import LedgerEnv, ref


def _engine() -> Engine:
    engine = make_engine("sqlite://")
    init_schema(engine)
    return engine


def _indexer(env: LedgerEnv, engine: Engine, cls: type[Indexer] = Indexer, **kw: Any) -> Indexer:
    contracts = [env.rt.registry.contract, env.ledger.contract]
    return cls(
        w3=env.rt.node.w3,
        engine=engine,
        contracts=contracts,
        chain_id=env.rt.node.chain_id,
        start_block=1,
        **kw,
    )


def _events(engine: Engine) -> list[tuple[Any, ...]]:
    with Session(engine) as session:
        rows = session.exec(select(ChainEventRow)).all()
    return sorted((r.block_number, r.log_index, r.tx_hash, r.event, r.args_json) for r in rows)


def _chain_events(env: LedgerEnv) -> list[tuple[int, int, str]]:
    """Every log of our two contracts, read straight from the chain."""
    logs = env.rt.node.w3.eth.get_logs(
        {
            "fromBlock": 0,
            "toBlock": "latest",
            "address": [env.rt.registry.address, env.ledger.address],
        }
    )
    return sorted(
        (int(e["blockNumber"]), int(e["logIndex"]), "0x" + bytes(e["transactionHash"]).hex())
        for e in logs
    )


def _activity(env: LedgerEnv, loans: int = 3) -> None:
    for _ in range(loans):
        loan_id = env.active(n=2)
        env.ledger.record_repayment(loan_id, 1_000, b"\x02" * 32, ref())


def test_every_event_is_indexed_once_with_decoded_args(env: LedgerEnv) -> None:
    _activity(env)
    engine = _engine()
    run = _indexer(env, engine).run_once()
    indexed = _events(engine)
    assert [(b, i, t) for b, i, t, _e, _a in indexed] == _chain_events(env)
    assert run.events == len(indexed)
    names = {e for _b, _i, _t, e, _a in indexed}
    assert {"AgreementNotarised", "LoanRegistered", "LoanDisbursed", "LoanRepaid"} <= names
    assert _indexer(env, engine).run_once().events == 0  # idempotent


def test_restart_resumes_from_cursor_without_gaps_or_duplicates(env: LedgerEnv) -> None:
    _activity(env)
    engine = _engine()
    while True:  # a new process each time, a few blocks per run
        run = _indexer(env, engine, max_range=2).run_once(max_blocks=3)
        if run.to_block >= env.rt.node.head():
            break
    reference = _engine()
    _indexer(env, reference).run_once()
    assert _events(engine) == _events(reference)


def test_confirmation_depth_leaves_the_newest_blocks(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    _activity(env, loans=1)
    engine = _engine()
    run = _indexer(env, engine, confirmations=2).run_once()
    assert run.to_block == env.rt.node.head() - 2
    assert all(b <= run.to_block for b, *_ in _events(engine))


class _Refusing(Indexer):
    """A node that refuses log queries over more than 3 blocks (a fault anvil cannot make)."""

    def _get_logs(self, from_block: int, to_block: int) -> list[Any]:
        if to_block - from_block + 1 > 3:
            raise ChainError("query returned more than 10000 results / block range too large")
        return super()._get_logs(from_block, to_block)


def test_a_node_refusing_wide_ranges_still_yields_every_event_once(
    embedded_env: LedgerEnv,
) -> None:
    env = embedded_env
    _activity(env)
    engine = _engine()
    _indexer(env, engine, _Refusing, max_range=64).run_once()
    reference = _engine()
    _indexer(env, reference).run_once()
    assert _events(engine) == _events(reference)


def test_reorg_leaves_the_database_equal_to_the_canonical_chain(
    embedded_env: LedgerEnv,
) -> None:
    env = embedded_env
    tester = env.rt.node.tester
    assert tester is not None
    _activity(env, loans=1)
    snapshot = tester.take_snapshot()
    _activity(env, loans=2)  # these blocks will be orphaned
    engine = _engine()
    _indexer(env, engine).run_once()
    orphaned = _events(engine)
    tester.revert_to_snapshot(snapshot)
    _activity(env, loans=3)  # a longer, different branch
    run = _indexer(env, engine).run_once()
    assert run.reorged_from is not None
    reference = _engine()
    _indexer(env, reference).run_once()
    assert _events(engine) == _events(reference)
    assert _events(engine) != orphaned


def test_fundflow_events_are_indexed_with_their_loan(embedded_env: LedgerEnv) -> None:
    env = embedded_env
    address = deploy_fundflow(
        env.rt.registry.transactor,
        env.rt.node.w3,
        admin=env.rt.notary.lender,
        ledger=env.ledger.address,
        registry=env.rt.registry.address,
    )
    flow = FundFlowClient(env.rt.node.w3, address, env.rt.registry.transactor)
    loan_id = env.active(n=1)
    flow.record_transfer(
        loan_id=loan_id,
        from_account=b"\1" * 32,
        to_account=b"\2" * 32,
        amount=10,
        purpose="X",
        external_ref=ref(),
    )
    flow.label_account(b"\2" * 32, "SECURITIES")
    engine = _engine()
    contracts: Sequence[Any] = [env.rt.registry.contract, env.ledger.contract, flow.contract]
    Indexer(
        w3=env.rt.node.w3,
        engine=engine,
        contracts=contracts,
        chain_id=env.rt.node.chain_id,
        start_block=1,
    ).run_once()
    with Session(engine) as session:
        rows = session.exec(
            select(ChainEventRow).where(ChainEventRow.event == "FundsTransferred")
        ).all()
        labels = session.exec(
            select(ChainEventRow).where(ChainEventRow.event == "AccountLabelled")
        ).all()
    assert [r.loan_id for r in rows] == ["0x" + loan_id.hex()]
    assert len(labels) == 1


@pytest.mark.anvil
def test_anvil_reorg_is_repaired(anvil_env: LedgerEnv) -> None:
    env = anvil_env
    w3 = env.rt.node.w3
    _activity(env, loans=1)
    engine = _engine()
    _indexer(env, engine).run_once()
    w3.provider.make_request("anvil_reorg", [3, []])  # type: ignore[arg-type]
    _activity(env, loans=1)
    _indexer(env, engine).run_once()
    reference = _engine()
    _indexer(env, reference).run_once()
    assert _events(engine) == _events(reference)
