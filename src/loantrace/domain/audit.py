"""Audit rules: findings a regulator can act on, each pointing at on-chain evidence.

The money rules read a loan's flow graph (see `tracing`); "tainted" is this loan's money.
- prohibited_use (high): tainted money reaches an account labelled SECURITIES, REAL_ESTATE,
  CRYPTO or GAMBLING. One finding per account: the tainted amount of the edges into it.
- round_trip (high): tainted money reaches, within `round_trip_hops` hops, a lender-side
  account: one of the lender's own accounts, or one labelled LENDER or LENDER_AFFILIATE.
  One finding per account.
- loan_repays_loan (high): a repayment of another loan carries tainted money. One finding
  per repaid loan, filed under this (the funding) loan and naming both.
- purpose_mismatch (medium): tainted money reaches a labelled account whose category is
  not allowed for the declared purpose (`PURPOSE_CATEGORIES`). Prohibited and lender-side
  accounts are judged by their own rules; unlabelled accounts are not judged, and neither
  is a purpose with no allowed categories listed. One finding per category.
- relabelled (low): an account that received tainted money was relabelled afterwards. The
  money rules judge each movement by the label in force when it happened (`domain.labels`),
  so a relabel never erases nor invents a finding; this one reports that it happened, with
  the relabel's evidence. One finding per relabel.
The loan rules read its facts:
- over_disbursement (high): more was disbursed than the principal; the amount is the excess.
- upfront_deduction (high): once the first instalment is due, less than the principal was
  disbursed by then: interest or fees were deducted up front (砍头息), and the law counts
  only the money actually lent as principal. The amount is the shortfall.
- rate_cap_breach (high): the declared APR is above the rate cap in force at registration,
  or the all-in annual cost of the money actually disbursed (when it was paid out) against
  the signed schedule is above the cap (`actual_cost_bps`, see `domain.cost`).
- overdue: the oldest unpaid instalment is past due: low in bucket 1 (1-30 days), medium in
  bucket 2 (31-60), high in buckets 3 and 4 (61 and more); the amount is the outstanding.
Findings come in the order of the rules above, then by account, loan id or category.
Explanations name accounts by commitment only, amounts in minor units: no personal data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum

from loantrace.domain.delinquency import BUCKET_LABELS
from loantrace.domain.errors import InvalidInput
from loantrace.domain.labels import LabelHistory
from loantrace.domain.tracing import Edge, Evidence, FlowGraph

PROHIBITED_CATEGORIES = frozenset({"SECURITIES", "REAL_ESTATE", "CRYPTO", "GAMBLING"})
LENDER_CATEGORIES = frozenset({"LENDER", "LENDER_AFFILIATE"})
PURPOSE_CATEGORIES: Mapping[str, frozenset[str]] = {
    "CONSUMPTION": frozenset({"CONSUMPTION"}),
    "BUSINESS": frozenset({"BUSINESS_SUPPLIER"}),
    "EDUCATION": frozenset({"EDUCATION"}),
    "MEDICAL": frozenset({"MEDICAL"}),
}


class Severity(StrEnum):
    """How urgently a finding needs attention."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Rule(StrEnum):
    """The rule that produced a finding, in reporting order."""

    PROHIBITED_USE = "prohibited_use"
    ROUND_TRIP = "round_trip"
    LOAN_REPAYS_LOAN = "loan_repays_loan"
    PURPOSE_MISMATCH = "purpose_mismatch"
    RELABELLED = "relabelled"
    OVER_DISBURSEMENT = "over_disbursement"
    UPFRONT_DEDUCTION = "upfront_deduction"
    RATE_CAP_BREACH = "rate_cap_breach"
    OVERDUE = "overdue"


_OVERDUE_SEVERITY = {1: Severity.LOW, 2: Severity.MEDIUM, 3: Severity.HIGH, 4: Severity.HIGH}


