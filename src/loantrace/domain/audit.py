"""Audit rules: findings a regulator can act on, each pointing at on-chain evidence.

- prohibited_use: tainted money reaches an account labelled SECURITIES, REAL_ESTATE, CRYPTO
  or GAMBLING.
- round_trip: tainted money reaches a LENDER or LENDER_AFFILIATE account within k hops.
- loan_repays_loan: a repayment of another loan carries this loan's tainted money.
- purpose_mismatch: tainted money reaches a labelled account whose category is not allowed
  for the declared purpose (prohibited and lender categories are judged by their own rules;
  unlabelled accounts are not judged).
- over_disbursement: more was disbursed than the principal.
- rate_cap_breach: the APR is above the cap in force at registration.
- overdue: the oldest unpaid instalment is past due (low 1-30 days, medium 31-60, high 61+).
Explanations name accounts by commitment only: no personal data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

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
    """How urgent a finding is."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Rule(StrEnum):
    """Which rule produced a finding (in reporting order)."""

    PROHIBITED_USE = "prohibited_use"
    ROUND_TRIP = "round_trip"
    LOAN_REPAYS_LOAN = "loan_repays_loan"
    PURPOSE_MISMATCH = "purpose_mismatch"
    OVER_DISBURSEMENT = "over_disbursement"
    RATE_CAP_BREACH = "rate_cap_breach"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Finding:
    """One finding and its evidence."""

    rule: Rule
    severity: Severity
    loan_id: str
    amount: int
    explanation: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class LoanFacts:
    """What the rules know about a loan besides its flow graph."""

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


def audit_loan(
    facts: LoanFacts, graph: FlowGraph, categories: Mapping[str, str], *, round_trip_hops: int = 6
) -> list[Finding]:
    """Apply every rule to one loan."""
    findings: list[Finding] = []
    loan = facts.loan_id
    into: dict[str, list[Edge]] = defaultdict(list)
    for edge in graph.edges:
        into[edge.to_account].append(edge)
    allowed = PURPOSE_CATEGORIES.get(facts.purpose)
    for account in sorted(into):
        edges = into[account]
        category = categories.get(account)
        tainted = sum(e.tainted for e in edges)
        evidence = tuple(e.evidence for e in edges)
        if category in PROHIBITED_CATEGORIES:
            findings.append(
                Finding(
                    Rule.PROHIBITED_USE,
                    Severity.HIGH,
                    loan,
                    tainted,
                    f"{tainted} of this loan's money reached {account}, labelled {category}",
                    evidence,
                )
            )
    for account in sorted(into):
        near = [e for e in into[account] if e.hop <= round_trip_hops]
        lender = account in facts.lender_accounts or categories.get(account) in LENDER_CATEGORIES
        if near and lender:
            tainted = sum(e.tainted for e in near)
            findings.append(
                Finding(
                    Rule.ROUND_TRIP,
                    Severity.HIGH,
                    loan,
                    tainted,
                    f"{tainted} of this loan's money returned to lender-side "
                    f"account {account} within {round_trip_hops} hops",
                    tuple(e.evidence for e in near),
                )
            )
    repaid: dict[str, list[Edge]] = defaultdict(list)
    for edge in graph.edges:
        if edge.kind == "repayment" and edge.loan_id and edge.loan_id != loan:
            repaid[edge.loan_id].append(edge)
    for other in sorted(repaid):
        tainted = sum(e.tainted for e in repaid[other])
        findings.append(
            Finding(
                Rule.LOAN_REPAYS_LOAN,
                Severity.HIGH,
                loan,
                tainted,
                f"{tainted} of loan {loan}'s money repaid loan {other}",
                tuple(e.evidence for e in repaid[other]),
            )
        )
    by_category: dict[str, list[Edge]] = defaultdict(list)
    for account in sorted(into):
        category = categories.get(account)
        judged = category and category not in PROHIBITED_CATEGORIES | LENDER_CATEGORIES
        if judged and allowed is not None and category not in allowed:
            by_category[str(category)].extend(into[account])
    for category in sorted(by_category):
        edges = by_category[category]
        tainted = sum(e.tainted for e in edges)
        findings.append(
            Finding(
                Rule.PURPOSE_MISMATCH,
                Severity.MEDIUM,
                loan,
                tainted,
                f"declared purpose {facts.purpose}, but {tainted} was spent at {category} accounts",
                tuple(e.evidence for e in edges),
            )
        )
    if facts.disbursed > facts.principal:
        excess = facts.disbursed - facts.principal
        findings.append(
            Finding(
                Rule.OVER_DISBURSEMENT,
                Severity.HIGH,
                loan,
                excess,
                f"disbursed {facts.disbursed}, principal {facts.principal}",
                facts.disbursement_evidence,
            )
        )
    if facts.apr_bps > facts.rate_cap_bps:
        findings.append(
            Finding(
                Rule.RATE_CAP_BREACH,
                Severity.HIGH,
                loan,
                0,
                f"APR {facts.apr_bps} bps above the cap {facts.rate_cap_bps} bps",
                _some(facts.registration_evidence),
            )
        )
    if facts.days_past_due > 0:
        severity = {1: Severity.LOW, 2: Severity.MEDIUM}.get(facts.bucket, Severity.HIGH)
        findings.append(
            Finding(
                Rule.OVERDUE,
                severity,
                loan,
                facts.outstanding,
                f"{facts.days_past_due} days past due",
                _some(facts.last_due_evidence or facts.registration_evidence),
            )
        )
    return findings


def _some(evidence: Evidence | None) -> tuple[Evidence, ...]:
    return () if evidence is None else (evidence,)
