"""In-memory fakes of the storage ports, so a use case can be tested without a database."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from loantrace.ports.ledger import (
    AgreementRecord,
    BatchRecord,
    DuplicateRecord,
    IndexedEvent,
    LoanRequest,
    MovementRequest,
    QueuedAgreement,
    QueueHead,
)
from loantrace.ports.webhooks import Attempt, Delivery, Reminder, Secrets, Webhook

TablesT = TypeVar("TablesT")


class Store(Protocol[TablesT]):
    """A fake database: committed tables, a commit counter, an optional injected failure."""

    tables: TablesT
    commits: int
    fail_on: str | None


def _maybe_fail(fail_on: str | None, operation: str) -> None:
    if fail_on == operation:
        raise OSError(f"the store failed half-way, at {operation}")


class CopyOnCommit(Generic[TablesT]):
    """A unit of work over a deep copy of the store's tables, swapped in on commit, so a
    failure anywhere (`fail_on` may name "commit" too) changes nothing."""

    def __init__(self, store: Store[TablesT]) -> None:
        self._store = store
        self._tables: TablesT | None = None

    def _working(self) -> TablesT:
        assert self._tables is not None, "use the unit of work inside `with`"
        return self._tables

    def __enter__(self) -> Self:
        self._tables = copy.deepcopy(self._store.tables)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tables, self._tables = self._tables, None
        if exc_type is None and tables is not None:
            _maybe_fail(self._store.fail_on, "commit")
            self._store.tables = tables
            self._store.commits += 1


@dataclass
class WebhookTables:
    """The committed state of the fake store."""

    webhooks: dict[int, tuple[Webhook, Secrets]] = field(default_factory=dict)
    reminders: dict[int, Reminder] = field(default_factory=dict)
    deliveries: dict[int, Delivery] = field(default_factory=dict)
    next_id: int = 1


class FakeWebhookRepository:
    """The repository over a working copy of the tables."""

    def __init__(self, tables: WebhookTables, fail_on: str | None = None) -> None:
        self.tables = tables
        self._fail_on = fail_on

    def _id(self) -> int:
        self.tables.next_id += 1
        return self.tables.next_id - 1

    def add_webhook(self, *, lender: str, url: str, secret_encrypted: str, at: datetime) -> Webhook:
        hook = Webhook(self._id(), lender, url, True, at)
        self.tables.webhooks[hook.id] = (hook, Secrets(secret_encrypted))
        return hook

    def webhook(self, webhook_id: int) -> Webhook | None:
        found = self.tables.webhooks.get(webhook_id)
        return None if found is None else found[0]

    def secret_of(self, webhook_id: int) -> str:
        return self.tables.webhooks[webhook_id][1].current

    def secrets_of(self, webhook_id: int) -> Secrets:
        return self.tables.webhooks[webhook_id][1]

    def rotate(self, webhook_id: int, secrets: Secrets) -> None:
        hook, _ = self.tables.webhooks[webhook_id]
        self.tables.webhooks[webhook_id] = (hook, secrets)

    def deactivate(self, webhook_id: int) -> None:
        hook, secrets = self.tables.webhooks[webhook_id]
        self.tables.webhooks[webhook_id] = (replace(hook, active=False), secrets)

    def webhooks_of(self, lender: str) -> list[Webhook]:
        return [h for h in self.active_webhooks(lender)]

    def active_webhooks(self, lender: str) -> list[Webhook]:
        return [h for h, _ in self.tables.webhooks.values() if h.lender == lender and h.active]

    def known_reminders(self, keys: Sequence[str]) -> set[str]:
        recorded = {r.idempotency_key for r in self.tables.reminders.values()}
        return recorded & set(keys)

    def add_reminder(self, reminder: Reminder, at: datetime) -> int:
        stored = replace(reminder, id=self._id())
        self.tables.reminders[stored.id] = stored
        return stored.id

    def add_delivery(
        self, *, webhook_id: int, reminder_id: int, idempotency_key: str, at: datetime
    ) -> None:
        _maybe_fail(self._fail_on, "add_delivery")
        delivery = Delivery(
            self._id(), webhook_id, reminder_id, idempotency_key, "pending", 0, at, None, None, None
        )
        self.tables.deliveries[delivery.id] = delivery

    def due(self, now: datetime, limit: int) -> list[tuple[Delivery, Reminder, Webhook]]:
        pending = sorted(
            (d for d in self.tables.deliveries.values() if d.status == "pending"),
            key=lambda d: (d.next_attempt_at, d.id),
        )
        return [
            (d, self.tables.reminders[d.reminder_id], self.tables.webhooks[d.webhook_id][0])
            for d in pending
            if d.next_attempt_at <= now
        ][:limit]

    def save_attempt(self, delivery_id: int, attempt: Attempt) -> Delivery:
        old = self.tables.deliveries[delivery_id]
        new = replace(
            old,
            attempts=old.attempts + 1,
            status=attempt.status,
            last_status_code=attempt.status_code,
            last_error=attempt.error,
            delivered_at=attempt.at if attempt.status == "delivered" else old.delivered_at,
            next_attempt_at=attempt.next_attempt_at or old.next_attempt_at,
        )
        self.tables.deliveries[delivery_id] = new
        return new

    def deliveries(
        self, webhook_id: int, *, limit: int, offset: int
    ) -> list[tuple[Delivery, Reminder]]:
        mine = [d for d in sorted(self.tables.deliveries.values(), key=lambda d: d.id)]
        picked = [d for d in mine if d.webhook_id == webhook_id][offset : offset + limit]
        return [(d, self.tables.reminders[d.reminder_id]) for d in picked]

    def reminders_of(self, loan_id: str) -> list[Reminder]:
        found = [r for r in self.tables.reminders.values() if r.loan_id == loan_id]
        return sorted(found, key=lambda r: (r.block_number, r.log_index))


class FakeWebhookUnitOfWork(CopyOnCommit[WebhookTables]):
    """The webhook repository over a copy of the tables."""

    @property
    def webhooks(self) -> FakeWebhookRepository:
        return FakeWebhookRepository(self._working(), self._store.fail_on)


@dataclass
class FakeStore:
    """The fake database: its tables, a commit counter and an optional injected failure."""

    tables: WebhookTables = field(default_factory=WebhookTables)
    commits: int = 0
    fail_on: str | None = None

    def uow(self) -> FakeWebhookUnitOfWork:
        return FakeWebhookUnitOfWork(self)


# The ledger port: agreements and batches, loans, movements, indexed events.


@dataclass
class LedgerTables:
    """The committed state of the fake ledger store."""

    agreements: dict[str, AgreementRecord] = field(default_factory=dict)
    batches: dict[str, BatchRecord] = field(default_factory=dict)
    manifests: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # sha256 -> root, body
    queued: dict[str, QueuedAgreement] = field(default_factory=dict)
    loans: dict[str, LoanRequest] = field(default_factory=dict)
    movements: dict[int, MovementRequest] = field(default_factory=dict)
    events: list[tuple[int, str, IndexedEvent]] = field(default_factory=list)  # chain, loan
    next_id: int = 1


class FakeAgreementRepository:
    """Agreements and batches over a working copy; digests and agreement ids are unique."""

    def __init__(self, tables: LedgerTables, fail_on: str | None = None) -> None:
        self.tables = tables
        self._fail_on = fail_on

    def get(self, digest: str) -> AgreementRecord | None:
        return self.tables.agreements.get(digest)

    def get_many(self, digests: Sequence[str]) -> dict[str, AgreementRecord]:
        found = (self.tables.agreements.get(d) for d in digests)
        return {record.digest: record for record in found if record is not None}

    def of_borrower(self, borrower: str) -> list[AgreementRecord]:
        wanted = borrower.lower()
        return [a for a in self.tables.agreements.values() if a.borrower.lower() == wanted]

    def by_agreement_id(self, agreement_id: str) -> AgreementRecord | None:
        found = (a for a in self.tables.agreements.values() if a.agreement_id == agreement_id)
        return next(found, None)

    def known_digests(self, digests: Sequence[str]) -> set[str]:
        return set(digests) & set(self.tables.agreements)

    def add(self, records: Sequence[AgreementRecord]) -> None:
        _maybe_fail(self._fail_on, "add_agreements")
        for record in records:
            ids = {a.agreement_id for a in self.tables.agreements.values() if a.agreement_id}
            if record.digest in self.tables.agreements or record.agreement_id in ids:
                raise DuplicateRecord(f"agreement {record.digest}")
            self.tables.agreements[record.digest] = record

    def add_batch(self, batch: BatchRecord) -> None:
        _maybe_fail(self._fail_on, "add_batch")
        if batch.root in self.tables.batches:
            raise DuplicateRecord(f"batch {batch.root}")
        self.tables.batches[batch.root] = batch

    def put_manifest(self, sha256: str, root: str, lender: str, body: bytes) -> None:
        _maybe_fail(self._fail_on, "put_manifest")
        self.tables.manifests.setdefault(sha256, (root, body))

    def manifest(self, sha256: str) -> bytes | None:
        found = self.tables.manifests.get(sha256)
        return None if found is None else found[1]

    def manifest_of_root(self, root: str) -> tuple[str, bytes] | None:
        found = ((h, body) for h, (r, body) in self.tables.manifests.items() if r == root)
        return next(found, None)

    def mark_superseded(self, digest: str, successor: str) -> None:
        _maybe_fail(self._fail_on, "mark_superseded")
        old = self.tables.agreements.get(digest)
        if old is not None:
            new = replace(old, status="superseded", superseded_by=successor)
            self.tables.agreements[digest] = new

    def mark_revoked(self, digest: str, reason: int) -> None:
        _maybe_fail(self._fail_on, "mark_revoked")
        old = self.tables.agreements.get(digest)
        if old is not None:
            self.tables.agreements[digest] = replace(old, status="revoked", revoke_reason=reason)

    def queued(self, digest: str) -> QueuedAgreement | None:
        return self.tables.queued.get(digest)

    def queued_many(self, digests: Sequence[str]) -> dict[str, QueuedAgreement]:
        return {d: self.tables.queued[d] for d in digests if d in self.tables.queued}

    def enqueue(self, items: Sequence[QueuedAgreement]) -> None:
        _maybe_fail(self._fail_on, "enqueue")
        digests = [item.digest for item in items]
        if len(set(digests)) != len(digests) or set(digests) & self.tables.queued.keys():
            raise DuplicateRecord(f"queued agreements {digests}")
        self.tables.queued.update((item.digest, item) for item in items)

    def _waiting(self, lender: str) -> list[QueuedAgreement]:
        mine = [q for q in self.tables.queued.values() if q.lender == lender]
        return sorted(
            (q for q in mine if q.batch_root is None), key=lambda q: (q.accepted_at, q.digest)
        )

    def queue_head(self, lender: str) -> QueueHead:
        waiting = self._waiting(lender)
        return QueueHead(len(waiting), waiting[0].accepted_at if waiting else None)

    def next_queued(self, lender: str, limit: int) -> list[QueuedAgreement]:
        return self._waiting(lender)[:limit]

    def assign(self, digests: Sequence[str], root: str) -> int:
        _maybe_fail(self._fail_on, "assign")
        assigned = 0
        for digest in digests:
            item = self.tables.queued.get(digest)
            if item is not None and item.batch_root is None:
                self.tables.queued[digest] = replace(item, batch_root=root)
                assigned += 1
        return assigned

    def assigned(self, lender: str) -> list[QueuedAgreement]:
        mine = [q for q in self.tables.queued.values() if q.lender == lender and q.batch_root]
        return sorted(mine, key=lambda q: (q.batch_root or "", q.accepted_at, q.digest))

    def dequeue(self, digests: Sequence[str]) -> None:
        _maybe_fail(self._fail_on, "dequeue")
        for digest in digests:
            self.tables.queued.pop(digest, None)


class FakeLoanRepository:
    """Loans over a working copy; a loan id is stored once."""

    def __init__(self, tables: LedgerTables, fail_on: str | None = None) -> None:
        self.tables = tables
        self._fail_on = fail_on

    def get(self, loan_id: str) -> LoanRequest | None:
        return self.tables.loans.get(loan_id)

    def by_digest(self, digest: str) -> LoanRequest | None:
        return next((n for n in self.tables.loans.values() if n.digest == digest), None)

    def add(self, loan: LoanRequest) -> None:
        _maybe_fail(self._fail_on, "add_loan")
        if loan.loan_id in self.tables.loans:
            raise DuplicateRecord(f"loan {loan.loan_id}")
        self.tables.loans[loan.loan_id] = loan


class FakeMovementRepository:
    """Movements over a working copy; a lender's external reference names one movement."""

    def __init__(self, tables: LedgerTables, fail_on: str | None = None) -> None:
        self.tables = tables
        self._fail_on = fail_on

    def by_reference(self, lender: str, external_ref: str) -> MovementRequest | None:
        key = (lender, external_ref)
        found = (m for m in self.tables.movements.values() if (m.lender, m.external_ref) == key)
        return next(found, None)

    def of_loan(self, loan_id: str) -> list[MovementRequest]:
        return [m for _, m in sorted(self.tables.movements.items()) if m.loan_id == loan_id]

    def add(self, movement: MovementRequest) -> MovementRequest:
        _maybe_fail(self._fail_on, "add_movement")
        if self.by_reference(movement.lender, movement.external_ref) is not None:
            raise DuplicateRecord(f"external_ref {movement.external_ref!r}")
        stored = replace(movement, id=self.tables.next_id)
        self.tables.next_id += 1
        self.tables.movements[stored.id] = stored
        return stored


