"""The indexer's fast path (raw logs, compiled decoders, bulk writes) stores exactly what
web3.py's own decoding (`get_logs` + `process_log`) gives, block rows included, and still
repairs reorganisations. Correctness only: the throughput is measured by `loantrace bench`."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from eth_abi.exceptions import NonEmptyPaddingBytes
from eth_account import Account
from eth_utils.abi import event_abi_to_log_topic
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from web3 import Web3
from web3.types import RPCEndpoint

from loantrace.bootstrap import Runtime
from loantrace.chain.artifacts import load_artifact
from loantrace.chain.fundflow import REPORTER_ROLE, FundFlowClient
from loantrace.chain.node import connect
from loantrace.chain.registry import revert_decoder
from loantrace.chain.signers import LocalSigner
from loantrace.chain.transactor import Transactor
from loantrace.devtools.anvil import Anvil
from loantrace.services.indexer import Indexer
from loantrace.services.indexer_decode import LogDecoder, plain
from loantrace.settings import DEV_DEPLOYER_KEY
from loantrace.store.db import init_schema, make_engine
from loantrace.store.models import ChainEventRow, IndexedBlockRow
from tests.chain.conftest import LedgerEnv
from tests.conftest import BoundChain, bound_runtime, make_signed, start_runtime

Row = tuple[Any, ...]


def _engine(url: str = "sqlite://") -> Engine:
    engine = make_engine(url)
    init_schema(engine)
    return engine


def _indexer(rt: Runtime, engine: Engine, start: int, **kw: Any) -> Indexer:
    contracts = [rt.registry.contract, rt.ledger.contract, rt.fundflow.contract]
    return Indexer(
        w3=rt.node.w3,
        engine=engine,
        contracts=contracts,
        chain_id=rt.node.chain_id,
        start_block=start,
        **kw,
    )


def _activity(rt: Runtime) -> None:
    """Every kind of event the service emits: notarisations (dynamic bytes), a loan with its
    schedule (a tuple array), disbursement, repayment, transfers, labels, a role grant."""
    env = LedgerEnv(rt, rt.ledger, make_signed)
    loan_id = env.active(n=2)
    rt.ledger.record_repayment(loan_id, 1_000, b"\x02" * 32, uuid.uuid4().bytes * 2)
    rt.notary.notarise(make_signed(rt).submission)
    admin = FundFlowClient(
        rt.node.w3,
        rt.fundflow.address,
        Transactor(rt.node.w3, LocalSigner.from_key(DEV_DEPLOYER_KEY), revert_decoder()),
    )
    admin.grant(REPORTER_ROLE, Account.from_key(DEV_DEPLOYER_KEY).address)
    admin.label_account(b"\x07" * 32, "SECURITIES")
    for n in range(3):
        admin.record_transfer(
            loan_id=loan_id,
            from_account=bytes([n + 1]) * 32,
            to_account=bytes([n + 2]) * 32,
            amount=10 + n,
            purpose="PAY",
            external_ref=uuid.uuid4().bytes * 2,
        )


def _slow_rows(rt: Runtime, start: int, end: int) -> list[Row]:
    """The rows web3.py's own path gives: `get_logs` + `process_log`, as the indexer was."""
    events: dict[bytes, Any] = {}
    for contract in (rt.registry.contract, rt.ledger.contract, rt.fundflow.contract):
        for item in contract.abi:
            if item["type"] == "event":
                topic = bytes(event_abi_to_log_topic(dict(item)))  # type: ignore[arg-type]
                events[topic] = getattr(contract.events, item["name"])()
    logs = rt.node.w3.eth.get_logs(
        {
            "fromBlock": start,
            "toBlock": end,
            "address": [rt.registry.address, rt.ledger.address, rt.fundflow.address],
        }
    )
    rows = []
    for entry in logs:
        decoded = events[bytes(entry["topics"][0])].process_log(entry)
        args = {k: plain(v) for k, v in decoded["args"].items()}
        loan_id = args.get("loanId")
        rows.append(
            (
                rt.node.chain_id,
                "0x" + bytes(entry["transactionHash"]).hex(),
                int(entry["logIndex"]),
                int(entry["blockNumber"]),
                "0x" + bytes(entry["blockHash"]).hex(),
                str(entry["address"]),
                decoded["event"],
                loan_id if isinstance(loan_id, str) else None,
                json.dumps(args, sort_keys=True),
            )
        )
    return sorted(rows, key=lambda r: (r[3], r[2]))


