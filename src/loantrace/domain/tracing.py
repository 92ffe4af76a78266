"""Follow one loan's money through accounts under a taint policy (pure, exact, integers only).

The rules, as regulators read them:

Source and order
- The source is the loan's disbursements: each puts its whole amount of tainted money into
  the borrower account it pays. That edge (lender -> borrower account) is hop 1.
- Every movement given is processed exactly once, in chain order (block number, then log
  index), so money going round a cycle cannot loop: the trace ends with the last movement.
  Two movements at the same chain position are refused.
- Movements before the loan's first disbursement only build up (untainted) balances.
- A disbursement debits no account: the lender's side is outside the trace. Another loan's
  disbursement is untainted money arriving in its borrower account.
- A repayment leaves its account for the pseudo-account "lender:<id of the repaid loan>"
  (unless it names the receiving account), so the rules can see which loan it repaid.

Balances
- Each account holds the money it received, in arrival order. Untainted inflows (the
  borrower's own funds, another loan's money) mix in with the tainted money.
- An outflow larger than the account's known balance is paid from the account's own funds,
  unseen by the chain, for the excess: that excess is untainted (poison excepted, see
  below) and the known balance drops to zero, never below.

Policies: which part of an outflow is tainted
- poison: once an account has received any tainted money, every later outflow from it is
  tainted in full, whatever its amount; all money the account still holds counts as
  tainted. Poison overstates on purpose: it is the upper bound.
- haircut: the outflow carries floor(known part x tainted balance / balance) tainted minor
  units, where the known part is the outflow up to the known balance; the tainted balance
  and the balance drop by those amounts. The floor leaves the rounding residue (under one
  minor unit per outflow) in the account, where it stays counted, so taint is never
  created; it leaves with the rest once the account is drained.
- fifo: the outflow consumes the oldest money first. Money is kept in lots that are either
  wholly tainted or wholly untainted: a disbursement is one tainted lot, an untainted
  inflow one untainted lot, and an inflow carrying t tainted of a total a becomes two lots,
  t tainted then a - t untainted. A lot consumed in part is split exactly.
- Under fifo and haircut taint is conserved: the taint held at the destinations (lender
  pseudo-accounts included) always sums to the total disbursed, truncated or not.

Hops and limits
- An outflow's hop is 1 + the smallest hop of the tainted money it carries: fifo, of the
  tainted lots it consumes; haircut, of all the taint the account holds (each outflow is
  a pro-rata share of it); poison, of the taint the account had received by then.
- Movements carrying no taint are not edges of the graph.
- An outflow whose hop would exceed `max_hops` is not followed: its taint stays counted at
  the account it left (which becomes a destination), the money arrives untainted, and
  the graph is marked truncated.
- At most `max_edges` tainted edges are listed; past that the graph is marked truncated,
  while nodes and destinations still account for every movement.

Result
- nodes: every account that received tainted money, with its category, smallest hop, and
  the taint it received and passed on.
- destinations: accounts holding taint at the end, largest first, then by account.
- A loan without a disbursement among the movements gives an empty graph.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, NoReturn

from loantrace.domain.errors import InvalidInput

MAX_HOPS = 32
MovementKind = Literal["disbursement", "transfer", "repayment"]
_KINDS = ("disbursement", "transfer", "repayment")
_UNTAINTED = 0  # the hop of untainted money; tainted money has hop >= 1


class Policy(StrEnum):
    """How taint passes through an account that mixes money."""

    POISON = "poison"
    HAIRCUT = "haircut"
    FIFO = "fifo"


@dataclass(frozen=True)
class Evidence:
    """Where a movement is on chain."""

    tx_hash: str
    block_number: int
    log_index: int

    @property
    def order(self) -> tuple[int, int]:
        """Return the chain order key."""
        return (self.block_number, self.log_index)


@dataclass(frozen=True)
class Movement:
    """A disbursement, fund-use transfer or repayment, in minor units."""

    evidence: Evidence
    kind: MovementKind
    loan_id: str | None
    from_account: str | None
    to_account: str | None
    amount: int


@dataclass(frozen=True)
class Edge:
    """A movement that carried tainted money."""

    evidence: Evidence
    from_account: str | None
    to_account: str
    amount: int
    tainted: int
    hop: int
    kind: MovementKind
    loan_id: str | None


@dataclass(frozen=True)
class Node:
    """An account that received tainted money."""

    account: str
    category: str | None
    hop: int
    tainted_in: int
    tainted_out: int


@dataclass(frozen=True)
class Destination:
    """Tainted money still held by an account at the end."""

    account: str
    category: str | None
    tainted: int


@dataclass(frozen=True)
class FlowGraph:
    """Where a loan's money went under one policy."""

    loan_id: str
    policy: Policy
    nodes: dict[str, Node]
    edges: list[Edge]
    destinations: list[Destination]
    truncated: bool


