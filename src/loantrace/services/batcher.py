"""Close queued agreements into Merkle batches, by size or by age, and anchor them.

One batcher per lender may close batches at a time, across threads and processes (a named
lock over the shared database). A batch is made durable before its root leaves the process:
its agreements, taken in (accepted_at, digest) order, are claimed for the root in the
transaction that stores its manifest. A batcher that stopped after that point (a crash, a
node that timed out) finds the claimed agreements first, rebuilds the very same root from
them and anchors it again, which adopts the transaction already sent for that root (the
outbox intent) or, failing that, the batch found on chain. The queued rows go in the
transaction that records the agreements: nothing accepted is lost, nothing anchored twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby

from loantrace.domain.errors import Conflict
from loantrace.ports.ledger import LedgerUnitOfWork, QueuedAgreement
from loantrace.services.intake import utcnow
from loantrace.services.notary import Notary
from loantrace.services.receipts import signed_of

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True)
class BatcherRun:
    """What one round anchored, and in how many seconds the next batch may be due."""

    batches: int
    agreements: int
    next_due: float | None  # None: nothing waits


class Batcher:
    """Anchor one lender's queued agreements in batches of at most `max_size`, each closed
    when it is full or when its oldest agreement has waited `window_seconds`."""

    def __init__(
        self,
        *,
        notary: Notary,
        uow: Callable[[], LedgerUnitOfWork],
        lock: Callable[[str], AbstractContextManager[None]],
        max_size: int,
        window_seconds: float,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """`lock(name)` holds a lock shared by every process using the same database."""
        if max_size < 1 or window_seconds <= 0:
            raise ValueError("a batch holds at least one agreement and waits a positive time")
        self._notary = notary
        self._uow = uow
        self._lock = lock
        self._max_size = max_size
        self._window = window_seconds
        self._clock = clock
        self._lock_name = f"batch:{notary.domain.chain_id}:{notary.lender.lower()}"
        self._wake = threading.Event()
        self._guard = threading.Lock()
        self._waiting = 0  # queued agreements as last seen, plus those noted since

    @property
    def lender(self) -> str:
        """Return the lender whose queue this batcher closes."""
        return self._notary.lender

    def notify(self) -> None:
        """Note one more agreement queued in this process; wake the loop when the queue was
        empty (its window starts) or may hold a full batch."""
        with self._guard:
            self._waiting += 1
            due = self._waiting == 1 or self._waiting >= self._max_size
        if due:
            self._wake.set()

    def run_once(self) -> BatcherRun:
        """Finish any batch that was claimed but not recorded, then close every due batch."""
        batches = agreements = 0
        with self._lock(self._lock_name):
            for items in self._claimed():
                batches, agreements = batches + 1, agreements + self._anchor(items, claimed=True)
            while True:
                with self._uow() as uow:
                    head = uow.agreements.queue_head(self.lender)
                with self._guard:
                    self._waiting = head.waiting
                if head.waiting == 0 or head.oldest is None:
                    return BatcherRun(batches, agreements, None)
                age = (self._clock() - head.oldest).total_seconds()
                if head.waiting < self._max_size and age < self._window:
                    return BatcherRun(batches, agreements, self._window - age)
                with self._uow() as uow:
                    items = uow.agreements.next_queued(self.lender, self._max_size)
                if self._drop_recorded(items):
                    continue  # the queue changed: look at it again
                batches, agreements = batches + 1, agreements + self._anchor(items)

    def run_forever(self, stop: threading.Event) -> None:
        """Close batches until `stop` is set: at once when woken, else when the oldest
        queued agreement's window ends; poll every window for agreements other processes
        queued; after a failure (node, database) retry with a growing pause."""
        failures = 0
        while not stop.is_set():
            try:
                run = self.run_once()
                failures = 0
                pause = self._window if run.next_due is None else run.next_due
            except Exception:
                failures += 1
                pause = min(self._window * 2**failures, MAX_BACKOFF_SECONDS)
                log.exception("batcher of %s failed; retrying in %.1fs", self.lender, pause)
            self._wake.wait(max(pause, 0.0))
            self._wake.clear()

    def wake(self) -> None:
        """Wake the loop now (to close what is due, or to see that it must stop)."""
        self._wake.set()

    def _claimed(self) -> list[list[QueuedAgreement]]:
        """Return the batches claimed before a stop, each in leaf order."""
        with self._uow() as uow:
            claimed = uow.agreements.assigned(self.lender)
        return [list(group) for _, group in groupby(claimed, key=lambda item: item.batch_root)]

    def _drop_recorded(self, items: list[QueuedAgreement]) -> bool:
        """Remove queued agreements already recorded here (notarised singly meanwhile);
        return whether there were any."""
        with self._uow() as uow:
            known = uow.agreements.known_digests([item.digest for item in items])
            if known:
                uow.agreements.dequeue(sorted(known))
        if known:
            log.warning("dropped queued agreements recorded meanwhile: %s", sorted(known))
        return bool(known)

    def _anchor(self, items: Sequence[QueuedAgreement], *, claimed: bool = False) -> int:
        """Anchor `items` as one batch and record them; return how many were recorded."""
        digests = [item.digest for item in items]
        expected = items[0].batch_root if claimed else None

        def claim(uow: LedgerUnitOfWork, root: str) -> None:
            if claimed:
                if root != expected:  # never send a root other than the one claimed
                    raise Conflict(f"queued batch {expected} rebuilds as {root}")
            elif uow.agreements.assign(digests, root) != len(digests):
                raise Conflict("queued agreements were claimed by another batcher")

        def settle(uow: LedgerUnitOfWork) -> None:
            uow.agreements.dequeue(digests)

        records = self._notary.anchor_signed(
            [(signed_of(item), item.terms_json) for item in items],
            claim=claim,
            settle=settle,
            skip_recorded=True,
        )
        if claimed:
            log.warning("anchored the batch %s claimed before a stop", expected)
        return len(records)
