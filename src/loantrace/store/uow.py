"""A unit of work over one database transaction: commit on success, roll back on error."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.engine import Engine
from sqlmodel import Session


class SqlUnitOfWork:
    """Opens a session on `__enter__`; subclasses build their repositories in `_open`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._session: Session | None = None

    def _open(self, session: Session) -> None:
        """Bind the subclass's repositories to `session`."""

    def _close(self) -> None:
        """Drop the subclass's repositories."""

    def _commit(self, session: Session) -> None:
        """Commit; a subclass may translate what the database refuses."""
        session.commit()

    def __enter__(self) -> Self:
        self._session = Session(self._engine, expire_on_commit=False)
        self._open(self._session)
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
            self._session.close()
            self._session = None
            self._close()


def outside(name: str) -> RuntimeError:
    """The error for a repository used outside its `with` block."""
    return RuntimeError(f"use {name} inside the unit of work's `with` block")