def trace(
    *,
    loan_id: str,
    movements: Sequence[Movement],
    categories: Mapping[str, str],
    policy: Policy,
    max_hops: int,
    max_edges: int = 10_000,
) -> FlowGraph:
    """Trace `loan_id`'s money through `movements` under `policy`."""
    policy = _check_policy(policy)
    _check_int("max_hops", max_hops, 1, MAX_HOPS)
    _check_int("max_edges", max_edges, 1, None)
    ordered = sorted(movements, key=_chain_order)
    _check_movements(ordered)
    if not any(m.kind == "disbursement" and m.loan_id == loan_id for m in ordered):
        return FlowGraph(loan_id, policy, {}, [], [], False)
    new = _HOLDINGS[policy]
    holdings: dict[str, _Holding] = {}
    seen: dict[str, list[int]] = {}  # account -> [smallest hop, tainted in, tainted out]
    edges: list[Edge] = []
    truncated = False
    for m in ordered:
        if m.kind == "disbursement":
            target = str(m.to_account)
            tainted, hop = (m.amount, 1) if m.loan_id == loan_id else (0, _UNTAINTED)
        else:
            source_account = str(m.from_account)
            source = holdings.get(source_account) or holdings.setdefault(source_account, new())
            target = m.to_account if m.to_account is not None else f"lender:{m.loan_id}"
            tainted, carried_hop = source.pay(m.amount)
            hop = carried_hop + 1 if tainted else _UNTAINTED
            if hop > max_hops:
                source.held_back += tainted
                tainted, hop, truncated = 0, _UNTAINTED, True
            elif tainted:
                seen[source_account][2] += tainted
        receiver = holdings.get(target) or holdings.setdefault(target, new())
        receiver.receive(m.amount, tainted, hop)
        if not tainted:
            continue
        stats = seen.setdefault(target, [hop, 0, 0])
        if hop < stats[0]:
            stats[0] = hop
        stats[1] += tainted
        if len(edges) < max_edges:
            edges.append(
                Edge(m.evidence, m.from_account, target, m.amount, tainted, hop, m.kind, m.loan_id)
            )
        else:
            truncated = True
    nodes = {
        account: Node(account, categories.get(account), hop, tainted_in, tainted_out)
        for account, (hop, tainted_in, tainted_out) in seen.items()
    }
    destinations = [
        Destination(account, categories.get(account), held)
        for account, holding in holdings.items()
        if (held := holding.tainted_held() + holding.held_back) > 0
    ]
    destinations.sort(key=lambda d: (-d.tainted, d.account))
    return FlowGraph(loan_id, policy, nodes, edges, destinations, truncated)


class _Holding:
    """What one account holds; each policy decides which part of an outflow is tainted."""

    __slots__ = ("balance", "held_back")

    def __init__(self) -> None:
        self.balance = 0
        self.held_back = 0  # taint that could not move on past the hop limit

    def receive(self, amount: int, tainted: int, hop: int) -> None:
        """Add an inflow of `amount` of which `tainted` arrived at `hop`."""
        raise NotImplementedError

    def pay(self, amount: int) -> tuple[int, int]:
        """Remove an outflow; return (its tainted part, smallest hop of that taint)."""
        raise NotImplementedError

    def tainted_held(self) -> int:
        """Return the taint the account still holds."""
        raise NotImplementedError


class _Poison(_Holding):
    __slots__ = ("poisoned_hop",)

    def __init__(self) -> None:
        super().__init__()
        self.poisoned_hop = _UNTAINTED

    def receive(self, amount: int, tainted: int, hop: int) -> None:
        self.balance += amount
        if tainted and (self.poisoned_hop == _UNTAINTED or hop < self.poisoned_hop):
            self.poisoned_hop = hop

    def pay(self, amount: int) -> tuple[int, int]:
        self.balance -= amount if amount < self.balance else self.balance
        return (amount, self.poisoned_hop) if self.poisoned_hop else (0, _UNTAINTED)

    def tainted_held(self) -> int:
        return self.balance if self.poisoned_hop else 0


