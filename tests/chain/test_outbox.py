"""The transaction outbox: durable before broadcast, one nonce sequence per key, intents once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3
from web3.types import RPCEndpoint

from loantrace.bootstrap import Runtime
from loantrace.chain.node import Node, connect
from loantrace.chain.registry import RegistryClient, revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.devtools.anvil import Anvil
from loantrace.domain.errors import Conflict, Pending
from loantrace.outbox import MemoryOutbox, OutboxTx, TxStatus
from loantrace.store.db import init_schema, make_engine
from loantrace.store.outbox import SqlOutbox
from tests.conftest import start_runtime


def _tx(nonce: int, sender: str, intent: str | None = None) -> OutboxTx:
    return OutboxTx(
        chain_id=7,
        sender=sender,
        nonce=nonce,
        tx_hash="0x" + sender[2:26] + f"{nonce:040x}",
        raw=b"\x02raw",
        to="0x" + "bb" * 20,
        data=b"\x01\x02",
        intent=intent,
    )


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MemoryOutbox | SqlOutbox]:
    if request.param == "memory":
        yield MemoryOutbox()
        return
    url = (
        f"sqlite:///{tmp_path / 'o.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    engine = make_engine(url)
    init_schema(engine)
    yield SqlOutbox(engine)
    engine.dispose()


def test_nonces_follow_the_chain_and_every_live_recorded_one(
    outbox: MemoryOutbox | SqlOutbox,
) -> None:
    sender = Account.create().address  # the PostgreSQL database is shared by the session
    assert outbox.next_nonce(7, sender, 5) == 5
    outbox.record(_tx(5, sender))
    outbox.record(_tx(6, sender, "ref:1"))
    assert outbox.next_nonce(7, sender, 5) == 7  # the node may not have seen 5 and 6 yet
    assert outbox.next_nonce(7, sender, 9) == 9  # the node is ahead: take its count
    assert outbox.next_nonce(8, sender, 0) == 0  # another chain has its own sequence
    outbox.mark(_tx(6, sender).tx_hash, TxStatus.REPLACED)
    assert outbox.next_nonce(7, sender, 5) == 6
    assert outbox.by_intent(7, sender, "ref:1") is None  # a replaced one is not live
    assert [t.nonce for t in outbox.pending(7, sender)] == [5]
    outbox.mark(_tx(5, sender).tx_hash, TxStatus.MINED, 42)
    found = outbox.by_hash(_tx(5, sender).tx_hash)
    assert found is not None
    assert (found.status, found.block_number, found.raw) == (TxStatus.MINED, 42, b"\x02raw")
    assert outbox.pending(7, sender) == []


@pytest.fixture
def quiet_anvil() -> Iterator[Anvil]:
    """An anvil of our own whose mining the test controls."""
    with Anvil(chain_id=31_338) as node:
        yield node


def _automine(node: Node, on: bool) -> None:
    node.w3.provider.make_request(RPCEndpoint("evm_setAutomine"), [on])


def _mine(node: Node) -> None:
    node.w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def _client(rt: Runtime, *, timeout: float) -> RegistryClient:
    """The registry through a transactor sharing the runtime's key and outbox."""
    transactor = Transactor(
        rt.node.w3,
        rt.account,
        revert_decoder(),
        outbox=rt.registry.transactor.outbox,
        receipt_timeout=timeout,
    )
    return RegistryClient(rt.node.w3, rt.registry.address, transactor)


