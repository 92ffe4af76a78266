"""Named locks that hold across threads and processes sharing one database.

On PostgreSQL a session advisory lock (keyed by a hash of the name), on a file SQLite
database an exclusive `flock` on a file beside it, and on an in-memory database (which one
process owns) only the thread lock. Used for one sender per key and one indexer per chain.
"""

from __future__ import annotations

import fcntl
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


class NamedLocks:
    """Cross-process locks by name over one engine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._guard = threading.Lock()
        self._threads: dict[str, threading.RLock] = {}
        database = engine.url.database
        self._directory: Path | None = None
        self._stem = ""
        if engine.dialect.name == "sqlite" and database and database != ":memory:":
            self._directory, self._stem = Path(database).parent, Path(database).name

    @contextmanager
    def held(self, name: str) -> Iterator[None]:
        """Hold the lock `name`; wait while another thread or process holds it."""
        with self._guard:
            thread_lock = self._threads.setdefault(name, threading.RLock())
        with thread_lock:
            if self._engine.dialect.name == "postgresql":
                key = lock_key(name)
                with self._engine.connect() as conn:
                    conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
                    try:
                        yield
                    finally:
                        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                        conn.commit()
            elif self._directory is not None:
                path = self._directory / f"{self._stem}.{_file_part(name)}.lock"
                with path.open("a") as handle:
                    fcntl.flock(handle, fcntl.LOCK_EX)
                    try:
                        yield
                    finally:
                        fcntl.flock(handle, fcntl.LOCK_UN)
            else:
                yield


def lock_key(name: str) -> int:
    """Return the signed 64-bit advisory lock key of `name`."""
    digest = hashlib.sha256(f"loantrace:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _file_part(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]
