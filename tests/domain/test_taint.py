"""Tracing policies on small graphs with hand-computed minor units, and every audit rule."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.audit import LoanFacts, Rule, Severity, audit_loan
from loantrace.domain.errors import InvalidInput
from loantrace.domain.tracing import Evidence, FlowGraph, Movement, Policy, trace

L, OTHER = "0xloan", "0xother"
B, S, T, U = "borrower", "securities", "shop", "friend"
CATS = {S: "SECURITIES", T: "CONSUMPTION"}


def _m(
    n: int, kind: str, src: str | None, dst: str | None, amount: int, loan: str | None = L
) -> Movement:
    return Movement(Evidence(f"0x{n:02x}", n, 0), kind, loan, src, dst, amount)  # type: ignore[arg-type]


def _run(moves: Sequence[Movement], policy: Policy, hops: int = 6) -> FlowGraph:
    return trace(loan_id=L, movements=moves, categories=CATS, policy=policy, max_hops=hops)


def _into(graph: FlowGraph, account: str) -> list[int]:
    return [e.tainted for e in graph.edges if e.to_account == account]


def _held(graph: FlowGraph) -> dict[str, int]:
    return {d.account: d.tainted for d in graph.destinations}


MIXED = [
    _m(1, "transfer", U, B, 1_000, None),  # the borrower's own money arrives first
    _m(2, "disbursement", None, B, 3_000),
    _m(3, "transfer", B, S, 2_000),
]


@pytest.mark.parametrize(
    ("policy", "tainted", "left"),
    [(Policy.POISON, 2_000, 2_000), (Policy.HAIRCUT, 1_500, 1_500), (Policy.FIFO, 1_000, 2_000)],
)
def test_mixing_with_own_funds(policy: Policy, tainted: int, left: int) -> None:
    graph = _run(MIXED, policy)
    assert _into(graph, S) == [tainted]
    assert _held(graph)[B] == left
    assert _held(graph)[S] == tainted
    assert [e.hop for e in graph.edges] == [1, 2]


def test_haircut_rounds_down_and_leaves_the_residue() -> None:
    moves = [
        _m(1, "transfer", U, B, 2, None),
        _m(2, "disbursement", None, B, 1),
        _m(3, "transfer", B, S, 1),
    ]
    graph = _run(moves, Policy.HAIRCUT)
    assert _into(graph, S) == []  # floor(1 x 1 / 3) = 0
    assert _held(graph) == {B: 1}


def test_outflow_beyond_known_balance_is_own_funds() -> None:
    moves = [_m(1, "disbursement", None, B, 500), _m(2, "transfer", B, S, 800)]
    for policy, expected in ((Policy.FIFO, 500), (Policy.HAIRCUT, 500), (Policy.POISON, 800)):
        assert _into(_run(moves, policy), S) == [expected]


def test_cycles_terminate_and_conserve_taint() -> None:
    moves = [_m(1, "disbursement", None, B, 1_000)]
    moves += [_m(n, "transfer", U if n % 2 else B, B if n % 2 else U, 1_000) for n in range(2, 12)]
    graph = _run(moves, Policy.FIFO, hops=32)
    assert sum(_held(graph).values()) == 1_000
    assert max(e.hop for e in graph.edges) == 11


def test_fan_out_splits_exactly() -> None:
    moves = [_m(1, "disbursement", None, B, 1_000)]
    moves += [_m(n, "transfer", B, f"shop{n}", 200) for n in range(2, 7)]
    graph = _run(moves, Policy.HAIRCUT)
    assert [e.tainted for e in graph.edges[1:]] == [200] * 5
    assert B not in _held(graph)


def test_hop_limit_stops_and_counts_money_where_it_stopped() -> None:
    chain = ["a", "b", "c", "d", "e"]
    moves = [_m(1, "disbursement", None, chain[0], 100)]
    moves += [_m(n + 2, "transfer", chain[n], chain[n + 1], 100) for n in range(4)]
    graph = _run(moves, Policy.FIFO, hops=3)
    assert graph.truncated
    assert [e.to_account for e in graph.edges] == ["a", "b", "c"]
    assert _held(graph) == {"c": 100}


def test_another_loans_money_is_not_this_loans_taint() -> None:
    moves = [
        _m(1, "disbursement", None, B, 300, OTHER),
        _m(2, "disbursement", None, B, 100),
        _m(3, "transfer", B, S, 300),
    ]
    assert _into(_run(moves, Policy.FIFO), S) == []  # fifo: the other loan's money left first
    assert _into(_run(moves, Policy.HAIRCUT), S) == [75]


def test_repayment_goes_to_the_lender_of_the_repaid_loan() -> None:
    moves = [_m(1, "disbursement", None, B, 100), _m(2, "repayment", B, None, 40, OTHER)]
    graph = _run(moves, Policy.FIFO)
    assert [(e.to_account, e.tainted, e.kind) for e in graph.edges[1:]] == [
        (f"lender:{OTHER}", 40, "repayment")
    ]


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(InvalidInput):
        _run(MIXED, Policy.FIFO, hops=0)
    with pytest.raises(InvalidInput):
        _run([_m(1, "disbursement", None, B, 0)], Policy.FIFO)


def test_unknown_loan_gives_an_empty_graph() -> None:
    graph = trace(
        loan_id="0xnone", movements=MIXED, categories=CATS, policy=Policy.FIFO, max_hops=6
    )
    assert (graph.edges, graph.destinations) == ([], [])


ACCOUNTS = ["a", "b", "c", "d", "e", "f"]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS), st.integers(1, 10_000)),
        max_size=40,
    ),
    st.integers(1, 100_000),
)
def test_taint_is_conserved_and_bounded(hops: list[tuple[str, str, int]], loan: int) -> None:
    moves = [_m(0, "disbursement", None, "a", loan)]
    moves += [_m(i + 1, "transfer", s, d, amt) for i, (s, d, amt) in enumerate(hops) if s != d]
    graphs = {p: _run(moves, p, hops=32) for p in Policy}
    for policy in (Policy.FIFO, Policy.HAIRCUT):
        assert sum(_held(graphs[policy]).values()) == loan  # taint never created or lost
    for graph in graphs.values():
        assert all(0 < e.tainted <= e.amount and e.hop <= 32 for e in graph.edges)
    poison = {e.evidence: e.tainted for e in graphs[Policy.POISON].edges}
    for edge in graphs[Policy.HAIRCUT].edges:
        assert poison[edge.evidence] >= edge.tainted


def _facts(**kw: object) -> LoanFacts:
    base = dict(
        loan_id=L,
        lender_accounts=frozenset({"lender-acct"}),
        purpose="CONSUMPTION",
        principal=3_000,
        apr_bps=1_000,
        rate_cap_bps=1_200,
        disbursed=3_000,
        days_past_due=0,
        bucket=0,
        registration_evidence=Evidence("0xr", 1, 0),
        disbursement_evidence=(Evidence("0xd", 2, 0),),
        last_due_evidence=None,
    )
    return LoanFacts(**(base | kw))  # type: ignore[arg-type]


def _audit(moves: Sequence[Movement], cats: dict[str, str], **kw: object) -> list[tuple[Rule, int]]:
    graph = trace(loan_id=L, movements=moves, categories=cats, policy=Policy.FIFO, max_hops=6)
    return [(f.rule, f.amount) for f in audit_loan(_facts(**kw), graph, cats)]


DISBURSE = _m(1, "disbursement", None, B, 3_000)


def test_clean_loan_has_no_findings() -> None:
    assert _audit([DISBURSE, _m(2, "transfer", B, T, 1_000)], CATS) == []


def test_prohibited_use_positive_and_negative() -> None:
    assert _audit([DISBURSE, _m(2, "transfer", B, S, 700)], CATS) == [(Rule.PROHIBITED_USE, 700)]
    assert _audit([DISBURSE, _m(2, "transfer", U, S, 700, None)], CATS) == []


def test_round_trip_positive_and_negative() -> None:
    cats = {"aff": "LENDER_AFFILIATE"}
    assert _audit([DISBURSE, _m(2, "transfer", B, "aff", 50)], cats) == [(Rule.ROUND_TRIP, 50)]
    assert _audit([DISBURSE, _m(2, "transfer", B, "lender-acct", 9)], {}) == [(Rule.ROUND_TRIP, 9)]
    assert _audit([DISBURSE, _m(2, "transfer", B, "aff2", 50)], cats) == []


def test_loan_repays_loan_positive_and_negative() -> None:
    found = _audit([DISBURSE, _m(2, "repayment", B, None, 400, OTHER)], {})
    assert found == [(Rule.LOAN_REPAYS_LOAN, 400)]
    assert _audit([DISBURSE, _m(2, "repayment", B, None, 400, L)], {}) == []


def test_purpose_mismatch_positive_and_negative() -> None:
    cats = {"car": "CAR_DEALER", T: "CONSUMPTION"}
    assert _audit([DISBURSE, _m(2, "transfer", B, "car", 800)], cats) == [
        (Rule.PURPOSE_MISMATCH, 800)
    ]
    assert _audit([DISBURSE, _m(2, "transfer", B, T, 800)], cats) == []


def test_over_disbursement_rate_cap_and_overdue() -> None:
    assert _audit([DISBURSE], {}, disbursed=3_500) == [(Rule.OVER_DISBURSEMENT, 500)]
    assert _audit([DISBURSE], {}, apr_bps=1_201) == [(Rule.RATE_CAP_BREACH, 0)]
    assert _audit([DISBURSE], {}, apr_bps=1_200) == []
    graph = trace(loan_id=L, movements=[DISBURSE], categories={}, policy=Policy.FIFO, max_hops=6)
    severities = [
        audit_loan(_facts(days_past_due=d, bucket=b), graph, {})[0].severity
        for d, b in ((5, 1), (40, 2), (95, 4))
    ]
    assert severities == [Severity.LOW, Severity.MEDIUM, Severity.HIGH]
    assert audit_loan(_facts(), graph, {}) == []