@pytest.mark.anvil
def test_an_unmined_write_is_pending_then_adopted_never_sent_twice(quiet_anvil: Anvil) -> None:
    rt = start_runtime(connect(quiet_anvil.url))
    node = rt.node
    client = _client(rt, timeout=0.3)
    _automine(node, False)
    with pytest.raises(Pending) as first:
        client.anchor_batch(b"\x11" * 32, 3)
    with pytest.raises(Pending) as retry:  # the client retries while it is pending
        client.anchor_batch(b"\x11" * 32, 3)
    assert retry.value.tx_hash == first.value.tx_hash
    pending = client.transactor.outbox.pending(node.chain_id, client.transactor.address)
    assert [t.tx_hash for t in pending] == [first.value.tx_hash]
    _mine(node)
    _automine(node, True)
    again = client.anchor_batch(b"\x11" * 32, 3)  # after mining: adopts the mined one
    assert again is not None
    assert again.tx_hash == first.value.tx_hash
    assert client.batch_of(b"\x11" * 32) is not None
    recorded = client.transactor.outbox.by_hash(first.value.tx_hash)
    assert recorded is not None
    assert recorded.status is TxStatus.MINED


@pytest.mark.anvil
def test_the_same_intent_with_other_call_data_is_a_conflict(quiet_anvil: Anvil) -> None:
    rt = start_runtime(connect(quiet_anvil.url))
    call = rt.registry.contract.functions.anchorBatch(b"\x21" * 32, 1, bytes(32))
    rt.registry.transactor.send(call, intent="anchor-21")
    other = rt.registry.contract.functions.anchorBatch(b"\x22" * 32, 1, bytes(32))
    with pytest.raises(Conflict, match="already sent as another transaction"):
        rt.registry.transactor.send(other, intent="anchor-21")


@pytest.mark.anvil
def test_a_transaction_the_node_lost_is_resent_byte_for_byte(quiet_anvil: Anvil) -> None:
    rt = start_runtime(connect(quiet_anvil.url))
    node = rt.node
    client = _client(rt, timeout=0.2)
    _automine(node, False)
    with pytest.raises(Pending) as sent:
        client.anchor_batch(b"\x31" * 32, 2)
    node.w3.provider.make_request(RPCEndpoint("anvil_dropAllTransactions"), [])
    _mine(node)
    assert client.batch_of(b"\x31" * 32) is None  # the node lost it
    assert client.transactor.resend_pending() == 1
    _mine(node)
    _automine(node, True)
    assert client.batch_of(b"\x31" * 32) is not None
    assert client.transactor.resend_pending() == 0  # settled: mined
    recorded = client.transactor.outbox.by_hash(sent.value.tx_hash)
    assert recorded is not None
    assert recorded.status is TxStatus.MINED
    # The next write takes the next nonce: nothing was skipped, nothing doubled.
    result = client.anchor_batch(b"\x32" * 32, 2)
    assert result is not None
    tx = node.w3.eth.get_transaction(result.tx_hash)  # type: ignore[arg-type]
    assert tx["nonce"] == recorded.nonce + 1


_SENDER = textwrap.dedent(
    """
    import sys
    from eth_account import Account
    from loantrace.chain.node import connect
    from loantrace.chain.registry import RegistryClient, revert_decoder
    from loantrace.chain.transactor import Transactor
    from loantrace.store.db import make_engine
    from loantrace.store.outbox import SqlOutbox

    url, database, key, registry, tag, count = sys.argv[1:]
    node = connect(url)
    outbox = SqlOutbox(make_engine(database))
    transactor = Transactor(node.w3, Account.from_key(key), revert_decoder(), outbox=outbox)
    client = RegistryClient(node.w3, registry, transactor)
    for i in range(int(count)):
        root = bytes([int(tag)]) + i.to_bytes(31, "big")
        client.anchor_batch(root, 1)
    print("ok")
    """
)


@pytest.mark.slow
@pytest.mark.anvil
@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_two_processes_on_one_key_never_collide_on_nonces(
    anvil: Anvil, tmp_path: Path, database: str, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'shared.db'}"
        if database == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    rt = start_runtime(connect(anvil.url), database_url=url)
    key = rt.account.key.hex()
    count = 25
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _SENDER,
                anvil.url,
                url,
                key,
                rt.registry.address,
                tag,
                f"{count}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("1", "2")
    ]
    outcomes = [p.communicate(timeout=240) for p in processes]
    errors = [err for (out, err), p in zip(outcomes, processes, strict=True) if p.returncode]
    print(f"two processes, {2 * count} writes, {len(errors)} failed")
    assert errors == []
    anchored = [
        rt.registry.batch_of(bytes([tag]) + i.to_bytes(31, "big"))
        for tag in (1, 2)
        for i in range(count)
    ]
    assert all(a is not None for a in anchored)
    rt.close()


