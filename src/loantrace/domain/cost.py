"""The all-in annualised cost of a loan's real cash flows, exact, in basis points.

The cost is the rate r at which the lender's cash flows are worth nothing today, discounting
with simple actual/365 interest compounded at every flow: with the distinct flow times
t_0 < … < t_m and the flows netted at each time,

    DF_0 = 1,  DF_i = DF_{i-1} / (1 + r · (t_i − t_{i-1}) / 365 days),  NPV(r) = Σ net_i · DF_i.

This matches the ledger's cap check: a schedule charging exactly r simple interest on the
outstanding principal in every period has NPV(r) = 0, so its cost is exactly r; one whose
interest is rounded down costs a little less. NPV is computed in exact integers.

When every payout precedes every receipt, NPV(r) · Π(1 + r·Δ) is strictly decreasing in r
(discount from the last payout: earlier payouts grow, later receipts shrink), so NPV changes
sign at most once and bisection finds the cost. Otherwise there may be several roots and
`annual_cost_bps` returns one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from math import gcd

from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import SECONDS_PER_DAY, Schedule

MAX_COST_BPS = 10_000_000  # 100,000 % a year: the search stops there
_YEAR_SECONDS = 365 * SECONDS_PER_DAY


@dataclass(frozen=True)
class CashFlow:
    """Money moving at unix time `at`, from the lender's view: paid out < 0, received > 0."""

    at: int
    amount: int

    def __post_init__(self) -> None:
        for name in ("at", "amount"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(f"cash flow {name} must be an integer")


def loan_cash_flows(disbursements: Sequence[tuple[int, int]], schedule: Schedule) -> list[CashFlow]:
    """Return the lender's cash flows: each (at, amount) disbursed, then each instalment."""
    flows = []
    for at, amount in disbursements:
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise InvalidInput("a disbursed amount must be a positive integer")
        flows.append(CashFlow(at, -amount))
    flows.extend(CashFlow(i.due_at, i.amount) for i in schedule.instalments)
    return flows


def npv_sign(flows: Sequence[CashFlow], rate_bps: int) -> int:
    """Return the sign (-1, 0 or 1) of the flows' NPV at `rate_bps`, computed exactly."""
    _check_rate(rate_bps)
    return _sign(_scaled_npv(_net(flows), rate_bps))


def annual_cost_bps(flows: Sequence[CashFlow]) -> int | None:
    """Return the cost b in basis points: the true cost lies in [b, b + 1).

    b is the largest integer in [0, MAX_COST_BPS] with NPV(b / 10_000) ≥ 0 (for monotone
    flows). None without both a payout and a receipt; 0 when the borrower repays less than
    was lent; MAX_COST_BPS when NPV is still positive there.
    """
    net = _net(flows)
    if not any(amount < 0 for _, amount in net) or not any(amount > 0 for _, amount in net):
        return None
    if _scaled_npv(net, 0) < 0:
        return 0
    if _scaled_npv(net, MAX_COST_BPS) >= 0:
        return MAX_COST_BPS
    low, high = 0, MAX_COST_BPS  # NPV(low) >= 0 > NPV(high)
    while high - low > 1:
        middle = (low + high) // 2
        if _scaled_npv(net, middle) >= 0:
            low = middle
        else:
            high = middle
    return low


def exceeds_cap(flows: Sequence[CashFlow], cap_bps: int) -> bool:
    """Return whether the flows earn the lender more than `cap_bps` a year (NPV(cap) > 0)."""
    return npv_sign(flows, cap_bps) > 0


def _net(flows: Sequence[CashFlow]) -> list[tuple[int, int]]:
    totals: dict[int, int] = {}
    for flow in flows:
        if not isinstance(flow, CashFlow):
            raise InvalidInput("flows must be CashFlow values")
        totals[flow.at] = totals.get(flow.at, 0) + flow.amount
    return sorted(totals.items())


def _scaled_npv(net: list[tuple[int, int]], rate_bps: int) -> int:
    # With N = 10_000 · year and D_i = N + rate_bps · Δ_i (both divided by their common
    # factor g), DF_i = Π_{j≤i} N / D_j. Multiplying NPV by the positive Π_j D_j gives
    # Σ_i net_i · N^i · Π_{j>i} D_j, evaluated Horner-style: S_i = S_{i-1} · D_i + net_i · N^i.
    if not net:
        return 0
    gaps = [later - earlier for (earlier, _), (later, _) in pairwise(net)]
    common = 10_000 * _YEAR_SECONDS
    for gap in gaps:
        common = gcd(common, gap)
    year = 10_000 * _YEAR_SECONDS // common
    total = net[0][1]
    power = 1
    for gap, (_, amount) in zip(gaps, net[1:], strict=True):
        power *= year
        total = total * (year + rate_bps * (gap // common)) + amount * power
    return total


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


def _check_rate(rate_bps: object) -> None:
    if isinstance(rate_bps, bool) or not isinstance(rate_bps, int):
        raise InvalidInput("rate_bps must be an integer")
    if not 0 <= rate_bps <= MAX_COST_BPS:
        raise InvalidInput(f"rate_bps must be between 0 and {MAX_COST_BPS}")
