"""Start and stop a local anvil node (npm @foundry-rs/anvil) on a free loopback port."""

from __future__ import annotations

import subprocess
import time

import httpx

from loantrace.chain.localnode import find_anvil, free_port
from loantrace.domain.errors import ConfigurationError

__all__ = ["Anvil", "find_anvil", "free_port"]


class Anvil:
    """A running anvil process; use as a context manager."""

    def __init__(
        self,
        *,
        chain_id: int = 31337,
        block_time: float | None = None,
        hardfork: str | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [str(find_anvil()), "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--chain-id", str(chain_id), "--silent"]
        if block_time:
            args += ["--block-time", str(block_time)]
        if hardfork:  # e.g. "paris": the rules of a chain without PUSH0
            args += ["--hardfork", hardfork]
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise ConfigurationError(f"anvil exited at start: {err.strip()}")
            try:
                body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
                if httpx.post(self.url, json=body, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise ConfigurationError(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        """Terminate the node."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()

    def __enter__(self) -> Anvil:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