def test_the_runtime_records_every_write_in_its_outbox(runtime: Runtime) -> None:
    outbox = runtime.registry.transactor.outbox
    result = runtime.registry.anchor_batch(b"\x41" * 32, 1)
    assert result is not None
    recorded = outbox.by_hash(result.tx_hash)
    assert recorded is not None
    assert recorded.status is TxStatus.MINED
    signed = Web3.keccak(recorded.raw)
    assert "0x" + signed.hex().removeprefix("0x") == result.tx_hash
    assert Account.recover_transaction(recorded.raw) == runtime.account.address


def test_a_crash_between_record_and_broadcast_loses_nothing(
    embedded_runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one crash point a test cannot time: recorded, then the process dies unsent."""
    rt = embedded_runtime
    transactor = rt.registry.transactor

    def unreachable(raw: bytes) -> None:
        raise ConnectionError("the node went away")

    with monkeypatch.context() as patch:
        patch.setattr(rt.node.w3.eth, "send_raw_transaction", unreachable)
        with pytest.raises(Pending) as accepted:
            rt.registry.anchor_batch(b"\x51" * 32, 1)
    recorded = transactor.outbox.by_hash(accepted.value.tx_hash)
    assert recorded is not None
    assert recorded.status is TxStatus.PENDING
    assert rt.registry.batch_of(b"\x51" * 32) is None  # never reached the node
    assert transactor.resend_pending() == 1  # what the restarted sender does
    assert rt.registry.batch_of(b"\x51" * 32) is not None
    assert transactor.resend_pending() == 0
    settled = transactor.outbox.by_hash(accepted.value.tx_hash)
    assert settled is not None
    assert settled.status is TxStatus.MINED


@pytest.mark.anvil
def test_a_stuck_transaction_is_replaced_with_fees_raised_and_settles_once(
    quiet_anvil: Anvil,
) -> None:
    rt = start_runtime(connect(quiet_anvil.url))
    node = rt.node
    client = _client(rt, timeout=0.2)
    transactor = client.transactor
    _automine(node, False)
    with pytest.raises(Pending) as sent:
        client.anchor_batch(b"\x61" * 32, 1)
    stuck = transactor.outbox.by_hash(sent.value.tx_hash)
    assert stuck is not None
    assert stuck.max_fee_per_gas is not None
    assert stuck.max_priority_fee_per_gas is not None
    assert transactor.resend_pending(stuck_after=0.0) == 1
    replacement = transactor.outbox.by_intent(node.chain_id, transactor.address, stuck.intent or "")
    assert replacement is not None
    assert replacement.tx_hash != stuck.tx_hash
    assert replacement.nonce == stuck.nonce
    assert replacement.max_fee_per_gas is not None
    assert replacement.max_priority_fee_per_gas is not None
    assert 8 * replacement.max_fee_per_gas >= 9 * stuck.max_fee_per_gas  # +12.5 % at least
    assert 8 * replacement.max_priority_fee_per_gas >= 9 * stuck.max_priority_fee_per_gas
    _mine(node)
    _automine(node, True)
    assert transactor.resend_pending() == 0
    settled = {
        t.tx_hash: t.status
        for t in transactor.outbox.by_nonce(node.chain_id, transactor.address, stuck.nonce)
    }
    assert settled == {stuck.tx_hash: TxStatus.REPLACED, replacement.tx_hash: TxStatus.MINED}
    assert client.batch_of(b"\x61" * 32) is not None
    again = client.anchor_batch(b"\x61" * 32, 1)  # a retry adopts the replacement
    assert again is not None
    assert again.tx_hash == replacement.tx_hash
