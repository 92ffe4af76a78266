"""A unit of work over one database transaction: commit on success, roll back on error."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

# An in-memory SQLite database is one connection (StaticPool) shared by every thread; two
# threads in it at once (concurrent requests, a batch beside them) fail with "cannot commit
# transaction - SQL statements in progress". Its units of work take turns on this lock.
_TURNS: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()
_TURNS_GUARD = threading.Lock()


@contextmanager
def taking_turns(engine: Engine) -> Iterator[None]:
    """Hold `engine`'s turn (an in-memory database's one connection) for a session used
    outside a unit of work; no-op for a pooled engine."""
    turn = _turns(engine)
    if turn is None:
        yield
        return
    with turn:
        yield


def _turns(engine: Engine) -> threading.RLock | None:
    """Return the lock the units of work on a one-connection engine take turns on."""
    if not isinstance(engine.pool, StaticPool):
        return None
    with _TURNS_GUARD:
        return _TURNS.setdefault(engine, threading.RLock())


class SqlUnitOfWork:
    """Opens a session on `__enter__`; subclasses build their repositories in `_open`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._session: Session | None = None
        self._turn = _turns(engine)

    def _open(self, session: Session) -> None:
        """Bind the subclass's repositories to `session`."""

    def _close(self) -> None:
        """Drop the subclass's repositories."""

    def _commit(self, session: Session) -> None:
        """Commit; a subclass may translate what the database refuses."""
        session.commit()

    def __enter__(self) -> Self:
        if self._turn is not None:
            self._turn.acquire()
        try:
            self._session = Session(self._engine, expire_on_commit=False)
            self._open(self._session)
        except BaseException:
            if self._turn is not None:
                self._turn.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        try:
            if exc_type is None:
                self._commit(self._session)
            else:
                self._session.rollback()
        finally:
            try:
                self._session.close()
                self._session = None
                self._close()
            finally:
                if self._turn is not None:
                    self._turn.release()


def outside(name: str) -> RuntimeError:
    """The error for a repository used outside its `with` block."""
    return RuntimeError(f"use {name} inside the unit of work's `with` block")
