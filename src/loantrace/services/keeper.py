"""The service's own keeper: perform due upkeep, read every reminder raised, deliver them."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine

from loantrace.chain.ledger import LedgerClient, RaisedReminder
from loantrace.domain.delinquency import Stage
from loantrace.domain.webhooks import ReminderEvent
from loantrace.services.indexer import Indexer
from loantrace.services.webhooks import DeliveryStats, WebhookService
from loantrace.store.db import read_cursor, save_cursor
from loantrace.store.models import ChainEventRow

log = logging.getLogger(__name__)

PAGE = 200  # the contract's MAX_SCAN
ROUNDS_PER_PAGE = 20  # bounds one run: at most 20 x 32 reminders per page of loans


@dataclass(frozen=True)
class KeeperRound:
    """What one keeper run did."""

    upkeeps_performed: int
    reminders_recorded: int
    scanned_to_block: int
    deliveries: DeliveryStats


def reminder_of(row: ChainEventRow) -> RaisedReminder:
    """Read an indexed `ReminderRaised` event."""
    args = json.loads(row.args_json)
    return RaisedReminder(
        tx_hash=row.tx_hash,
        log_index=row.log_index,
        block_number=row.block_number,
        loan_id=args["loanId"],
        lender=args["lender"],
        instalment=int(args["instalment"]),
        stage=int(args["stage"]),
        due_at=int(args["dueAt"]),
        amount_due=int(args["amountDue"]),
        days_past_due=int(args["daysPastDue"]),
    )


def to_event(chain_id: int, reminder: RaisedReminder) -> ReminderEvent:
    """Turn a decoded chain event into the delivery payload."""
    return ReminderEvent(
        chain_id=chain_id,
        tx_hash=reminder.tx_hash,
        log_index=reminder.log_index,
        block_number=reminder.block_number,
        loan_id=reminder.loan_id,
        lender=reminder.lender,
        instalment=reminder.instalment,
        stage=reminder.stage,
        stage_name=Stage(reminder.stage).name.lower(),
        due_at=reminder.due_at,
        amount_due=reminder.amount_due,
        days_past_due=reminder.days_past_due,
    )


class Keeper:
    """Run checkUpkeep/performUpkeep, then read reminders from the chain and deliver them.

    Reminders are read back from the chain's event log from a persisted cursor, not only from
    our own transactions: reminders raised by any external keeper are delivered too, and a
    crash between performing and recording loses nothing.
    """

    def __init__(
        self,
        *,
        ledger: LedgerClient,
        engine: Engine,
        webhooks: WebhookService,
        indexer: Indexer,
        chain_id: int,
        start_block: int,
        cursor_name: str = "reminders",
        replace_stuck_after: float | None = None,
    ) -> None:
        self._ledger = ledger
        self._stuck_after = replace_stuck_after
        self._indexer = indexer
        self._engine = engine
        self._webhooks = webhooks
        self._chain_id = chain_id
        self._start_block = start_block
        self._cursor_name = cursor_name
        self._lock = threading.Lock()

    def run_once(self) -> KeeperRound:
        """Resend lost transactions, perform due upkeep, record reminders, deliver."""
        with self._lock:
            self._ledger.transactor.resend_pending(stuck_after=self._stuck_after)
            performed = self._perform()
            recorded, scanned_to = self._scan()
            stats = self._webhooks.deliver_due()
        if performed or recorded or stats.delivered or stats.dead:
            log.info("keeper: %s upkeeps, %s reminders, deliveries %s", performed, recorded, stats)
        return KeeperRound(performed, recorded, scanned_to, stats)

    def run_forever(self, interval: float, stop: threading.Event) -> None:
        """Run until `stop` is set, one round every `interval` seconds; survive failures."""
        while not stop.is_set():
            try:
                self.run_once()
            except Exception:
                log.exception("keeper round failed; retrying after the interval")
            stop.wait(interval)

    def _perform(self) -> int:
        performed = 0
        for start in range(0, self._ledger.loan_count(), PAGE):
            for _ in range(ROUNDS_PER_PAGE):
                upkeep = self._ledger.check_upkeep(start, PAGE)
                if not upkeep.needed:
                    break
                result = self._ledger.perform_upkeep(upkeep.perform_data)
                performed += 1
                if not self._ledger.reminders_in(result):
                    break  # another keeper got there first: nothing left on this page
        return performed

    def _scan(self) -> tuple[int, int]:
        """Record the reminders the indexer has confirmed since the cursor.

        Only the index is read: its blocks are confirmed (the configured depth) and repaired
        after reorganisations, so an orphaned reminder is never delivered. When a reorg moved
        the index back, the scan goes back with it; a reminder mined again keeps its
        idempotency key (chain, loan, instalment, stage), so it is recorded once.
        """
        indexed_to = self._indexer.run_once().to_block
        cursor = min(self._cursor(), indexed_to)
        rows = self._indexer.events_after(
            contract=self._ledger.address, event="ReminderRaised", after_block=cursor
        )
        reminders = [reminder_of(r) for r in rows if r.block_number <= indexed_to]
        recorded = self.record(reminders)
        self._save_cursor(indexed_to)
        return recorded, indexed_to

    def record(self, reminders: Sequence[RaisedReminder]) -> int:
        """Record reminders (idempotent) and queue their deliveries; return how many were new."""
        if not reminders:
            return 0
        return self._webhooks.record_reminders([to_event(self._chain_id, r) for r in reminders])

    def _cursor(self) -> int:
        saved = read_cursor(self._engine, name=self._cursor_name)
        return saved if saved is not None else self._start_block - 1

    def _save_cursor(self, block_number: int) -> None:
        save_cursor(self._engine, name=self._cursor_name, block_number=block_number)