@dataclass(frozen=True)
class Finding:
    """One finding, its amount in minor units, and the on-chain evidence behind it."""

    rule: Rule
    severity: Severity
    loan_id: str
    amount: int
    explanation: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class LoanFacts:
    """What the rules know about a loan besides its flow graph; money in minor units."""

    loan_id: str
    lender_accounts: frozenset[str]
    purpose: str
    principal: int
    apr_bps: int
    rate_cap_bps: int
    disbursed: int
    days_past_due: int
    bucket: int
    registration_evidence: Evidence | None
    disbursement_evidence: tuple[Evidence, ...]
    last_due_evidence: Evidence | None
    outstanding: int = 0
    first_due_passed: bool = False
    disbursed_by_first_due: int = 0
    actual_cost_bps: int | None = None
    actual_cost_exceeds_cap: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.loan_id, str) or not self.loan_id:
            raise InvalidInput("facts.loan_id must be a non-empty string")
        if not isinstance(self.lender_accounts, frozenset):
            raise InvalidInput("facts.lender_accounts must be a frozenset of commitments")
        for name in ("principal", "apr_bps", "rate_cap_bps", "disbursed", "days_past_due"):
            _check_int(f"facts.{name}", getattr(self, name), 0, None)
        _check_int("facts.outstanding", self.outstanding, 0, None)
        _check_int("facts.disbursed_by_first_due", self.disbursed_by_first_due, 0, None)
        _check_int("facts.bucket", self.bucket, 0, 4)
        if (self.days_past_due > 0) != (self.bucket > 0):
            raise InvalidInput("facts.bucket must be 0 exactly when days_past_due is 0")


# (account, its category when the edges arrived, those edges)
Arrivals = list[tuple[str, str | None, list[Edge]]]


def audit_loan(
    facts: LoanFacts,
    graph: FlowGraph,
    labels: Mapping[str, str] | LabelHistory,
    *,
    round_trip_hops: int = 6,
) -> list[Finding]:
    """Apply every rule to one loan; a clean loan gives no findings.

    `labels` is the label history (each movement is judged by the label in force when it
    happened), or a plain mapping of labels that were always in force."""
    _check_int("round_trip_hops", round_trip_hops, 1, None)
    if graph.loan_id != facts.loan_id:
        raise InvalidInput(f"the graph traces loan {graph.loan_id}, not {facts.loan_id}")
    history = labels if isinstance(labels, LabelHistory) else LabelHistory.constant(labels)
    into: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in graph.edges:
        label = history.at(edge.to_account, edge.evidence.order)
        into[(edge.to_account, label or "")].append(edge)
    accounts = [(account, label or None, edges) for (account, label), edges in sorted(into.items())]
    return [
        *_prohibited_use(facts, accounts),
        *_round_trip(facts, accounts, round_trip_hops),
        *_loan_repays_loan(facts, graph.edges),
        *_purpose_mismatch(facts, accounts),
        *_relabelled(facts, graph.edges, history),
        *_loan_rules(facts),
    ]


def _prohibited_use(facts: LoanFacts, accounts: Arrivals) -> Iterator[Finding]:
    for account, category, edges in accounts:
        if category in PROHIBITED_CATEGORIES:
            tainted = _tainted(edges)
            yield _finding(
                Rule.PROHIBITED_USE,
                Severity.HIGH,
                facts,
                tainted,
                f"{tainted} minor units of loan {facts.loan_id}'s money reached account "
                f"{account}, labelled {category}, a prohibited use",
                edges,
            )


def _round_trip(facts: LoanFacts, accounts: Arrivals, round_trip_hops: int) -> Iterator[Finding]:
    for account, category, edges in accounts:
        if not _is_lender_side(facts, account, category):
            continue
        near = [e for e in edges if e.hop <= round_trip_hops]
        if near:
            tainted = _tainted(near)
            whose = f"labelled {category}" if category in LENDER_CATEGORIES else "the lender's"
            yield _finding(
                Rule.ROUND_TRIP,
                Severity.HIGH,
                facts,
                tainted,
                f"{tainted} minor units of loan {facts.loan_id}'s money came back to account "
                f"{account} ({whose}) within {round_trip_hops} hops",
                near,
            )


def _loan_repays_loan(facts: LoanFacts, edges: list[Edge]) -> Iterator[Finding]:
    repaid: dict[str, list[Edge]] = defaultdict(list)
    for edge in edges:
        if edge.kind == "repayment" and edge.loan_id is not None and edge.loan_id != facts.loan_id:
            repaid[edge.loan_id].append(edge)
    for other, paid in sorted(repaid.items()):
        tainted = _tainted(paid)
        yield _finding(
            Rule.LOAN_REPAYS_LOAN,
            Severity.HIGH,
            facts,
            tainted,
            f"{tainted} minor units of loan {facts.loan_id}'s money repaid loan {other}",
            paid,
        )


def _purpose_mismatch(facts: LoanFacts, accounts: Arrivals) -> Iterator[Finding]:
    allowed = PURPOSE_CATEGORIES.get(facts.purpose)
    if allowed is None:
        return
    spent: dict[str, list[tuple[str, list[Edge]]]] = defaultdict(list)
    for account, category, edges in accounts:
        if (
            category is None
            or category in allowed
            or category in PROHIBITED_CATEGORIES
            or _is_lender_side(facts, account, category)
        ):
            continue
        spent[category].append((account, edges))
    for category, places in sorted(spent.items()):
        edges = sorted((e for _account, es in places for e in es), key=lambda e: e.evidence.order)
        tainted = _tainted(edges)
        names = ", ".join(account for account, _edges in places)
        yield _finding(
            Rule.PURPOSE_MISMATCH,
            Severity.MEDIUM,
            facts,
            tainted,
            f"loan {facts.loan_id} was declared for {facts.purpose}, but {tainted} minor units "
            f"of its money reached accounts labelled {category}: {names}",
            edges,
        )


