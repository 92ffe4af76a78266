"""Tracing a loan's money: hand-computed minor units per policy, limits, and invariants."""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.tracing import (
    Destination,
    Evidence,
    FlowGraph,
    Movement,
    MovementKind,
    Node,
    Policy,
    trace,
)

LOAN, OTHER = "0xloan", "0xother"
BORROWER, OWN, BROKER, SHOP = "0xborrower", "0xown", "0xbroker", "0xshop"
CATEGORIES = {BROKER: "SECURITIES", SHOP: "CONSUMPTION"}
POISON, HAIRCUT, FIFO = Policy.POISON, Policy.HAIRCUT, Policy.FIFO


def _move(
    n: int,
    kind: MovementKind,
    source: str | None,
    target: str | None,
    amount: int,
    loan: str | None = LOAN,
) -> Movement:
    return Movement(Evidence(f"0xtx{n}", n, 0), kind, loan, source, target, amount)


def _disburse(n: int, target: str, amount: int, loan: str = LOAN) -> Movement:
    return _move(n, "disbursement", None, target, amount, loan)


def _pay(n: int, source: str, target: str, amount: int) -> Movement:
    return _move(n, "transfer", source, target, amount, None)


def _trace(
    moves: Sequence[Movement], policy: Policy, *, loan: str = LOAN, hops: int = 6, edges: int = 100
) -> FlowGraph:
    return trace(
        loan_id=loan,
        movements=moves,
        categories=CATEGORIES,
        policy=policy,
        max_hops=hops,
        max_edges=edges,
    )


def _edges(graph: FlowGraph) -> list[tuple[str, int, int]]:
    return [(e.to_account, e.tainted, e.hop) for e in graph.edges]


def _held(graph: FlowGraph) -> list[tuple[str, int]]:
    return [(d.account, d.tainted) for d in graph.destinations]


def _into(graph: FlowGraph, account: str) -> list[int]:
    return [e.tainted for e in graph.edges if e.to_account == account]


# The borrower's own 1,000 arrive first, then the loan's 3,000; 2,000 go to a broker, who
# pays 500 on to a shop.
MIXED = [
    _pay(1, OWN, BORROWER, 1_000),
    _disburse(2, BORROWER, 3_000),
    _pay(3, BORROWER, BROKER, 2_000),
    _pay(4, BROKER, SHOP, 500),
]


@pytest.mark.parametrize(
    ("policy", "edges", "held"),
    [
        # Every outflow of a tainted account is tainted in full; all it holds is tainted.
        (
            POISON,
            [(BORROWER, 3_000, 1), (BROKER, 2_000, 2), (SHOP, 500, 3)],
            [(BORROWER, 2_000), (BROKER, 1_500), (SHOP, 500)],
        ),
        # 2000 x 3000 / 4000 = 1500; then 500 x 1500 / 2000 = 375.
        (
            HAIRCUT,
            [(BORROWER, 3_000, 1), (BROKER, 1_500, 2), (SHOP, 375, 3)],
            [(BORROWER, 1_500), (BROKER, 1_125), (SHOP, 375)],
        ),
        # 1000 own then 1000 loan leave; the broker holds (1000 tainted, 1000 own) in that order
        # and pays the shop 500 from its tainted lot.
        (
            FIFO,
            [(BORROWER, 3_000, 1), (BROKER, 1_000, 2), (SHOP, 500, 3)],
            [(BORROWER, 2_000), (BROKER, 500), (SHOP, 500)],
        ),
    ],
)
def test_mixing_with_own_funds(
    policy: Policy, edges: list[tuple[str, int, int]], held: list[tuple[str, int]]
) -> None:
    graph = _trace(MIXED, policy)
    assert _edges(graph) == edges
    assert _held(graph) == held
    assert not graph.truncated


def test_nodes_and_destinations_carry_categories_hops_and_taint() -> None:
    graph = _trace(MIXED, FIFO)
    assert graph.nodes == {
        BORROWER: Node(BORROWER, None, 1, 3_000, 1_000),
        BROKER: Node(BROKER, "SECURITIES", 2, 1_000, 500),
        SHOP: Node(SHOP, "CONSUMPTION", 3, 500, 0),
    }
    assert graph.destinations == [
        Destination(BORROWER, None, 2_000),
        Destination(BROKER, "SECURITIES", 500),
        Destination(SHOP, "CONSUMPTION", 500),
    ]
    first = graph.edges[0]
    assert (first.from_account, first.kind, first.loan_id, first.amount) == (
        None,
        "disbursement",
        LOAN,
        3_000,
    )


