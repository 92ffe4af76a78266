"""Bound how many requests may wait on the node, so a slow node cannot take every thread.

Most route handlers are synchronous and run in the server's thread pool (40 threads). A route
that talks to the node declares `ChainBound`: before it takes a thread it must take one of
`chain_concurrency` slots, waiting at most `chain_queue_seconds`, else it is answered 503 at
once. A hung node can then hold at most that many threads, and routes that need only the
database (webhooks, reminders, typed data), `/healthz` and `/readyz` keep theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import Depends, Request

from loantrace.domain.errors import Unavailable


class ChainGate:
    """A counted set of slots for requests bound to the node."""

    def __init__(self, slots: int, wait_seconds: float) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        self._semaphore = asyncio.Semaphore(slots)

    async def acquire(self) -> None:
        """Take a slot or raise Unavailable after `wait_seconds`."""
        if not self._semaphore.locked():
            await self._semaphore.acquire()  # a free slot: taken at once, no timer
            return
        try:
            await asyncio.wait_for(self._semaphore.acquire(), self.wait_seconds)
        except TimeoutError:
            raise Unavailable(
                f"all {self.slots} requests allowed to wait on the chain node are waiting; "
                "retry shortly"
            ) from None

    def release(self) -> None:
        """Give a slot back."""
        self._semaphore.release()


async def _chain_slot(request: Request) -> AsyncIterator[None]:
    gate: ChainGate = request.app.state.chain_gate
    await gate.acquire()
    try:
        yield
    finally:
        gate.release()


ChainBound = Depends(_chain_slot)
