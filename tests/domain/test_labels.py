"""Findings judge each movement by the label in force when it happened; relabels are reported."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.audit import Rule, Severity, audit_loan
from loantrace.domain.labels import LabelChange, LabelHistory
from loantrace.domain.tracing import Evidence
from tests.domain.test_audit import BORROWER, BROKER, DISBURSE, _facts, _graph, _pay

SPEND = _pay(2, BORROWER, BROKER, 1_000)  # block 12
LATER = _pay(6, BORROWER, BROKER, 500)  # block 16


def _label(block: int, category: str | None, log_index: int = 1) -> LabelChange:
    return LabelChange(BROKER, category, Evidence(f"0xlabel{block}", block, log_index))


def _rules(history: LabelHistory, moves: list) -> list[tuple[Rule, Severity, int]]:  # type: ignore[type-arg]
    findings = audit_loan(_facts(), _graph(moves), history)
    return [(f.rule, f.severity, f.amount) for f in findings]


def test_a_later_relabel_neither_erases_a_finding_nor_hides_itself() -> None:
    history = LabelHistory([_label(5, "SECURITIES"), _label(14, "CONSUMPTION")])
    assert _rules(history, [DISBURSE, SPEND]) == [
        (Rule.PROHIBITED_USE, Severity.HIGH, 1_000),  # judged on SECURITIES, in force then
        (Rule.RELABELLED, Severity.LOW, 1_000),  # and the relabel is on record
    ]


def test_a_label_given_after_the_money_arrived_does_not_judge_it_retroactively() -> None:
    history = LabelHistory([_label(14, "SECURITIES")])
    assert _rules(history, [DISBURSE, SPEND]) == [(Rule.RELABELLED, Severity.LOW, 1_000)]
    both = _rules(history, [DISBURSE, SPEND, LATER])  # 500 more arrive after the label
    assert (Rule.PROHIBITED_USE, Severity.HIGH, 500) in both


def test_a_label_earlier_in_the_same_block_is_in_force() -> None:
    same_block = LabelHistory([LabelChange(BROKER, "SECURITIES", Evidence("0xl", 12, -1))])
    assert _rules(same_block, [DISBURSE, SPEND])[0] == (Rule.PROHIBITED_USE, Severity.HIGH, 1_000)


@given(st.lists(st.tuples(st.integers(0, 40), st.sampled_from(["A", "B", None])), max_size=8))
def test_at_returns_the_newest_change_strictly_before(
    changes: list[tuple[int, str | None]],
) -> None:
    history = LabelHistory(
        LabelChange("0xacct", c, Evidence(f"0x{i}", b, i)) for i, (b, c) in enumerate(changes)
    )
    for block in range(0, 42):
        order = (block, 0)
        earlier = sorted(((b, i), c) for i, (b, c) in enumerate(changes) if (b, i) < order)
        expected = earlier[-1][1] if earlier else None
        assert history.at("0xacct", order) == expected