def test_input_order_does_not_matter_chain_order_does() -> None:
    assert _trace(list(reversed(MIXED)), FIFO) == _trace(MIXED, FIFO)


# 10 tainted, then 20 own; three outflows drain the account.
DRAINED = [
    _disburse(1, BORROWER, 10),
    _pay(2, OWN, BORROWER, 20),
    _pay(3, BORROWER, BROKER, 7),
    _pay(4, BORROWER, BROKER, 7),
    _pay(5, BORROWER, BROKER, 16),
]


@pytest.mark.parametrize(
    ("policy", "into_broker", "held"),
    [
        (POISON, [7, 7, 16], [(BROKER, 30)]),
        # floor(7 x 10 / 30) = 2, floor(7 x 8 / 23) = 2, floor(16 x 6 / 16) = 6.
        (HAIRCUT, [2, 2, 6], [(BROKER, 10)]),
        # 7 of the tainted lot, then its last 3 and 4 own; the last 16 are all own.
        (FIFO, [7, 3], [(BROKER, 10)]),
    ],
)
def test_draining_an_account_moves_all_its_taint(
    policy: Policy, into_broker: list[int], held: list[tuple[str, int]]
) -> None:
    graph = _trace(DRAINED, policy)
    assert _into(graph, BROKER) == into_broker
    assert _held(graph) == held


def test_haircut_floor_residue_stays_in_the_account() -> None:
    moves = [_pay(1, OWN, BORROWER, 2), _disburse(2, BORROWER, 1), _pay(3, BORROWER, BROKER, 1)]
    graph = _trace(moves, HAIRCUT)
    assert _into(graph, BROKER) == []  # floor(1 x 1 / 3) = 0: no tainted edge
    assert _held(graph) == [(BORROWER, 1)]


@pytest.mark.parametrize(
    ("policy", "into_broker", "into_shop", "held"),
    [
        # Poison taints the 300 of own funds too, and every later outflow, even from zero.
        (POISON, [800], [800, 100], [(SHOP, 900)]),
        (HAIRCUT, [500], [500], [(SHOP, 500)]),
        (FIFO, [500], [500], [(SHOP, 500)]),
    ],
)
def test_outflow_beyond_the_known_balance_is_paid_from_own_funds(
    policy: Policy, into_broker: list[int], into_shop: list[int], held: list[tuple[str, int]]
) -> None:
    moves = [
        _disburse(1, BORROWER, 500),
        _pay(2, BORROWER, BROKER, 800),  # 300 more than the borrower account is known to hold
        _pay(3, BROKER, SHOP, 800),
        _pay(4, BORROWER, SHOP, 100),  # the borrower account is known to hold nothing now
    ]
    graph = _trace(moves, policy)
    assert _into(graph, BROKER) == into_broker
    assert _into(graph, SHOP) == into_shop
    assert _held(graph) == held


def _ping_pong(transfers: int) -> list[Movement]:
    """Disburse 1,000 into 0xa, then bounce them between 0xa and 0xb."""
    moves = [_disburse(1, "0xa", 1_000)]
    for n in range(2, transfers + 2):
        moves.append(_pay(n, "0xa", "0xb", 1_000) if n % 2 == 0 else _pay(n, "0xb", "0xa", 1_000))
    return moves


@pytest.mark.parametrize(
    ("policy", "last_hops"),
    # fifo and haircut follow the money's path; poison counts from where each account was
    # first tainted, so the hops of a cycle stop growing.
    [(POISON, [2, 3]), (HAIRCUT, [10, 11]), (FIFO, [10, 11])],
)
def test_a_cycle_terminates_and_conserves_the_money(policy: Policy, last_hops: list[int]) -> None:
    graph = _trace(_ping_pong(10), policy, hops=32)
    assert _edges(graph)[-2:] == [("0xb", 1_000, last_hops[0]), ("0xa", 1_000, last_hops[1])]
    assert len(graph.edges) == 11
    assert _held(graph) == [("0xa", 1_000)]
    assert (graph.nodes["0xa"].tainted_in, graph.nodes["0xa"].tainted_out) == (6_000, 5_000)


