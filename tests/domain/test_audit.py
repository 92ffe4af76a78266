"""Audit rules: each with a positive and a negative case, on hand-traced flow graphs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from loantrace.domain.audit import (
    PROHIBITED_CATEGORIES,
    Finding,
    LoanFacts,
    Rule,
    Severity,
    audit_loan,
)
from loantrace.domain.errors import InvalidInput
from loantrace.domain.tracing import Evidence, FlowGraph, Movement, MovementKind, Policy, trace

LOAN, LOAN_A = "0xloanb", "0xloana"
BORROWER, OWN, LENDER_DESK = "0xborrower", "0xown", "0xlenderdesk"
BROKER, CASINO, SHOP, AFFILIATE = "0xbroker", "0xcasino", "0xshop", "0xaffiliate"
CAR_DEALER, CAR_DEALER_2, SCHOOL = "0xcars", "0xcars2", "0xschool"
CATEGORIES = {
    BROKER: "SECURITIES",
    CASINO: "GAMBLING",
    SHOP: "CONSUMPTION",
    AFFILIATE: "LENDER_AFFILIATE",
    CAR_DEALER: "CAR_DEALER",
    CAR_DEALER_2: "CAR_DEALER",
    SCHOOL: "EDUCATION",
}
REGISTRATION = Evidence("0xreg", 1, 0)
DUE = Evidence("0xdue", 90, 3)


def _move(
    n: int,
    kind: MovementKind,
    source: str | None,
    target: str | None,
    amount: int,
    loan: str | None,
) -> Movement:
    return Movement(Evidence(f"0xtx{n}", 10 + n, 0), kind, loan, source, target, amount)


def _pay(n: int, source: str, target: str, amount: int) -> Movement:
    return _move(n, "transfer", source, target, amount, None)


def _repay(n: int, source: str, amount: int, loan: str) -> Movement:
    return _move(n, "repayment", source, None, amount, loan)


DISBURSE = _move(1, "disbursement", None, BORROWER, 3_000, LOAN)


def _facts(**changes: Any) -> LoanFacts:
    facts = LoanFacts(
        loan_id=LOAN,
        lender_accounts=frozenset({LENDER_DESK}),
        purpose="CONSUMPTION",
        principal=3_000,
        apr_bps=1_000,
        rate_cap_bps=1_200,
        disbursed=3_000,
        days_past_due=0,
        bucket=0,
        registration_evidence=REGISTRATION,
        disbursement_evidence=(DISBURSE.evidence,),
        last_due_evidence=None,
    )
    return replace(facts, **changes)


def _graph(moves: Sequence[Movement], policy: Policy = Policy.FIFO) -> FlowGraph:
    return trace(loan_id=LOAN, movements=moves, categories=CATEGORIES, policy=policy, max_hops=32)


def _audit(
    moves: Sequence[Movement], policy: Policy = Policy.FIFO, **changes: Any
) -> list[Finding]:
    return audit_loan(_facts(**changes), _graph(moves, policy), CATEGORIES)


def _summary(findings: list[Finding]) -> list[tuple[Rule, Severity, int]]:
    return [(f.rule, f.severity, f.amount) for f in findings]


def test_a_clean_loan_has_no_findings() -> None:
    moves = [
        DISBURSE,
        _pay(2, BORROWER, SHOP, 1_000),  # allowed for CONSUMPTION
        _pay(3, BORROWER, "0xunlabelled", 500),  # not judged
        _repay(4, BORROWER, 200, LOAN),  # repaying this loan
    ]
    assert _audit(moves) == []


def test_prohibited_use_sums_per_account_with_its_evidence() -> None:
    moves = [
        DISBURSE,
        _pay(2, BORROWER, BROKER, 700),
        _pay(3, BORROWER, CASINO, 100),
        _pay(4, BORROWER, BROKER, 300),
    ]
    findings = _audit(moves)
    assert _summary(findings) == [
        (Rule.PROHIBITED_USE, Severity.HIGH, 1_000),  # 0xbroker
        (Rule.PROHIBITED_USE, Severity.HIGH, 100),  # 0xcasino
    ]
    broker = findings[0]
    assert broker.evidence == (moves[1].evidence, moves[3].evidence)
    assert broker.loan_id == LOAN
    assert broker.explanation == (
        "1000 minor units of loan 0xloanb's money reached account 0xbroker, "
        "labelled SECURITIES, a prohibited use"
    )


def test_every_prohibited_category_is_flagged() -> None:
    for category in sorted(PROHIBITED_CATEGORIES):
        graph = _graph([DISBURSE, _pay(2, BORROWER, "0xplace", 10)])
        findings = audit_loan(_facts(), graph, {"0xplace": category})
        assert _summary(findings) == [(Rule.PROHIBITED_USE, Severity.HIGH, 10)]


def test_prohibited_use_needs_this_loans_money() -> None:
    assert _audit([DISBURSE, _pay(2, OWN, BROKER, 700)]) == []
    # fifo: the borrower's own 1,000 arrived first and are what reached the broker ...
    mixed = [_pay(0, OWN, BORROWER, 1_000), DISBURSE, _pay(2, BORROWER, BROKER, 800)]
    assert _audit(mixed) == []
    # ... poison: the borrower account is tainted, so all 800 are.
    assert _summary(_audit(mixed, Policy.POISON)) == [(Rule.PROHIBITED_USE, Severity.HIGH, 800)]


def test_round_trip_to_an_affiliate_or_the_lenders_own_account() -> None:
    moves = [DISBURSE, _pay(2, BORROWER, AFFILIATE, 50), _pay(3, BORROWER, LENDER_DESK, 9)]
    findings = _audit(moves)
    assert _summary(findings) == [
        (Rule.ROUND_TRIP, Severity.HIGH, 50),  # 0xaffiliate
        (Rule.ROUND_TRIP, Severity.HIGH, 9),  # 0xlenderdesk
    ]
    assert "labelled LENDER_AFFILIATE" in findings[0].explanation
    assert "(the lender's)" in findings[1].explanation
    assert findings[1].evidence == (moves[2].evidence,)


def test_round_trip_only_within_the_hop_window() -> None:
    moves = [
        DISBURSE,
        _pay(2, BORROWER, "0xhop2", 50),
        _pay(3, "0xhop2", "0xhop3", 50),
        _pay(4, "0xhop3", AFFILIATE, 50),  # hop 4
    ]
    graph = _graph(moves)
    assert audit_loan(_facts(), graph, CATEGORIES, round_trip_hops=3) == []
    found = audit_loan(_facts(), graph, CATEGORIES, round_trip_hops=4)
    assert _summary(found) == [(Rule.ROUND_TRIP, Severity.HIGH, 50)]
    assert _audit([DISBURSE, _pay(2, OWN, AFFILIATE, 50)]) == []  # not this loan's money


def test_loan_b_repaying_loan_a_is_a_finding_on_loan_b_naming_both() -> None:
    moves = [
        _move(1, "disbursement", None, "0xx", 1_000, LOAN),
        _repay(2, "0xx", 400, LOAN_A),
    ]
    findings = _audit(moves)
    assert _summary(findings) == [(Rule.LOAN_REPAYS_LOAN, Severity.HIGH, 400)]
    assert findings[0].loan_id == LOAN
    assert findings[0].explanation == "400 minor units of loan 0xloanb's money repaid loan 0xloana"
    assert findings[0].evidence == (moves[1].evidence,)


def test_repaying_this_loan_or_with_own_funds_is_not_loan_repays_loan() -> None:
    assert _audit([DISBURSE, _repay(2, BORROWER, 400, LOAN)]) == []
    assert _audit([DISBURSE, _repay(2, OWN, 400, LOAN_A)]) == []


def test_purpose_mismatch_one_finding_per_category() -> None:
    moves = [
        DISBURSE,
        _pay(2, BORROWER, CAR_DEALER_2, 200),
        _pay(3, BORROWER, SCHOOL, 100),
        _pay(4, BORROWER, CAR_DEALER, 800),
    ]
    findings = _audit(moves)
    assert _summary(findings) == [
        (Rule.PURPOSE_MISMATCH, Severity.MEDIUM, 1_000),  # CAR_DEALER
        (Rule.PURPOSE_MISMATCH, Severity.MEDIUM, 100),  # EDUCATION
    ]
    assert findings[0].evidence == (moves[1].evidence, moves[3].evidence)
    assert findings[0].explanation == (
        "loan 0xloanb was declared for CONSUMPTION, but 1000 minor units of its money "
        "reached accounts labelled CAR_DEALER: 0xcars, 0xcars2"
    )


def test_purpose_mismatch_spares_allowed_unlabelled_and_otherwise_judged_accounts() -> None:
    allowed = [DISBURSE, _pay(2, BORROWER, SHOP, 800), _pay(3, BORROWER, "0xunlabelled", 1)]
    assert _audit(allowed) == []
    other_rules = [DISBURSE, _pay(2, BORROWER, BROKER, 5), _pay(3, BORROWER, AFFILIATE, 5)]
    assert [f.rule for f in _audit(other_rules)] == [Rule.PROHIBITED_USE, Rule.ROUND_TRIP]
    business = [DISBURSE, _pay(2, BORROWER, SHOP, 800)]
    assert _summary(_audit(business, purpose="BUSINESS")) == [
        (Rule.PURPOSE_MISMATCH, Severity.MEDIUM, 800)
    ]
    assert _audit(business, purpose="HOUSING") == []  # no allowed categories listed


def test_over_disbursement() -> None:
    findings = _audit([DISBURSE], disbursed=3_500)
    assert _summary(findings) == [(Rule.OVER_DISBURSEMENT, Severity.HIGH, 500)]
    assert findings[0].evidence == (DISBURSE.evidence,)
    assert _audit([DISBURSE], disbursed=3_000) == []


def test_upfront_deduction_is_flagged_once_the_first_instalment_is_due() -> None:
    short = {"disbursed": 2_700, "disbursed_by_first_due": 2_700}
    assert _audit([DISBURSE], first_due_passed=False, **short) == []  # may still be paid out
    findings = _audit([DISBURSE], first_due_passed=True, **short)
    assert _summary(findings) == [(Rule.UPFRONT_DEDUCTION, Severity.HIGH, 300)]
    assert findings[0].evidence == (REGISTRATION, DISBURSE.evidence)
    assert "300 deducted up front" in findings[0].explanation
    full = {"disbursed": 3_000, "disbursed_by_first_due": 3_000}
    assert _audit([DISBURSE], first_due_passed=True, **full) == []


def test_the_cost_of_the_money_actually_lent_above_the_cap_is_a_breach() -> None:
    findings = _audit([DISBURSE], actual_cost_exceeds_cap=True, actual_cost_bps=4_000)
    assert _summary(findings) == [(Rule.RATE_CAP_BREACH, Severity.HIGH, 0)]
    assert "4000 bps a year all-in, above the rate cap of 1200 bps" in findings[0].explanation
    assert findings[0].evidence == (REGISTRATION, DISBURSE.evidence)
    both = _audit([DISBURSE], apr_bps=1_300, actual_cost_exceeds_cap=True)
    assert [f.rule for f in both] == [Rule.RATE_CAP_BREACH]  # one finding, the declared APR


def test_rate_cap_breach() -> None:
    findings = _audit([DISBURSE], apr_bps=1_201)
    assert _summary(findings) == [(Rule.RATE_CAP_BREACH, Severity.HIGH, 0)]
    assert findings[0].evidence == (REGISTRATION,)
    assert _audit([DISBURSE], apr_bps=1_200) == []


@pytest.mark.parametrize(
    ("days", "bucket", "severity"),
    [
        (1, 1, Severity.LOW),
        (30, 1, Severity.LOW),
        (31, 2, Severity.MEDIUM),
        (61, 3, Severity.HIGH),
        (95, 4, Severity.HIGH),
    ],
)
def test_overdue_severity_follows_the_bucket(days: int, bucket: int, severity: Severity) -> None:
    findings = _audit(
        [DISBURSE], days_past_due=days, bucket=bucket, outstanding=1_234, last_due_evidence=DUE
    )
    assert _summary(findings) == [(Rule.OVERDUE, severity, 1_234)]
    assert findings[0].evidence == (DUE,)
    assert f"is {days} days past due" in findings[0].explanation


def test_overdue_without_a_due_event_points_at_the_registration() -> None:
    findings = _audit([DISBURSE], days_past_due=3, bucket=1)
    assert _summary(findings) == [(Rule.OVERDUE, Severity.LOW, 0)]
    assert findings[0].evidence == (REGISTRATION,)
    assert _audit([DISBURSE], days_past_due=0, bucket=0) == []


def test_findings_come_in_rule_order() -> None:
    moves = [
        DISBURSE,
        _pay(2, BORROWER, CAR_DEALER, 100),
        _repay(3, BORROWER, 100, LOAN_A),
        _pay(4, BORROWER, AFFILIATE, 100),
        _pay(5, BORROWER, BROKER, 100),
    ]
    findings = _audit(moves, disbursed=3_001, apr_bps=2_000, days_past_due=70, bucket=3)
    skipped = (Rule.UPFRONT_DEDUCTION, Rule.RELABELLED)  # labels here never change
    assert [f.rule for f in findings] == [r for r in Rule if r not in skipped]
    deducted = _audit(
        moves,
        disbursed=2_700,
        first_due_passed=True,
        disbursed_by_first_due=2_700,
        days_past_due=70,
        bucket=3,
        actual_cost_exceeds_cap=True,
    )
    assert [f.rule for f in deducted][-3:] == [
        Rule.UPFRONT_DEDUCTION,
        Rule.RATE_CAP_BREACH,
        Rule.OVERDUE,
    ]
    assert all(f.loan_id == LOAN for f in findings)


def test_a_graph_of_another_loan_is_refused() -> None:
    graph = trace(
        loan_id=LOAN_A, movements=[DISBURSE], categories={}, policy=Policy.FIFO, max_hops=6
    )
    with pytest.raises(InvalidInput, match="the graph traces loan 0xloana, not 0xloanb"):
        audit_loan(_facts(), graph, CATEGORIES)
    with pytest.raises(InvalidInput, match="round_trip_hops must be at least 1"):
        audit_loan(_facts(), _graph([DISBURSE]), CATEGORIES, round_trip_hops=0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"principal": -1}, "facts.principal must be at least 0"),
        ({"disbursed": 1.5}, "facts.disbursed must be an integer"),
        ({"bucket": 5, "days_past_due": 200}, "facts.bucket must be between 0 and 4"),
        ({"days_past_due": 10}, "facts.bucket must be 0 exactly when days_past_due is 0"),
        ({"bucket": 1}, "facts.bucket must be 0 exactly when days_past_due is 0"),
        ({"outstanding": -3}, "facts.outstanding must be at least 0"),
        ({"lender_accounts": {LENDER_DESK}}, "facts.lender_accounts must be a frozenset"),
        ({"loan_id": ""}, "facts.loan_id must be a non-empty string"),
    ],
)
def test_malformed_facts_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _facts(**changes)
