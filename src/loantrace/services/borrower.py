"""What a signed-in borrower may read: the agreements naming its address, their loans with
schedule and disclosed cost, and the reminders the contract raised for them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from loantrace.domain.errors import NotFound
from loantrace.ports.ledger import LedgerUnitOfWork
from loantrace.ports.webhooks import Reminder
from loantrace.services.loans import LoanService, LoanView
from loantrace.services.notary import Notary
from loantrace.services.receipts import Receipt
from loantrace.services.webhooks import WebhookService


@dataclass(frozen=True)
class BorrowerLoan:
    """A loan of the borrower's and its reminders."""

    view: LoanView
    reminders: list[Reminder]


class BorrowerPortal:
    """Read-only use cases confined to one borrower address."""

    def __init__(
        self,
        *,
        uow: Callable[[], LedgerUnitOfWork],
        notary: Notary,
        loans: LoanService,
        webhooks: WebhookService,
    ) -> None:
        self._uow = uow
        self._notary = notary
        self._loans = loans
        self._webhooks = webhooks

    def is_borrower(self, address: str) -> bool:
        """Return whether any agreement recorded here names `address` as its borrower."""
        with self._uow() as uow:
            return bool(uow.agreements.of_borrower(address))

    def agreements(self, address: str) -> list[Receipt]:
        """Return the receipts of every agreement naming `address`, oldest first."""
        with self._uow() as uow:
            records = uow.agreements.of_borrower(address)
        return [self._notary.receipt(bytes.fromhex(r.digest[2:])) for r in records]

    def loans(self, address: str) -> list[BorrowerLoan]:
        """Return the borrower's loans (schedule, state, cost) with their reminders."""
        with self._uow() as uow:
            digests = [r.digest for r in uow.agreements.of_borrower(address)]
            loan_ids = [loan.loan_id for d in digests if (loan := uow.loans.by_digest(d))]
        found = []
        for loan_id in loan_ids:
            try:
                view = self._loans.view(bytes.fromhex(loan_id[2:]))
            except NotFound:  # registered, not indexed yet
                continue
            found.append(BorrowerLoan(view, self._webhooks.reminders_of(loan_id)))
        return found