@pytest.mark.parametrize("policy", [HAIRCUT, FIFO])
def test_a_long_cycle_stops_at_the_hop_limit(policy: Policy) -> None:
    graph = _trace(_ping_pong(10_000), policy, hops=32, edges=20_000)
    assert graph.truncated
    assert len(graph.edges) == 32  # the disbursement and 31 transfers, the last into 0xb
    assert _held(graph) == [("0xb", 1_000)]  # transfer 32 would have been hop 33


def test_a_long_cycle_under_poison_is_followed_to_the_end() -> None:
    graph = _trace(_ping_pong(10_000), POISON, hops=32, edges=20_000)
    assert not graph.truncated
    assert len(graph.edges) == 10_001
    assert {e.hop for e in graph.edges} == {1, 2, 3}
    assert _held(graph) == [("0xa", 1_000)]  # an even number of bounces ends in 0xa


@pytest.mark.parametrize(
    ("policy", "into_shops", "held_by_borrower"),
    [
        (POISON, [300, 300, 300, 300, 300], 0),
        # 300 x 1000/1500, 300 x 800/1200, 300 x 600/900, 300 x 400/600, 300 x 200/300.
        (HAIRCUT, [200, 200, 200, 200, 200], 0),
        # The own 500 leave first: the first shop gets none, the second 100.
        (FIFO, [0, 100, 300, 300, 300], 0),
    ],
)
def test_fan_out_splits_exactly(
    policy: Policy, into_shops: list[int], held_by_borrower: int
) -> None:
    shops = [f"0xshop{i}" for i in range(5)]
    moves = [_pay(1, OWN, BORROWER, 500), _disburse(2, BORROWER, 1_000)]
    moves += [_pay(3 + i, BORROWER, shop, 300) for i, shop in enumerate(shops)]
    graph = _trace(moves, policy)
    assert [sum(_into(graph, shop)) for shop in shops] == into_shops
    assert dict(_held(graph)).get(BORROWER, 0) == held_by_borrower
    assert all(e.hop == 2 for e in graph.edges[1:])


@pytest.mark.parametrize("policy", list(Policy))
def test_hop_limit_stops_the_chain_and_keeps_the_money_where_it_stopped(policy: Policy) -> None:
    chain = ["0xa", "0xb", "0xc", "0xd", "0xe", "0xf"]
    moves = [_disburse(1, chain[0], 100)]
    moves += [_pay(n + 2, chain[n], chain[n + 1], 100) for n in range(5)]
    graph = _trace(moves, policy, hops=3)
    assert graph.truncated
    assert _edges(graph) == [("0xa", 100, 1), ("0xb", 100, 2), ("0xc", 100, 3)]
    assert list(graph.nodes) == ["0xa", "0xb", "0xc"]
    assert _held(graph) == [("0xc", 100)]
    assert not _trace(moves[:3], policy, hops=3).truncated  # hop 3 itself is within the limit


@pytest.mark.parametrize(
    ("policy", "this_loan", "other_loan", "held"),
    [
        (POISON, [300], [300], [(BROKER, 300), (BORROWER, 100)]),
        # 300 x 100 / 400 = 75 of this loan, 300 x 300 / 400 = 225 of the other.
        (HAIRCUT, [75], [225], [(BROKER, 75), (BORROWER, 25)]),
        # The other loan's 300 arrived first and leave first.
        (FIFO, [], [300], [(BORROWER, 100)]),
    ],
)
def test_another_loans_money_in_the_same_account_is_not_this_loans_taint(
    policy: Policy, this_loan: list[int], other_loan: list[int], held: list[tuple[str, int]]
) -> None:
    moves = [
        _disburse(1, BORROWER, 300, OTHER),
        _disburse(2, BORROWER, 100),
        _pay(3, BORROWER, BROKER, 300),
    ]
    graph = _trace(moves, policy)
    assert _into(graph, BROKER) == this_loan
    assert _held(graph) == held
    assert _into(_trace(moves, policy, loan=OTHER), BROKER) == other_loan


