"""Account labels over time: which category was in force at a given point of the chain.

Findings judge a movement by the label its destination had when the movement happened (an
`AccountLabelled` event earlier in chain order: an earlier block, or earlier in the same
block), so a later relabel cannot erase a finding, nor create one retroactively. The later
relabel itself is kept, with its evidence, so it can be reported.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from loantrace.domain.tracing import Evidence

BEFORE_EVERYTHING = (-1, -1)


@dataclass(frozen=True)
class LabelChange:
    """An account's category from this event on (None: the label was removed)."""

    account: str
    category: str | None
    evidence: Evidence | None  # None only for labels given without chain evidence

    @property
    def order(self) -> tuple[int, int]:
        """Return where the change sits in chain order."""
        return self.evidence.order if self.evidence is not None else BEFORE_EVERYTHING


class LabelHistory:
    """Every label change of every account, in chain order."""

    def __init__(self, changes: Iterable[LabelChange]) -> None:
        by_account: dict[str, list[LabelChange]] = defaultdict(list)
        for change in changes:
            by_account[change.account].append(change)
        self._changes = {a: sorted(cs, key=lambda c: c.order) for a, cs in by_account.items()}
        self._orders = {a: [c.order for c in cs] for a, cs in self._changes.items()}

    @classmethod
    def constant(cls, categories: Mapping[str, str]) -> LabelHistory:
        """Labels that were always in force (tests, and callers without a history)."""
        return cls(LabelChange(account, category, None) for account, category in categories.items())

    def at(self, account: str, order: tuple[int, int]) -> str | None:
        """Return `account`'s category in force just before `order`."""
        orders = self._orders.get(account)
        if not orders:
            return None
        index = bisect.bisect_left(orders, order) - 1
        return self._changes[account][index].category if index >= 0 else None

    def current(self) -> dict[str, str]:
        """Return every account's category now."""
        latest = {a: cs[-1].category for a, cs in self._changes.items()}
        return {a: c for a, c in latest.items() if c is not None}

    def changes_after(self, account: str, order: tuple[int, int]) -> list[LabelChange]:
        """Return `account`'s label changes after `order`, in chain order."""
        orders = self._orders.get(account, [])
        return self._changes.get(account, [])[bisect.bisect_right(orders, order) :]
