"""Connect to the embedded chain (eth-tester + py-evm) or to any JSON-RPC node."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import requests
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import ProviderConnectionError, TimeExhausted
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, Wei

from loantrace.domain.errors import ChainError
from loantrace.domain.hexcodec import to_hex

log = logging.getLogger(__name__)

DEV_FUNDING_WEI = 10**21

# What a node that is down or unreachable raises, whatever the call.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    ProviderConnectionError,
    TimeExhausted,
    ConnectionError,
)


@dataclass
class Node:
    """A connected chain and what identifies it."""

    w3: Web3
    chain_id: int
    genesis_hash: str
    embedded: bool
    tester: Any | None = None

    @property
    def label(self) -> str:
        """Describe the node for logs and start-up messages (no credentials)."""
        return "embedded eth-tester chain (in memory)" if self.embedded else "JSON-RPC node"

    def head(self) -> int:
        """Return the latest block number."""
        return int(self.w3.eth.block_number)

    def now(self) -> int:
        """Return the timestamp of the latest block."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_time(self, seconds: int) -> int:
        """Move a development chain's clock forward and mine a block; return its timestamp."""
        target = self.now() + seconds
        if self.embedded:
            self.tester.time_travel(target)  # type: ignore[union-attr]
            self.tester.mine_blocks(1)  # type: ignore[union-attr]
        else:
            self.w3.provider.make_request(RPCEndpoint("evm_setNextBlockTimestamp"), [target])
            self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])
        return self.now()

    def fund_for_dev(self, account: LocalAccount) -> None:
        """Give `account` ether on a development chain (embedded or anvil); no-op elsewhere."""
        if self.w3.eth.get_balance(account.address) >= DEV_FUNDING_WEI // 10:
            return
        if self.embedded:
            faucet = self.w3.eth.accounts[0]
            tx = self.w3.eth.send_transaction(
                {"from": faucet, "to": account.address, "value": Wei(DEV_FUNDING_WEI)}
            )
            self.w3.eth.wait_for_transaction_receipt(tx, poll_latency=0.01)
            return
        try:
            method = RPCEndpoint("anvil_setBalance")
            self.w3.provider.make_request(method, [account.address, hex(DEV_FUNDING_WEI)])
        except Exception as exc:
            raise ChainError(f"cannot fund {account.address} on this node: {exc}") from exc


def connect(rpc_url: str | None, *, timeout: float = 30.0) -> Node:
    """Connect to `rpc_url`, or start an embedded in-memory chain when it is None."""
    if rpc_url is None:
        from eth_tester import EthereumTester, PyEVMBackend

        tester = EthereumTester(PyEVMBackend())
        w3 = Web3(EthereumTesterProvider(tester))
        return _identify(w3, embedded=True, tester=tester)
    w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))
    try:
        return _identify(w3, embedded=False)
    except ChainError:
        raise
    except Exception as exc:
        raise ChainError(f"cannot reach the JSON-RPC node: {type(exc).__name__}") from exc


def _identify(w3: Web3, *, embedded: bool, tester: Any | None = None) -> Node:
    chain_id = int(w3.eth.chain_id)
    genesis = w3.eth.get_block(0)
    genesis_hash = to_hex(bytes(genesis["hash"]))
    log.info("connected chain_id=%s genesis=%s embedded=%s", chain_id, genesis_hash, embedded)
    return Node(
        w3=w3, chain_id=chain_id, genesis_hash=genesis_hash, embedded=embedded, tester=tester
    )
