"""Chain-side figures of `loantrace bench`: the node's raw pace, gas from receipts, an event
load for the indexer, and the indexer's backfill beside web3.py's plain log reading."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.abi import event_abi_to_log_topic
from web3 import Web3
from web3.contract import Contract
from web3.types import FilterParams

from loantrace.domain.agreement import Agreement, Domain, sign_agreement
from loantrace.domain.errors import ChainError

GWEI = 10**9
TRANSFER_GAS = 21_000
NOTARISE_GAS = 250_000
WINDOW = 32  # transactions a sender keeps unmined at most (about)


class Rpc:
    """A bare JSON-RPC client (one keep-alive connection): the node, without web3.py."""

    def __init__(self, url: str) -> None:
        self._http = httpx.Client(timeout=60.0)
        self._url = url
        self._id = 0

    def call(self, method: str, *params: Any) -> Any:
        """Send one request; return its result or raise ChainError."""
        self._id += 1
        body = {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        answer = self._http.post(self._url, json=body).json()
        if "error" in answer:
            raise ChainError(f"{method}: {answer['error']}")
        return answer["result"]

    def close(self) -> None:
        """Close the connection."""
        self._http.close()


def _fees(rpc: Rpc) -> tuple[int, int]:
    base = int(rpc.call("eth_getBlockByNumber", "latest", False)["baseFeePerGas"], 16)
    return 2 * base + GWEI, GWEI


def _send_all(rpc: Rpc, raws: Sequence[bytes], window: int = WINDOW) -> float:
    """Send signed transactions of one sender, in nonce order, keeping at most about
    `window` of them unmined (anvil slows down sharply when thousands wait in its pool);
    return the seconds until the last one's receipt exists."""
    began = time.perf_counter()
    hashes: list[str] = []
    for n, raw in enumerate(raws):
        hashes.append(str(rpc.call("eth_sendRawTransaction", "0x" + raw.hex())))
        if n >= window and n % 8 == 0:
            _await_receipt(rpc, hashes[n - window])
    if hashes:
        _await_receipt(rpc, hashes[-1])
    return time.perf_counter() - began


def _await_receipt(rpc: Rpc, tx_hash: str, timeout: float = 120.0) -> None:
    give_up = time.perf_counter() + timeout
    while rpc.call("eth_getTransactionReceipt", tx_hash) is None:
        if time.perf_counter() > give_up:
            pool = rpc.call("txpool_status")
            raise ChainError(f"{tx_hash} not mined within {timeout} s (txpool {pool})")
        time.sleep(0.0005)


def raw_transfers(rpc_url: str, count: int) -> dict[str, Any]:
    """Pre-sign `count` plain ETH transfers, send them from one client, return tx/s."""
    rpc = Rpc(rpc_url)
    try:
        sender = Account.create()
        rpc.call("anvil_setBalance", sender.address, hex(10**21))
        chain_id = int(rpc.call("eth_chainId"), 16)
        max_fee, tip = _fees(rpc)
        to = Account.create().address
        raws = [
            bytes(
                sender.sign_transaction(
                    {
                        "type": 2,
                        "chainId": chain_id,
                        "nonce": nonce,
                        "to": to,
                        "value": 1,
                        "gas": TRANSFER_GAS,
                        "maxFeePerGas": max_fee,
                        "maxPriorityFeePerGas": tip,
                    }
                ).raw_transaction
            )
            for nonce in range(count)
        ]
        first = int(rpc.call("eth_blockNumber"), 16) + 1
        seconds = _send_all(rpc, raws)
        last = int(rpc.call("eth_blockNumber"), 16)
    finally:
        rpc.close()
    return {
        "transactions": count,
        "blocks": [first, last],  # anvil's pace falls as its chain grows: where it was taken
        "seconds": round(seconds, 4),
        "tx_per_s": count / seconds,
    }


def notarisation_events(
    rpc_url: str,
    registry: Contract,
    domain: Domain,
    notary: LocalAccount,
    count: int,
    per_block: int,
) -> dict[str, Any]:
    """Notarise `count` agreements singly from a second NOTARY account with pre-signed raw
    transactions, `per_block` of them in each block (automine paused, one `evm_mine` per
    block, as a busy chain packs them): the event load of the indexer's backfill."""
    rpc = Rpc(rpc_url)
    try:
        chain_id = int(rpc.call("eth_chainId"), 16)
        nonce = int(rpc.call("eth_getTransactionCount", notary.address, "pending"), 16)
        max_fee, tip = _fees(rpc)
        borrower = Account.create()
        raws = []
        for n in range(count):
            agreement = Agreement(
                digest=hashlib.sha256(f"bench event {notary.address} {n}".encode()).digest(),
                lender=notary.address,
                borrower=borrower.address,
                borrower_commitment=hashlib.sha256(f"bench event borrower {n}".encode()).digest(),
                terms_digest=hashlib.sha256(b"bench event terms").digest(),
            )
            struct = (
                agreement.digest,
                agreement.lender,
                agreement.borrower,
                agreement.borrower_commitment,
                agreement.terms_digest,
                agreement.supersedes,
            )
            data = registry.encode_abi(
                "notarise",
                args=[
                    struct,
                    sign_agreement(agreement, domain, notary.key),
                    sign_agreement(agreement, domain, borrower.key),
                ],
            )
            tx = {
                "type": 2,
                "chainId": chain_id,
                "nonce": nonce + n,
                "to": registry.address,
                "data": data,
                "value": 0,
                "gas": NOTARISE_GAS,
                "maxFeePerGas": max_fee,
                "maxPriorityFeePerGas": tip,
            }
            raws.append(bytes(notary.sign_transaction(tx).raw_transaction))
        first = int(rpc.call("eth_blockNumber"), 16) + 1
        began = time.perf_counter()
        rpc.call("evm_setAutomine", False)
        try:
            for start in range(0, len(raws), per_block):
                hashes = [
                    str(rpc.call("eth_sendRawTransaction", "0x" + raw.hex()))
                    for raw in raws[start : start + per_block]
                ]
                rpc.call("evm_mine")
        finally:
            rpc.call("evm_setAutomine", True)
        if raws:
            _await_receipt(rpc, hashes[-1])
        seconds = time.perf_counter() - began
        last = int(rpc.call("eth_blockNumber"), 16)
    finally:
        rpc.close()
    return {
        "transactions": count,
        "blocks": last - first + 1,
        "per_block": per_block,
        "seconds": round(seconds, 4),
    }


