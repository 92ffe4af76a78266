"""FundFlow: transfers by the lender or a REPORTER, each reference once per reporter; labels."""

from __future__ import annotations

import pytest
from eth_account import Account

from loantrace.chain.fundflow import (
    REGULATOR_ROLE,
    REPORTER_ROLE,
    FundFlowClient,
    deploy_fundflow,
)
from loantrace.chain.registry import revert_decoder
from loantrace.chain.transactor import Transactor
from loantrace.domain.errors import Conflict, InvalidInput, NotActive, Unauthorized
from tests.chain.conftest import LedgerEnv, ref

A, B, C = b"\xaa" * 32, b"\xbb" * 32, b"\xcc" * 32


def _flow(env: LedgerEnv) -> FundFlowClient:
    address = deploy_fundflow(
        env.rt.registry.transactor,
        env.rt.node.w3,
        admin=env.rt.notary.lender,
        ledger=env.ledger.address,
        registry=env.rt.registry.address,
    )
    return FundFlowClient(env.rt.node.w3, address, env.rt.registry.transactor)


def _as(env: LedgerEnv, flow: FundFlowClient) -> FundFlowClient:
    account = Account.create()
    env.rt.node.fund_for_dev(account)
    transactor = Transactor(env.rt.node.w3, account, revert_decoder())
    return FundFlowClient(env.rt.node.w3, flow.address, transactor)


def test_lender_records_transfer_of_a_disbursed_loan(env: LedgerEnv) -> None:
    flow = _flow(env)
    loan_id = env.active(n=1)
    result = flow.record_transfer(
        loan_id=loan_id,
        from_account=A,
        to_account=B,
        amount=5_000,
        purpose="CONSUMPTION",
        external_ref=ref(),
    )
    (event,) = flow.contract.events.FundsTransferred().process_receipt(
        env.rt.node.w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
    )
    args = event["args"]
    assert (args["loanId"], args["fromAccount"], args["toAccount"], args["amount"]) == (
        loan_id,
        A,
        B,
        5_000,
    )
    assert args["reporter"] == env.rt.notary.lender


def test_transfer_reverts_before_disbursement_and_on_bad_input(env: LedgerEnv) -> None:
    flow = _flow(env)
    registered = env.register(n=1)
    with pytest.raises(NotActive, match="FundFlowLoanNotDisbursed"):
        flow.record_transfer(
            loan_id=registered,
            from_account=A,
            to_account=B,
            amount=1,
            purpose="X",
            external_ref=ref(),
        )
    loan_id = env.active(n=1)
    for kwargs, error in (
        ({"amount": 0}, "FundFlowZeroAmount"),
        ({"to_account": A}, "FundFlowSameAccount"),
        ({"from_account": bytes(32)}, "FundFlowZeroAccount"),
    ):
        args = {
            "loan_id": loan_id,
            "from_account": A,
            "to_account": B,
            "amount": 1,
            "purpose": "X",
            "external_ref": ref(),
        } | kwargs
        with pytest.raises(InvalidInput, match=error):
            flow.record_transfer(**args)  # type: ignore[arg-type]


def _transfer(flow: FundFlowClient, loan_id: bytes, reference: bytes) -> None:
    flow.record_transfer(
        loan_id=loan_id, from_account=A, to_account=B, amount=7, purpose="X", external_ref=reference
    )


def test_each_reporter_may_use_an_external_reference_once(env: LedgerEnv) -> None:
    flow = _flow(env)
    loan_id = env.active(n=1)
    reporter = _as(env, flow)
    flow.grant(REPORTER_ROLE, reporter.transactor.address)
    reference = ref()
    _transfer(reporter, loan_id, reference)
    assert flow.reference_used(reporter.transactor.address, reference)
    assert not flow.reference_used(env.rt.notary.lender, reference)
    _transfer(flow, loan_id, reference)  # the lender's own reference: not blocked by theirs
    assert flow.reference_used(env.rt.notary.lender, reference)
    for same in (reporter, flow):
        with pytest.raises(Conflict, match="FundFlowReferenceUsed"):
            _transfer(same, loan_id, reference)


def test_only_the_loans_lender_or_a_reporter_records(env: LedgerEnv) -> None:
    flow = _flow(env)
    loan_id = env.active(n=1)
    stranger = _as(env, flow)
    with pytest.raises(Unauthorized, match="FundFlowNotReporter"):
        stranger.record_transfer(
            loan_id=loan_id, from_account=A, to_account=B, amount=1, purpose="X", external_ref=ref()
        )
    other_lender = env.other(notary=True)
    other = FundFlowClient(env.rt.node.w3, flow.address, other_lender.transactor)
    with pytest.raises(Unauthorized, match="FundFlowNotReporter"):
        other.record_transfer(
            loan_id=loan_id, from_account=A, to_account=B, amount=1, purpose="X", external_ref=ref()
        )


def test_labels_are_set_by_regulator_or_admin_and_logged(env: LedgerEnv) -> None:
    flow = _flow(env)
    stranger = _as(env, flow)
    with pytest.raises(Unauthorized, match="FundFlowNotRegulator"):
        stranger.label_account(C, "SECURITIES")
    regulator = _as(env, flow)
    flow.grant(REGULATOR_ROLE, regulator.transactor.address)
    regulator.label_account(C, "SECURITIES")
    result = flow.label_account(C, "REAL_ESTATE")  # admin may too
    (event,) = flow.contract.events.AccountLabelled().process_receipt(
        env.rt.node.w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
    )
    assert event["args"]["previous"].rstrip(b"\0") == b"SECURITIES"
    assert flow.category_of(C) == "REAL_ESTATE"
    with pytest.raises(InvalidInput, match="FundFlowZeroAccount"):
        flow.label_account(bytes(32), "SECURITIES")
