"""The system under test of `loantrace bench`: its own anvil, a throwaway database, the
contracts deployed by a dev runtime, and a real `loantrace serve` process in dev mode."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx
from eth_account import Account
from eth_account.signers.local import LocalAccount

from loantrace.chain.localnode import free_port
from loantrace.domain.agreement import Domain
from loantrace.domain.errors import ConfigurationError

POSTGRES_ADMIN_URL = os.environ.get(
    "LOANTRACE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Limits that would otherwise throttle the benchmark's own clients (they are per-deployment
# policy, not the cost being measured); everything else is the service's default.
SERVICE_OVERRIDES = {
    "LOANTRACE_RATE_LIMIT": "10000000/minute",
    "LOANTRACE_ANONYMOUS_RATE_LIMIT": "10000000/minute",
    "LOANTRACE_LOG_LEVEL": "WARNING",
}


@contextmanager
def throwaway_database(kind: str, directory: Path, name: str) -> Iterator[str]:
    """Yield the URL of a new empty database (a SQLite file, or a PostgreSQL database
    created on 127.0.0.1 and dropped afterwards)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / f'{name}.db'}"
        return
    from sqlalchemy import create_engine, text

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    database = f"loantrace_bench_{name}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{database}"'))
    except Exception as exc:
        admin.dispose()
        raise ConfigurationError(f"PostgreSQL unavailable at {POSTGRES_ADMIN_URL}: {exc}") from exc
    try:
        yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class Deployed:
    """What a dev runtime deployed, and the accounts the benchmark signs with."""

    registry: str
    ledger: str
    fundflow: str
    start_block: int
    lender: str
    notary_key: str
    domain: Domain
    events_notary: LocalAccount  # a second NOTARY, for the indexer's event load


def deploy(rpc_url: str, database_url: str, admin_key: str) -> Deployed:
    """Deploy the contracts as `loantrace serve` would in dev mode, into `database_url`, and
    grant NOTARY to a second account of the benchmark's own."""
    from loantrace.bootstrap import Runtime
    from loantrace.chain.registry import RegistryClient, revert_decoder
    from loantrace.chain.signers import LocalSigner
    from loantrace.chain.transactor import Transactor
    from loantrace.services.indexer import CURSOR
    from loantrace.settings import DEV_DEPLOYER_KEY, Settings
    from loantrace.store.db import read_cursor

    settings = Settings(mode="dev", rpc_url=rpc_url, database_url=database_url, admin_key=admin_key)
    runtime = Runtime.start(settings)
    try:
        cursor = read_cursor(runtime.engine, name=CURSOR)
        if cursor is None:
            raise ConfigurationError("the deploying runtime saved no indexer cursor")
        admin = Transactor(
            runtime.node.w3, LocalSigner.from_key(DEV_DEPLOYER_KEY), revert_decoder()
        )
        events_notary = Account.create()
        runtime.node.fund_for_dev(events_notary)
        RegistryClient(runtime.node.w3, runtime.registry.address, admin).grant_notary(
            events_notary.address
        )
        return Deployed(
            registry=runtime.registry.address,
            ledger=runtime.ledger.address,
            fundflow=runtime.fundflow.address,
            start_block=cursor + 1,
            lender=runtime.notary.lender,
            notary_key="0x" + bytes(runtime.account.key).hex(),
            domain=runtime.registry.domain,
            events_notary=events_notary,
        )
    finally:
        runtime.close()


def service_env(
    rpc_url: str, database_url: str, deployed: Deployed, admin_key: str
) -> dict[str, str]:
    """The environment of a `loantrace serve` sharing the deployment and its database."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "LOANTRACE_MODE": "dev",
        "LOANTRACE_RPC_URL": rpc_url,
        "LOANTRACE_DATABASE_URL": database_url,
        "LOANTRACE_NOTARY_KEY": deployed.notary_key,
        "LOANTRACE_REGISTRY_ADDRESS": deployed.registry,
        "LOANTRACE_LEDGER_ADDRESS": deployed.ledger,
        "LOANTRACE_FUNDFLOW_ADDRESS": deployed.fundflow,
        "LOANTRACE_LEDGER_START_BLOCK": str(deployed.start_block),
        "LOANTRACE_ADMIN_KEY": admin_key,
        **SERVICE_OVERRIDES,
    }


def new_admin_key() -> str:
    """Return a random first-admin token for the service."""
    return secrets.token_urlsafe(32)


def _proc_kib(pid: int, field_name: str) -> int:
    """Return a `/proc/<pid>/status` memory field in KiB (0 if the process is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_tree(pid: int) -> list[int]:
    """Return `pid` and every descendant (uvicorn workers), read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, ValueError, IndexError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            parents.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


@dataclass
class MemoryWatch:
    """Sample the resident memory of a process tree; keep the peak of its sum."""

    pid: int
    interval: float = 0.2
    peak_kib: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def rss_kib(self) -> int:
        """Return the current resident set of the tree (VmRSS summed)."""
        total = sum(_proc_kib(p, "VmRSS") for p in process_tree(self.pid))
        self.peak_kib = max(self.peak_kib, total)
        return total

    def high_water_kib(self) -> int:
        """Return the kernel's peak (VmHWM) of the tree's processes, summed."""
        return sum(_proc_kib(p, "VmHWM") for p in process_tree(self.pid))

    def start(self) -> None:
        """Sample in a daemon thread until `stop`."""

        def loop() -> None:
            while not self._stop.wait(self.interval):
                self.rss_kib()

        self._thread = threading.Thread(target=loop, name="bench-rss", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)


class Service:
    """One `loantrace serve` process on a free port, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out: IO[bytes] = log.open("ab")
        args = [sys.executable, "-m", "loantrace.cli", "serve", "--port", str(self.port)]
        args += ["--workers", str(workers)]
        self._process = subprocess.Popen(args, env=env, stdout=self._out, stderr=subprocess.STDOUT)
        self.memory = MemoryWatch(self._process.pid)

    @property
    def pid(self) -> int:
        """Return the service's process id."""
        return self._process.pid

    def wait_up(self, timeout: float = 120.0) -> float:
        """Wait for /healthz; return the seconds it took; raise if the process exited."""
        began = time.monotonic()
        while time.monotonic() - began < timeout:
            if self._process.poll() is not None:
                raise ConfigurationError(f"loantrace serve exited at start:\n{self.tail()}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    self.memory.start()
                    return time.monotonic() - began
            time.sleep(0.1)
        raise ConfigurationError(f"loantrace serve did not start in {timeout}s:\n{self.tail()}")

    def check_alive(self) -> None:
        """Raise if the service died."""
        if self._process.poll() is not None:
            raise ConfigurationError(f"loantrace serve exited during the run:\n{self.tail()}")

    def stop(self) -> None:
        """Terminate the service (and its workers) and close the log."""
        self.memory.stop()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=30)
        self._out.close()

    def tail(self, lines: int = 40) -> str:
        """Return the end of the service's output."""
        self._out.flush()
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:]) or "(no output)"


def create_lender_key(url: str, admin_key: str, lender: str) -> str:
    """Create a lender API key through the service's admin route; return its token."""
    response = httpx.post(
        f"{url}/v1/keys",
        json={"role": "lender", "lender": lender, "name": "loantrace bench"},
        headers={"Authorization": f"Bearer {admin_key}"},
        timeout=30.0,
    )
    if response.status_code != 201:
        raise ConfigurationError(f"creating an API key failed: {response.status_code}")
    return str(response.json()["token"])
