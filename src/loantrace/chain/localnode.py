"""The default chain of `loantrace serve`: a local anvil node whose state lives in the data
directory, so agreements survive restarts (and a SIGKILL: the state is written every
second, and the outbox resends whatever the last write missed).

Each data directory gets its own random chain id, fixed at creation, so a receipt from
another (or a deleted) data directory names another chain instead of looking forged.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

import httpx

from loantrace.domain.errors import ConfigurationError

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_PR_SET_PDEATHSIG = 1
STATE_INTERVAL_SECONDS = 1


def find_anvil(root: Path | None = None) -> Path:
    """Locate the anvil binary from node_modules (npm @foundry-rs/anvil) or PATH."""
    arch = _ARCH.get(platform.machine().lower(), platform.machine())
    system = platform.system().lower()
    bases = [root] if root else [Path.cwd(), *Path(__file__).resolve().parents]
    for base in bases:
        candidate = (
            base / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
        )
        if candidate.is_file():
            return candidate
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise ConfigurationError(
        "anvil not found: run `npm install` (package @foundry-rs/anvil), put anvil on PATH, "
        "or set LOANTRACE_RPC_URL to a node"
    )


def free_port() -> int:
    """Return a TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to send SIGTERM to this process when its parent dies, even by SIGKILL (the
    node of `serve`: anvil writes its state on SIGTERM; and `serve`'s API workers)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalNode:
    """A persistent anvil node under `data_dir/chain`; one `serve` per data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.directory = data_dir / "chain"
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock: IO[str] = (self.directory / "serve.lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                f"another loantrace process is serving {data_dir}: one at a time per directory"
            ) from None
        self.chain_id = self._chain_id()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        state = self.directory / "state.json"
        args = [str(find_anvil()), "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--chain-id", str(self.chain_id), "--state", str(state)]
        args += ["--state-interval", str(STATE_INTERVAL_SECONDS), "--silent"]
        self._process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=die_with_parent,
        )
        self._wait_ready()

    @property
    def database_url(self) -> str:
        """Return the SQLite database that belongs with this chain."""
        return f"sqlite:///{self.directory.parent / 'loantrace.db'}"

    def _chain_id(self) -> int:
        path = self.directory / "chain-id"
        if not path.exists():
            # Random, above every public chain's id, below 2**48 (wallets and JS numbers).
            chosen = 10**12 + secrets.randbelow(2**48 - 10**12)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w") as handle:
                handle.write(str(chosen))
        return int(path.read_text().strip())

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                raise ConfigurationError(f"the local chain (anvil) exited at start: {err[-300:]}")
            try:
                if httpx.post(self.url, json=body, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        self.stop()
        raise ConfigurationError(f"the local chain did not answer on {self.url} in {timeout}s")

    def stop(self) -> None:
        """Stop the node (it writes its state on the way out) and free the directory."""
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
        self._lock.close()