def test_repayment_edges_go_to_the_lender_of_the_repaid_loan() -> None:
    moves = [
        _disburse(1, BORROWER, 100),
        _move(2, "repayment", BORROWER, None, 40, OTHER),
        _move(3, "repayment", BORROWER, None, 30, LOAN),
        _move(4, "repayment", BORROWER, "0xlenderdesk", 10, LOAN),
    ]
    graph = _trace(moves, FIFO)
    assert [(e.to_account, e.tainted, e.hop, e.kind, e.loan_id) for e in graph.edges[1:]] == [
        (f"lender:{OTHER}", 40, 2, "repayment", OTHER),
        (f"lender:{LOAN}", 30, 2, "repayment", LOAN),
        ("0xlenderdesk", 10, 2, "repayment", LOAN),
    ]
    assert _held(graph) == [
        (f"lender:{OTHER}", 40),
        (f"lender:{LOAN}", 30),
        (BORROWER, 20),
        ("0xlenderdesk", 10),
    ]


def test_max_edges_caps_the_edge_list_but_not_the_accounting() -> None:
    moves = [_disburse(1, BORROWER, 1_000)]
    moves += [_pay(2 + i, BORROWER, f"0xshop{i}", 200) for i in range(5)]
    capped, full = _trace(moves, FIFO, edges=2), _trace(moves, FIFO)
    assert capped.truncated
    assert not full.truncated
    assert capped.edges == full.edges[:2]
    assert (capped.nodes, capped.destinations) == (full.nodes, full.destinations)


def test_an_unknown_loan_gives_an_empty_graph() -> None:
    graph = _trace(MIXED, FIFO, loan="0xnone")
    assert graph == FlowGraph("0xnone", FIFO, {}, [], [], False)