def _rows(engine: Engine) -> list[Row]:
    with Session(engine) as session:
        found = session.exec(select(ChainEventRow)).all()
    rows = [
        (
            r.chain_id,
            r.tx_hash,
            r.log_index,
            r.block_number,
            r.block_hash,
            r.contract,
            r.event,
            r.loan_id,
            r.args_json,
        )
        for r in found
    ]
    return sorted(rows, key=lambda r: (r[3], r[2]))


def _assert_blocks_are_canonical(rt: Runtime, engine: Engine, last: int) -> None:
    with Session(engine) as session:
        blocks = session.exec(select(IndexedBlockRow)).all()
    numbers = {b.number for b in blocks}
    assert last in numbers
    assert {r[3] for r in _rows(engine)} <= numbers  # every block holding an event
    for block in blocks:
        header = rt.node.w3.eth.get_block(block.number)
        assert (block.hash, block.parent_hash) == (
            "0x" + bytes(header["hash"]).hex(),
            "0x" + bytes(header["parentHash"]).hex(),
        )


@pytest.fixture
def active(runtime: Runtime) -> tuple[Runtime, int]:
    """A runtime on each chain, with every kind of event emitted after block `start`."""
    start = runtime.node.head() + 1
    _activity(runtime)
    return runtime, start


def test_fast_path_stores_the_rows_of_web3s_own_decoding(active: tuple[Runtime, int]) -> None:
    rt, start = active
    engine = _engine()
    run = _indexer(rt, engine, start, max_range=4).run_once()  # several ranges
    expected = _slow_rows(rt, start, run.to_block)
    names = {r[6] for r in expected}
    assert {"AgreementNotarised", "LoanTermsBound", "FundsTransferred", "RoleGranted"} <= names
    assert _rows(engine) == expected
    assert run.events == len(expected)
    _assert_blocks_are_canonical(rt, engine, run.to_block)
    assert _indexer(rt, engine, start).run_once().events == 0  # nothing stored twice


@pytest.mark.postgres
@pytest.mark.anvil
def test_postgresql_copy_stores_the_same_rows(anvil_chain: BoundChain, fresh_postgres: str) -> None:
    rt = bound_runtime(anvil_chain)
    start = rt.node.head() + 1
    _activity(rt)
    engine = _engine(fresh_postgres)
    try:
        run = _indexer(rt, engine, start, max_range=3).run_once()
        assert _rows(engine) == _slow_rows(rt, start, run.to_block)
        _assert_blocks_are_canonical(rt, engine, run.to_block)
        assert _indexer(rt, engine, start).run_once().events == 0
    finally:
        engine.dispose()
        rt.close()


@pytest.mark.anvil
def test_fast_path_repairs_an_anvil_reorg(anvil: Anvil) -> None:
    rt = start_runtime(connect(anvil.url))  # contracts of its own: the reorg is not reverted
    start = rt.node.head() + 1
    _activity(rt)
    engine = _engine()
    _indexer(rt, engine, start).run_once()
    orphaned = _rows(engine)
    rt.node.w3.provider.make_request(RPCEndpoint("anvil_reorg"), [6, []])
    rt.notary.notarise(make_signed(rt).submission)  # the new branch differs from the old
    run = _indexer(rt, engine, start).run_once()
    assert run.reorged_from is not None
    assert _rows(engine) == _slow_rows(rt, start, run.to_block) != orphaned
    _assert_blocks_are_canonical(rt, engine, run.to_block)
    rt.close()