def gas_per_document(rpc_url: str, registry: Contract, tx_hash: str) -> dict[str, Any]:
    """Return the gas of a notarising transaction and the documents it anchored (one per
    AgreementNotarised event, `count` per BatchAnchored event), from its receipt."""
    rpc = Rpc(rpc_url)
    try:
        receipt = rpc.call("eth_getTransactionReceipt", tx_hash)
    finally:
        rpc.close()
    if receipt is None:
        raise ChainError(f"no receipt for {tx_hash}")
    topics = _topics([registry])
    documents = 0
    for entry in receipt["logs"]:
        found = topics.get(bytes.fromhex(entry["topics"][0][2:])) if entry["topics"] else None
        if found is None or found[0].address.lower() != str(entry["address"]).lower():
            continue
        if found[1] == "AgreementNotarised":
            documents += 1
        elif found[1] == "BatchAnchored":
            documents += int(str(entry["data"])[2:66], 16)  # count, the first data word
    gas = int(receipt["gasUsed"], 16)
    if documents == 0:
        raise ChainError(f"transaction {tx_hash} anchored no document")
    return {"tx_hash": tx_hash, "gas": gas, "documents": documents, "per_document": gas / documents}


def _topics(contracts: Sequence[Contract]) -> dict[bytes, tuple[Contract, str]]:
    topics: dict[bytes, tuple[Contract, str]] = {}
    for contract in contracts:
        abi: list[dict[str, Any]] = [dict(item) for item in contract.abi]
        for item in abi:
            if item.get("type") == "event":
                topic = event_abi_to_log_topic(dict(item))  # type: ignore[arg-type]
                topics[bytes(topic)] = (contract, str(item["name"]))
    return topics


@dataclass(frozen=True)
class Contracts:
    """The three deployed contracts, read-only."""

    registry: Contract
    ledger: Contract
    fundflow: Contract

    @classmethod
    def bind(cls, w3: Web3, registry: str, ledger: str, fundflow: str) -> Contracts:
        """Bind read-only clients of this build to the addresses."""
        from loantrace.chain.fundflow import FundFlowClient
        from loantrace.chain.ledger import LedgerClient
        from loantrace.chain.registry import RegistryClient

        return cls(
            RegistryClient(w3, registry).contract,
            LedgerClient(w3, ledger).contract,
            FundFlowClient(w3, fundflow).contract,
        )


def plain_web3_read(
    w3: Web3, contracts: Contracts, first: int, last: int, step: int
) -> dict[str, Any]:
    """The baseline: `eth_getLogs` over the contracts' addresses in ranges of `step` blocks,
    each log decoded with web3.py's `process_log`; nothing stored."""
    every = [contracts.registry, contracts.ledger, contracts.fundflow]
    topics = _topics(every)
    began = time.perf_counter()
    events = 0
    start = first
    while start <= last:
        end = min(last, start + step - 1)
        params: FilterParams = {
            "fromBlock": start,
            "toBlock": end,
            "address": [c.address for c in every],
        }
        for entry in w3.eth.get_logs(params):
            found = topics.get(bytes(entry["topics"][0])) if entry["topics"] else None
            if found is not None:
                getattr(found[0].events, found[1])().process_log(entry)
                events += 1
        start = end + 1
    seconds = time.perf_counter() - began
    return {"events": events, "seconds": round(seconds, 4), "events_per_s": events / seconds}


def indexer_backfill(
    rpc_url: str, database_url: str, addresses: tuple[str, str, str], start_block: int
) -> dict[str, Any]:
    """Backfill a fresh database with the Indexer service (wired read-only, as `loantrace
    index --once` with LOANTRACE_READ_ONLY does); time the indexing pass alone."""
    from loantrace.bootstrap_auditor import AuditorRuntime
    from loantrace.settings import Settings

    settings = Settings(
        mode="dev",
        rpc_url=rpc_url,
        database_url=database_url,
        read_only=True,
        registry_address=addresses[0],
        ledger_address=addresses[1],
        fundflow_address=addresses[2],
        ledger_start_block=start_block,
    )
    runtime = AuditorRuntime.start(settings)
    try:
        head = int(runtime.node.w3.eth.block_number)
        began = time.perf_counter()
        events = 0
        while runtime.indexer.indexed_to() < head:
            run = runtime.indexer.run_once()
            events += run.events
            if run.to_block < run.from_block:  # no progress (confirmations): stop
                break
        seconds = time.perf_counter() - began
    finally:
        runtime.close()
    return {
        "from_block": start_block,
        "to_block": head,
        "events": events,
        "seconds": round(seconds, 4),
        "events_per_s": events / seconds if seconds else 0.0,
        "max_range": settings.index_max_range,
    }
