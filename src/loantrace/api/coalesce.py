"""One piece of work for many concurrent requests: callers wait, a batch runs for them all.

Verification by digest is a store read and a chain read per request; done one request at a
time, nearly all of its cost is the fixed price of a thread hop, a query, a JSON-RPC round
trip and their encodings. A `Coalescer` gathers the keys of the requests waiting now, runs
the synchronous batch function once for all of them in a worker thread, and hands each caller
its own answer. While a batch runs, the next one gathers, so batches grow with the load and
nothing waits for a timer: one caller alone is served at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

import anyio.to_thread

from loantrace.domain.errors import Unavailable

K = TypeVar("K")
V = TypeVar("V")


class Coalescer(Generic[K, V]):
    """Run `work(keys) -> answers` (same order) for the keys of concurrent `submit` calls.

    At most `in_flight` batches run at once, each of at most `max_batch` keys; a caller that
    would make more than `max_waiting` keys wait is answered 503 at once (back-pressure).
    An exception raised by `work` reaches every caller of that batch.
    """

    def __init__(
        self,
        work: Callable[[Sequence[K]], Sequence[V]],
        *,
        max_batch: int = 128,
        in_flight: int = 2,
        max_waiting: int = 4_096,
        what: str = "requests",
    ) -> None:
        if max_batch < 1 or in_flight < 1 or max_waiting < 1:
            raise ValueError("max_batch, in_flight and max_waiting must be positive")
        self._work = work
        self.max_batch = max_batch
        self.in_flight = in_flight
        self.max_waiting = max_waiting
        self._what = what  # named in the 503
        self._pending: list[tuple[K, asyncio.Future[V]]] = []
        self._runners: set[asyncio.Task[None]] = set()  # references, so none is collected
        # Runners that will still look at `_pending`: counted here, not by the task set, which
        # learns of a finished task only a loop turn later (a key queued in that turn would
        # wait for a runner that has already left).
        self._active = 0
        self.batches = 0  # batches run so far (a test and a metric read it)

    async def submit(self, key: K) -> V:
        """Wait for the answer to `key`, computed in a batch with other callers' keys."""
        if len(self._pending) >= self.max_waiting:
            raise Unavailable(f"{self.max_waiting} {self._what} are waiting; retry shortly")
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._pending.append((key, future))
        if self._active < self.in_flight:
            self._active += 1
            runner = asyncio.create_task(self._run())
            self._runners.add(runner)
            runner.add_done_callback(self._runners.discard)
        return await future

    async def _run(self) -> None:
        try:
            await self._drain()
        finally:  # no await between the last look at `_pending` and this
            self._active -= 1

    async def _drain(self) -> None:
        while self._pending:
            taken = self._pending[: self.max_batch]
            del self._pending[: self.max_batch]
            live = [(key, future) for key, future in taken if not future.done()]
            if not live:
                continue  # every caller of this batch went away
            self.batches += 1
            keys = [key for key, _ in live]
            try:
                answers = await anyio.to_thread.run_sync(self._work, keys)
                if len(answers) != len(keys):
                    raise RuntimeError(f"{len(keys)} keys, {len(answers)} answers")
            except Exception as exc:
                _fail(live, exc)
                continue
            except BaseException:  # cancelled (shutdown): no caller may wait forever
                stopping = Unavailable("the service is stopping; retry shortly")
                _fail(live, stopping)
                _fail(self._pending, stopping)
                self._pending.clear()
                raise
            for (_key, future), answer in zip(live, answers, strict=True):
                if not future.done():
                    future.set_result(answer)


def _fail(waiting: list[tuple[K, asyncio.Future[V]]], exc: BaseException) -> None:
    for _key, future in waiting:
        if not future.done():
            future.set_exception(exc)
