"""Ports: the plain data and the interfaces use cases need from storage.

`services/` depend on these, `store/` implements them, and tests may implement them with
fakes; neither services nor store import each other through them.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self


class UnitOfWork(Protocol):
    """One transaction: what is done inside `with` commits together, or not at all."""

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