class FakeEventRepository:
    """Indexed events (the tests put them there, as the indexer would)."""

    def __init__(self, tables: LedgerTables) -> None:
        self.tables = tables

    def of_loan(self, chain_id: int, loan_id: str, events: Sequence[str]) -> list[IndexedEvent]:
        mine = [e for c, n, e in self.tables.events if (c, n) == (chain_id, loan_id)]
        found = [e for e in mine if e.event in events]
        return sorted(found, key=lambda e: (e.block_number, e.log_index))


class FakeLedgerUnitOfWork(CopyOnCommit[LedgerTables]):
    """The ledger repositories over a copy of the tables."""

    @property
    def agreements(self) -> FakeAgreementRepository:
        return FakeAgreementRepository(self._working(), self._store.fail_on)

    @property
    def loans(self) -> FakeLoanRepository:
        return FakeLoanRepository(self._working(), self._store.fail_on)

    @property
    def movements(self) -> FakeMovementRepository:
        return FakeMovementRepository(self._working(), self._store.fail_on)

    @property
    def events(self) -> FakeEventRepository:
        return FakeEventRepository(self._working())


@dataclass
class FakeLedgerStore:
    """The fake ledger database: its tables, a commit counter and an optional injected
    failure (`fail_on` names an operation: add_agreements, mark_superseded, commit, ...)."""

    tables: LedgerTables = field(default_factory=LedgerTables)
    commits: int = 0
    fail_on: str | None = None

    def uow(self) -> FakeLedgerUnitOfWork:
        return FakeLedgerUnitOfWork(self)

    def add_event(self, chain_id: int, loan_id: str, event: IndexedEvent) -> None:
        """Record an event as the indexer would, outside any use case."""
        self.tables.events.append((chain_id, loan_id, event))