class _Haircut(_Holding):
    __slots__ = ("hop", "tainted")

    def __init__(self) -> None:
        super().__init__()
        self.tainted = 0
        self.hop = _UNTAINTED  # the smallest hop of the taint held

    def receive(self, amount: int, tainted: int, hop: int) -> None:
        self.balance += amount
        if tainted:
            self.tainted += tainted
            if self.hop == _UNTAINTED or hop < self.hop:
                self.hop = hop

    def pay(self, amount: int) -> tuple[int, int]:
        known = amount if amount < self.balance else self.balance
        part = known * self.tainted // self.balance if self.tainted else 0
        hop = self.hop
        self.balance -= known
        self.tainted -= part
        if not self.tainted:
            self.hop = _UNTAINTED
        return (part, hop) if part else (0, _UNTAINTED)

    def tainted_held(self) -> int:
        return self.tainted


class _Fifo(_Holding):
    __slots__ = ("lots", "tainted")

    def __init__(self) -> None:
        super().__init__()
        self.tainted = 0
        self.lots: deque[list[int]] = deque()  # [amount, hop], oldest first

    def receive(self, amount: int, tainted: int, hop: int) -> None:
        self.balance += amount
        self.tainted += tainted
        if tainted:
            self._append(tainted, hop)
        if amount > tainted:
            self._append(amount - tainted, _UNTAINTED)

    def pay(self, amount: int) -> tuple[int, int]:
        rest = amount if amount < self.balance else self.balance
        self.balance -= rest
        tainted, hop = 0, _UNTAINTED
        while rest:
            lot = self.lots[0]
            part = rest if rest < lot[0] else lot[0]
            if lot[1] != _UNTAINTED:
                tainted += part
                if hop == _UNTAINTED or lot[1] < hop:
                    hop = lot[1]
            lot[0] -= part
            rest -= part
            if not lot[0]:
                self.lots.popleft()
        self.tainted -= tainted
        return tainted, hop

    def tainted_held(self) -> int:
        return self.tainted

    def _append(self, amount: int, hop: int) -> None:
        # Adjacent lots of one hop are one lot: merging them keeps the deque short.
        if self.lots and self.lots[-1][1] == hop:
            self.lots[-1][0] += amount
        else:
            self.lots.append([amount, hop])


def _chain_order(m: Movement) -> tuple[int, int]:
    return (m.evidence.block_number, m.evidence.log_index)


_HOLDINGS: dict[Policy, type[_Holding]] = {
    Policy.POISON: _Poison,
    Policy.HAIRCUT: _Haircut,
    Policy.FIFO: _Fifo,
}


def _check_policy(policy: object) -> Policy:
    if isinstance(policy, str) and policy in set(Policy):
        return Policy(policy)
    raise InvalidInput(f"policy must be one of {', '.join(Policy)}")


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"{name} must be {bounds}")


def _check_movements(ordered: Sequence[Movement]) -> None:
    previous: tuple[int, int] | None = None
    for m in ordered:
        amount, kind, order = m.amount, m.kind, _chain_order(m)
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            _refuse(m, "amount must be a positive integer of minor units")
        if kind == "transfer":
            if m.from_account is None or m.to_account is None:
                _refuse(m, "a transfer needs a from_account and a to_account")
        elif kind == "disbursement":
            if m.loan_id is None or m.to_account is None:
                _refuse(m, "a disbursement needs a loan_id and a to_account")
        elif kind == "repayment":
            if m.from_account is None or (m.loan_id is None and m.to_account is None):
                _refuse(m, "a repayment needs a from_account and a loan_id or to_account")
        else:
            _refuse(m, f"kind must be one of {', '.join(_KINDS)}")
        if order == previous:
            _refuse(m, "two movements share this chain position")
        previous = order


def _refuse(m: Movement, problem: str) -> NoReturn:
    raise InvalidInput(f"movement {m.evidence.tx_hash} at {m.evidence.order}: {problem}")