def test_a_policy_may_be_given_by_name() -> None:
    assert _trace(MIXED, Policy("haircut")) == _trace(MIXED, "haircut")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hops": 0}, "max_hops must be between 1 and 32"),
        ({"hops": 33}, "max_hops must be between 1 and 32"),
        ({"hops": True}, "max_hops must be an integer"),
        ({"edges": 0}, "max_edges must be at least 1"),
        ({"policy": "lifo"}, "policy must be one of poison, haircut, fifo"),
    ],
)
def test_bad_parameters_are_refused(changes: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"hops": 6, "edges": 100, "policy": FIFO} | changes
    with pytest.raises(InvalidInput, match=message):
        _trace(MIXED, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (_disburse(9, BORROWER, 0), "amount must be a positive integer"),
        (_pay(9, BORROWER, SHOP, -5), "amount must be a positive integer"),
        (_pay(9, BORROWER, SHOP, 1.5), "amount must be a positive integer"),  # type: ignore[arg-type]
        (_pay(9, BORROWER, SHOP, True), "amount must be a positive integer"),
        (_move(9, "transfer", None, SHOP, 5), "a transfer needs a from_account"),
        (_move(9, "disbursement", None, None, 5), "a disbursement needs a loan_id and"),
        (_move(9, "repayment", None, None, 5), "a repayment needs a from_account"),
        (_move(9, "gift", OWN, SHOP, 5), "kind must be one of"),  # type: ignore[arg-type]
        (_pay(2, OWN, SHOP, 5), "two movements share this chain position"),
    ],
)
def test_bad_movements_are_refused_naming_the_movement(bad: Movement, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as refused:
        _trace([*MIXED, bad], FIFO)
    assert str(refused.value).startswith(f"movement {bad.evidence.tx_hash} at ")


@cache
def _portfolio() -> list[Movement]:
    rng = random.Random(7)
    accounts = [f"0x{i:064x}" for i in range(500)]
    moves = [_disburse(0, accounts[0], 10**9)]
    moves += [
        _pay(n, rng.choice(accounts), rng.choice(accounts), rng.randint(1, 10**6))
        for n in range(1, 100_000)
    ]
    return moves


@pytest.mark.parametrize("policy", list(Policy))
def test_a_hundred_thousand_movements_take_well_under_seconds(policy: Policy) -> None:
    moves = _portfolio()
    started = time.perf_counter()
    graph = _trace(moves, policy, hops=32, edges=10_000)
    assert time.perf_counter() - started < 3  # linear: about 0.3 s on a laptop
    if policy is not POISON:
        assert sum(d.tainted for d in graph.destinations) == 10**9


# Property tests: random movements among six accounts, two loans, in random chain order.

ACCOUNTS = ["0xa", "0xb", "0xc", "0xd", "0xe", "0xf"]
LOANS = [LOAN, OTHER]
steps = st.tuples(
    st.sampled_from(["disbursement", "transfer", "transfer", "transfer", "repayment"]),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(ACCOUNTS),
    st.integers(1, 5_000),
    st.sampled_from(LOANS),
)


@st.composite
def movement_sets(draw: st.DrawFn) -> list[Movement]:
    plan = draw(st.lists(steps, min_size=1, max_size=30))
    positions = draw(st.permutations(range(len(plan))))
    moves = []
    for position, (kind, source, target, amount, loan) in zip(positions, plan, strict=True):
        if kind == "disbursement":
            moves.append(_disburse(position, target, amount, loan))
        elif kind == "repayment":
            moves.append(_move(position, "repayment", source, None, amount, loan))
        else:
            moves.append(_pay(position, source, target, amount))
    return moves


def _known_balances(moves: Sequence[Movement]) -> dict[str, int]:
    """Replay the balances the chain shows: inflows add, outflows never go below zero."""
    balances: dict[str, int] = {}
    for m in sorted(moves, key=lambda m: m.evidence.order):
        if m.from_account is not None and m.kind != "disbursement":
            balances[m.from_account] = max(0, balances.get(m.from_account, 0) - m.amount)
        target = m.to_account if m.to_account is not None else f"lender:{m.loan_id}"
        balances[target] = balances.get(target, 0) + m.amount
    return balances


def _disbursed(moves: Sequence[Movement]) -> int:
    return sum(m.amount for m in moves if m.kind == "disbursement" and m.loan_id == LOAN)


@settings(max_examples=300, deadline=None)
@given(movement_sets(), st.sampled_from([1, 2, 3, 32]))
def test_taint_is_conserved_bounded_and_never_exceeds_a_balance(
    moves: list[Movement], hops: int
) -> None:
    graphs = {p: _trace(moves, p, hops=hops, edges=1_000) for p in Policy}
    balances = _known_balances(moves)
    for policy, graph in graphs.items():
        held = dict(_held(graph))
        assert graph.destinations == sorted(
            graph.destinations, key=lambda d: (-d.tainted, d.account)
        )
        assert all(d.tainted > 0 for d in graph.destinations)
        assert all(0 < e.tainted <= e.amount and 1 <= e.hop <= hops for e in graph.edges)
        assert set(held) <= set(graph.nodes)
        if policy is POISON:
            assert all(e.tainted == e.amount for e in graph.edges)
            continue
        # Under fifo and haircut no taint is created or lost, truncated or not ...
        assert sum(held.values()) == _disbursed(moves)
        # ... each account holds exactly what it received minus what it passed on ...
        for account, node in graph.nodes.items():
            assert node.tainted_in - node.tainted_out == held.get(account, 0) >= 0
        # ... and, where no hop limit held taint back, no more than its known balance.
        if not graph.truncated:
            assert all(held[a] <= balances[a] for a in held)
    if not graphs[POISON].truncated:
        assert dict(_held(graphs[POISON])) == {
            a: balances[a] for a in graphs[POISON].nodes if balances[a] > 0
        }
    poison = {e.evidence: e for e in graphs[POISON].edges}
    for policy in (HAIRCUT, FIFO):
        for edge in graphs[policy].edges:
            assert poison[edge.evidence].tainted >= edge.tainted
            assert poison[edge.evidence].hop <= edge.hop


@settings(max_examples=100, deadline=None)
@given(movement_sets())
def test_without_truncation_every_disbursed_unit_is_somewhere(moves: list[Movement]) -> None:
    for policy in (HAIRCUT, FIFO):
        graph = _trace(moves, policy, hops=32, edges=1_000)
        assert not graph.truncated  # 30 movements cannot make more than 31 hops
        assert sum(d.tainted for d in graph.destinations) == _disbursed(moves)
        first = [e for e in graph.edges if e.kind == "disbursement"]
        assert sum(e.tainted for e in first) == _disbursed(moves)
