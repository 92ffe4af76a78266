"""The loan view is read from the index: amounts, status and schedule come from events."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loantrace.bootstrap import Runtime
from loantrace.chain.node import connect
from loantrace.devtools.anvil import Anvil
from loantrace.devtools.sample_terms import terms_at
from loantrace.services.loans import Movement
from tests.conftest import SubmissionFactory, start_runtime

pytestmark = pytest.mark.anvil


@pytest.fixture
def indexed_apart(anvil: Anvil) -> Iterator[Runtime]:
    """A runtime whose reads do not index first (the indexer runs on its own, as in prod)."""
    rt = start_runtime(connect(anvil.url), index_in_serve=True)
    yield rt
    rt.close()


def test_the_loan_view_shows_only_what_is_indexed(
    indexed_apart: Runtime, make_submission: SubmissionFactory
) -> None:
    rt = indexed_apart
    terms = terms_at(rt.node.now(), principal=50_000, instalments=3)
    receipt = rt.notary.notarise(make_submission(rt, terms=terms).submission)
    view = rt.loans.register(bytes.fromhex(receipt.digest[2:]))
    loan_id = bytes.fromhex(view.loan_id[2:])
    assert (view.loan.status, view.loan.disbursed) == ("unconfirmed", 0)  # sent, not indexed
    rt.loans.disburse(loan_id, Movement(50_000, b"\x01" * 32, "bank-1"))
    assert rt.loans.view(loan_id).loan.disbursed == 0  # still not indexed
    rt.indexer.run_once()
    indexed = rt.loans.view(loan_id).loan
    assert (indexed.status, indexed.disbursed, indexed.repaid) == ("active", 50_000, 0)
    assert [(m.kind, m.amount, m.external_ref) for m in indexed.movements] == [
        ("disbursement", 50_000, "bank-1")
    ]
    assert indexed.schedule == terms.schedule()  # rebuilt from LoanTermsBound
    assert indexed.registered_tx == view.loan.registered_tx


def test_a_repayment_sent_by_another_tool_appears_without_its_bank_reference(
    indexed_apart: Runtime, make_submission: SubmissionFactory
) -> None:
    rt = indexed_apart
    terms = terms_at(rt.node.now(), principal=30_000, instalments=2)
    receipt = rt.notary.notarise(make_submission(rt, terms=terms).submission)
    loan_id = bytes.fromhex(rt.loans.register(bytes.fromhex(receipt.digest[2:])).loan_id[2:])
    rt.loans.disburse(loan_id, Movement(30_000, b"\x02" * 32, "bank-2"))
    total = terms.schedule().total
    # The lender's key, but not through this service: no request record, only the chain.
    rt.ledger.record_repayment(loan_id, total, b"\x03" * 32, b"\x04" * 32)
    rt.indexer.run_once()
    loan = rt.loans.view(loan_id).loan
    assert (loan.status, loan.repaid) == ("repaid", total)
    repayment = loan.movements[-1]
    assert (repayment.kind, repayment.amount, repayment.external_ref) == ("repayment", total, None)
    assert repayment.record_id is None
    assert repayment.log_index is not None