def _relabelled(facts: LoanFacts, edges: list[Edge], history: LabelHistory) -> Iterator[Finding]:
    into: dict[str, list[Edge]] = defaultdict(list)
    for edge in sorted(edges, key=lambda e: e.evidence.order):
        into[edge.to_account].append(edge)
    for account, arrived in sorted(into.items()):
        first = arrived[0].evidence.order
        for change in history.changes_after(account, first):
            before = [e for e in arrived if e.evidence.order < change.order]
            tainted = _tainted(before)
            old = history.at(account, change.order) or "unlabelled"
            new = change.category or "unlabelled"
            evidence = (*_one(change.evidence), *(e.evidence for e in before))
            yield Finding(
                Rule.RELABELLED,
                Severity.LOW,
                facts.loan_id,
                tainted,
                f"account {account} was relabelled from {old} to {new} after receiving "
                f"{tainted} minor units of loan {facts.loan_id}'s money; the findings judge "
                "each movement by the label in force when it happened",
                evidence,
            )


def _loan_rules(facts: LoanFacts) -> Iterator[Finding]:
    loan = facts.loan_id
    if facts.disbursed > facts.principal:
        excess = facts.disbursed - facts.principal
        yield Finding(
            Rule.OVER_DISBURSEMENT,
            Severity.HIGH,
            loan,
            excess,
            f"loan {loan} disbursed {facts.disbursed} minor units against a principal of "
            f"{facts.principal}: {excess} too many",
            facts.disbursement_evidence,
        )
    shortfall = facts.principal - facts.disbursed_by_first_due
    if facts.first_due_passed and shortfall > 0:
        yield Finding(
            Rule.UPFRONT_DEDUCTION,
            Severity.HIGH,
            loan,
            shortfall,
            f"loan {loan} has a principal of {facts.principal} minor units but only "
            f"{facts.disbursed_by_first_due} were disbursed by its first due date: {shortfall} "
            "deducted up front; only the money actually lent counts as principal",
            (*_one(facts.registration_evidence), *facts.disbursement_evidence),
        )
    if facts.apr_bps > facts.rate_cap_bps:
        yield Finding(
            Rule.RATE_CAP_BREACH,
            Severity.HIGH,
            loan,
            0,
            f"loan {loan} was registered at an APR of {facts.apr_bps} bps, above the rate cap "
            f"of {facts.rate_cap_bps} bps",
            _one(facts.registration_evidence),
        )
    elif facts.actual_cost_exceeds_cap:
        cost = "unknown" if facts.actual_cost_bps is None else f"{facts.actual_cost_bps} bps"
        yield Finding(
            Rule.RATE_CAP_BREACH,
            Severity.HIGH,
            loan,
            0,
            f"on the {facts.disbursed} minor units actually disbursed, loan {loan}'s schedule "
            f"costs the borrower {cost} a year all-in, above the rate cap of "
            f"{facts.rate_cap_bps} bps",
            (*_one(facts.registration_evidence), *facts.disbursement_evidence),
        )
    if facts.days_past_due > 0:
        yield Finding(
            Rule.OVERDUE,
            _OVERDUE_SEVERITY[facts.bucket],
            loan,
            facts.outstanding,
            f"loan {loan} is {facts.days_past_due} days past due (bucket "
            f"{BUCKET_LABELS[facts.bucket]} days), {facts.outstanding} minor units outstanding",
            _one(facts.last_due_evidence or facts.registration_evidence),
        )


def _is_lender_side(facts: LoanFacts, account: str, category: str | None) -> bool:
    return account in facts.lender_accounts or category in LENDER_CATEGORIES


def _finding(
    rule: Rule, severity: Severity, facts: LoanFacts, amount: int, why: str, edges: list[Edge]
) -> Finding:
    return Finding(rule, severity, facts.loan_id, amount, why, tuple(e.evidence for e in edges))


def _tainted(edges: list[Edge]) -> int:
    return sum(e.tainted for e in edges)


def _one(evidence: Evidence | None) -> tuple[Evidence, ...]:
    return () if evidence is None else (evidence,)


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{name} must be an integer")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"{name} must be {bounds}")
