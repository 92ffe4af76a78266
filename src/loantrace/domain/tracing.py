"""Follow a loan's money downstream through accounts under a taint policy (pure, exact).

Rules, as regulators read them:
- The source is the loan's disbursements: each puts tainted money into the borrower's
  account; that edge is hop 1. Every movement given is processed once, in chain order
  (block, log index), so cycles end by construction.
- Each account holds lots in arrival order: (amount, tainted?, hop). Untainted inflows (the
  borrower's own funds, other loans' money) add untainted lots and so mix in. An outflow
  larger than the known balance is paid from the account's unseen own funds (untainted).
- poison: once an account received any tainted money, every later outflow from it is
  wholly tainted.
- haircut: an outflow carries floor(amount x tainted balance / balance) tainted minor units;
  the floor residue stays in the account, so taint is never created, only left behind.
- fifo: an outflow consumes the oldest lots first; its tainted part is what it consumed of
  tainted lots (lots split exactly).
- An outflow's hop is 1 + the smallest hop of the taint it carries (poison: of the account's
  first taint). Edges carrying no taint are not in the graph. An edge beyond `max_hops` is
  not followed: its taint stays counted at the account it left, and the graph is truncated.
  So is a graph that would have more than `max_edges` tainted edges.
- A repayment leaves the borrower's side for the pseudo-account "lender:<loan id>".
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from loantrace.domain.errors import InvalidInput

MAX_HOPS = 32


class Policy(StrEnum):
    """How taint passes through an account that mixes money."""

    POISON = "poison"
    HAIRCUT = "haircut"
    FIFO = "fifo"


@dataclass(frozen=True)
class Evidence:
    """Where on chain a movement is."""

    tx_hash: str
    block_number: int
    log_index: int

    @property
    def order(self) -> tuple[int, int]:
        """Return the chain order key."""
        return (self.block_number, self.log_index)


@dataclass(frozen=True)
class Movement:
    """A disbursement, fund-use transfer or repayment."""

    evidence: Evidence
    kind: Literal["disbursement", "transfer", "repayment"]
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
    kind: str
    loan_id: str | None


@dataclass
class Node:
    """An account that held tainted money."""

    account: str
    category: str | None
    hop: int
    tainted_in: int = 0
    tainted_out: int = 0


@dataclass(frozen=True)
class Destination:
    """Tainted money still held by an account at the end."""

    account: str
    category: str | None
    tainted: int


@dataclass(frozen=True)
class FlowGraph:
    """The result of a trace."""

    loan_id: str
    policy: Policy
    nodes: dict[str, Node]
    edges: list[Edge]
    destinations: list[Destination]
    truncated: bool


@dataclass
class _Account:
    lots: deque[list[int]] = field(default_factory=deque)  # [amount, tainted 0/1, hop]
    poisoned_hop: int | None = None
    held_back: int = 0  # taint that could not move on (hop limit)

    def balance(self) -> tuple[int, int]:
        total = sum(lot[0] for lot in self.lots)
        return total, sum(lot[0] for lot in self.lots if lot[1])

    def take(self, amount: int, want_tainted: int | None) -> tuple[int, int | None]:
        """Remove `amount`; return (tainted removed, min hop of it). FIFO unless told."""
        if want_tainted is None:  # fifo
            tainted, hop, rest = 0, None, amount
            while rest and self.lots:
                lot = self.lots[0]
                part = min(rest, lot[0])
                if lot[1]:
                    tainted += part
                    hop = lot[2] if hop is None else min(hop, lot[2])
                lot[0] -= part
                rest -= part
                if lot[0] == 0:
                    self.lots.popleft()
            return tainted, hop
        hop = None
        for flag, need in ((1, want_tainted), (0, amount - want_tainted)):
            for lot in list(self.lots):
                if need == 0:
                    break
                if lot[1] != flag:
                    continue
                part = min(need, lot[0])
                if flag:
                    hop = lot[2] if hop is None else min(hop, lot[2])
                lot[0] -= part
                need -= part
            self.lots = deque(lot for lot in self.lots if lot[0])
        return want_tainted, hop


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
    if not 1 <= max_hops <= MAX_HOPS:
        raise InvalidInput(f"max_hops must be between 1 and {MAX_HOPS}")
    if max_edges < 1:
        raise InvalidInput("max_edges must be at least 1")
    accounts: dict[str, _Account] = {}
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    truncated = False
    for m in sorted(movements, key=lambda x: x.evidence.order):
        if m.amount <= 0:
            raise InvalidInput("movement amounts must be positive")
        target = m.to_account or f"lender:{m.loan_id}"
        if m.kind == "disbursement":
            tainted, hop = (m.amount, 1) if m.loan_id == loan_id else (0, None)
        else:
            if m.from_account is None:
                continue
            source = accounts.setdefault(m.from_account, _Account())
            tainted, hop = _outflow(source, m.amount, policy)
            if tainted and hop is not None and hop > max_hops:
                source.held_back += tainted
                truncated = True
                tainted = 0
            elif tainted:
                nodes[m.from_account].tainted_out += tainted
        receiver = accounts.setdefault(target, _Account())
        if tainted and hop is not None:
            receiver.lots.append([tainted, 1, hop])
            if receiver.poisoned_hop is None or hop < receiver.poisoned_hop:
                receiver.poisoned_hop = hop
            node = nodes.setdefault(target, Node(target, categories.get(target), hop))
            node.hop = min(node.hop, hop)
            node.tainted_in += tainted
            if len(edges) < max_edges:
                edges.append(
                    Edge(
                        m.evidence,
                        m.from_account,
                        target,
                        m.amount,
                        tainted,
                        hop,
                        m.kind,
                        m.loan_id,
                    )
                )
            else:
                truncated = True
        if m.amount - tainted:
            receiver.lots.append([m.amount - tainted, 0, 0])
    destinations = []
    for name, state in accounts.items():
        total, tainted_lots = state.balance()
        poisoned = policy is Policy.POISON and state.poisoned_hop is not None
        held = (total if poisoned else tainted_lots) + state.held_back
        if held > 0:
            destinations.append(Destination(name, categories.get(name), held))
    destinations.sort(key=lambda d: (-d.tainted, d.account))
    return FlowGraph(loan_id, policy, nodes, edges, destinations, truncated)


def _outflow(source: _Account, amount: int, policy: Policy) -> tuple[int, int | None]:
    """Take `amount` out of `source`; return (tainted part, its hop on the new edge)."""
    if policy is Policy.FIFO:
        tainted, hop = source.take(amount, None)
    elif policy is Policy.HAIRCUT:
        balance, tainted_balance = source.balance()
        if amount >= balance:  # the whole known balance leaves, topped up with own funds
            tainted, hop = source.take(balance, tainted_balance)
        else:
            tainted, hop = source.take(amount, amount * tainted_balance // balance)
    else:  # poison: balances move as FIFO; the taint is the account's, not the lots'
        _ignored, _hop = source.take(amount, None)
        if source.poisoned_hop is None:
            return 0, None
        return amount, source.poisoned_hop + 1
    return tainted, (hop + 1 if tainted and hop is not None else None)