def test_reorg_repair_rereads_the_blocks_after_the_newest_canonical_one(
    embedded_runtime: Runtime,
) -> None:
    """A new branch may hold events in blocks where the old one held none (so no row was
    stored for them): the repair reads again from just after the newest canonical block."""
    rt = embedded_runtime
    tester = rt.node.tester
    assert tester is not None
    admin = FundFlowClient(
        rt.node.w3,
        rt.fundflow.address,
        Transactor(rt.node.w3, LocalSigner.from_key(DEV_DEPLOYER_KEY), revert_decoder()),
    )
    start = rt.node.head() + 1
    admin.label_account(b"\x01" * 32, "KEPT")  # canonical on both branches
    snapshot = tester.take_snapshot()
    tester.mine_blocks(3)
    admin.label_account(b"\x02" * 32, "ORPHANED")
    engine = _engine()
    _indexer(rt, engine, start).run_once()
    tester.revert_to_snapshot(snapshot)
    admin.label_account(b"\x03" * 32, "NEW")  # in a block the old branch left empty
    tester.mine_blocks(4)
    run = _indexer(rt, engine, start).run_once()
    assert run.reorged_from == start + 1  # the block after the one holding "KEPT"
    assert _rows(engine) == _slow_rows(rt, start, run.to_block)
    assert "0x" + "03" * 32 in {json.loads(r[8])["account"] for r in _rows(engine)}


def _label_log(data_words: list[str]) -> dict[str, Any]:
    """A raw AccountLabelled log (JSON-RPC form) of a FundFlow at a fixed address."""
    abi = next(i for i in load_artifact("FundFlow")["abi"] if i.get("name") == "AccountLabelled")
    return {
        "address": "0x" + "ab" * 20,
        "topics": [
            "0x" + bytes(event_abi_to_log_topic(abi)).hex(),
            "0x" + "07" * 32,
            "0x" + "53" * 8 + "00" * 24,
        ],
        "data": "0x" + "".join(data_words),
        "blockNumber": "0x10",
        "blockHash": "0x" + "cd" * 32,
        "transactionHash": "0x" + "ef" * 32,
        "transactionIndex": "0x0",
        "logIndex": "0x2",
    }


@pytest.fixture
def decoder() -> LogDecoder:
    w3 = Web3()
    address = Web3.to_checksum_address("0x" + "ab" * 20)
    fundflow = w3.eth.contract(address=address, abi=load_artifact("FundFlow")["abi"])
    return LogDecoder([fundflow], chain_id=7)


def test_a_canonical_log_is_decoded_without_web3(decoder: LogDecoder) -> None:
    who = "00" * 12 + "11" * 20
    record = decoder.decode(_label_log(["00" * 32, who]))
    assert record is not None
    assert record[5] == Web3.to_checksum_address("0x" + "ab" * 20)
    assert json.loads(record[8]) == {
        "account": "0x" + "07" * 32,
        "category": "0x" + "53" * 8 + "00" * 24,
        "previous": "0x" + "00" * 32,
        "by": Web3.to_checksum_address("0x" + "11" * 20),
    }
    assert record[:5] == (7, "0x" + "ef" * 32, 2, 16, "0x" + "cd" * 32)


def test_an_irregular_log_is_left_to_web3(decoder: LogDecoder) -> None:
    who = "00" * 12 + "11" * 20
    canonical = decoder.decode(_label_log(["00" * 32, who]))
    assert decoder.decode(_label_log(["00" * 32, who, "00" * 32])) == canonical  # trailing data
    with pytest.raises(NonEmptyPaddingBytes):  # web3.py's error, as before the fast path
        decoder.decode(_label_log(["00" * 32, "ff" * 12 + "11" * 20]))  # dirty address padding
    assert decoder.decode({**_label_log([]), "topics": ["0x" + "00" * 32]}) is None
