"""Every state-changing function of every contract, read from the ABIs, refuses a stranger.

The use cases run a full life (notarise singly and in a batch, supersede and revoke both,
register loans on both, disburse, repay, trace, label, record an LPR, set the reminder
policy, grant and revoke roles, raise reminders). Every transaction they send is first
simulated from a funded account holding no role, with the very same calldata, so the only
thing that differs is the sender: the simulation must revert with an access error. A
function the ABIs list that the life did not reach fails the test, so a new function is
covered as soon as it exists, or the test says it is not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_tester.exceptions import TransactionFailed
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from loantrace.bootstrap import Runtime
from loantrace.chain.artifacts import load_artifact
from loantrace.chain.fundflow import REPORTER_ROLE, FundFlowClient
from loantrace.chain.ledger import LedgerClient
from loantrace.chain.registry import NOTARY_ROLE, RegistryClient, deploy_registry, revert_decoder
from loantrace.chain.signers import LocalSigner
from loantrace.chain.transactor import Transactor, TxResult
from loantrace.devtools.sample_terms import terms_at
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, StandardMerkleTree, agreement_leaf_values
from loantrace.services.loans import Movement
from loantrace.settings import DEV_DEPLOYER_KEY
from tests.conftest import SubmissionFactory, admin_registry, signed_for

CONTRACTS = ("AgreementRegistry", "LoanLedger", "FundFlow")
ACCESS_ERRORS = {
    "AccessControlUnauthorizedAccount",
    "AccessControlBadConfirmation",
    "AgreementRegistryNotLender",
    "LoanLedgerNotLender",
    "FundFlowNotRegulator",
    "FundFlowNotReporter",
}
# Callable by anyone on purpose; each re-checks everything on chain.
PERMISSIONLESS = {
    "LoanLedger.performUpkeep": "the keeper-network convention: it raises only due reminders",
    "LoanLedger.updateStatus": "moves a loan to the status its own data already implies",
}
DAY = 86_400


@dataclass
class Probe:
    """What the stranger and a rival lender (a NOTARY of its own) got, per function."""

    stranger: str
    rival: str
    outcomes: dict[str, set[str]] = field(default_factory=dict)
    rival_outcomes: dict[str, set[str]] = field(default_factory=dict)


def _state_changing() -> set[str]:
    return {
        f"{name}.{item['name']}"
        for name in CONTRACTS
        for item in load_artifact(name)["abi"]
        if item.get("type") == "function" and item["stateMutability"] not in ("view", "pure")
    }


def _simulate(call: Any, sender: str, decoder: Any) -> str:
    """Run `call` as `sender` without sending it; return "succeeded" or the error's name."""
    try:
        call.call({"from": sender})
    except ContractCustomError as exc:
        data = exc.data if isinstance(exc.data, str) else str(exc.message)
        decoded = decoder.decode(bytes.fromhex(data.removeprefix("0x")))
        return decoded[0] if decoded else f"unknown {data[:10]}"
    except ContractLogicError as exc:
        return f"logic: {exc}"
    except TransactionFailed as exc:  # the embedded chain reports the raw revert data
        return _decode_embedded(decoder, str(exc.args[0]))
    return "succeeded"


def _decode_embedded(decoder: Any, message: str) -> str:
    raw = message.removeprefix("execution reverted: ")
    try:
        data = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return f"other: {raw[:60]}"
    decoded = decoder.decode(data) if isinstance(data, bytes) else None
    return decoded[0] if decoded else f"other: {raw[:60]}"


def _function_name(rt: Runtime, call: Any) -> str:
    names = {
        rt.registry.address: "AgreementRegistry",
        rt.ledger.address: "LoanLedger",
        rt.fundflow.address: "FundFlow",
    }
    contract = names.get(call.address, "AgreementRegistry")  # a second registry, if deployed
    return f"{contract}.{call.fn_name}"


@pytest.fixture
def probed(embedded_runtime: Runtime) -> Iterator[tuple[Runtime, Probe]]:
    """The runtime, with every send simulated first from a funded stranger."""
    rt = embedded_runtime
    stranger = Account.create()
    rival = Account.create()
    rt.node.fund_for_dev(stranger)
    rt.node.fund_for_dev(rival)
    admin_registry(rt).grant_notary(rival.address)
    probe = Probe(stranger.address, rival.address)
    decoder = revert_decoder()
    original = Transactor.send

    def send(self: Transactor, call: Any, *, intent: str | None = None) -> TxResult:
        if hasattr(call, "fn_name"):
            name = _function_name(rt, call)
            probe.outcomes.setdefault(name, set()).add(_simulate(call, stranger.address, decoder))
            probe.rival_outcomes.setdefault(name, set()).add(
                _simulate(call, rival.address, decoder)
            )
        return original(self, call, intent=intent)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Transactor, "send", send)  # every account's sends: lender, regulator, admin
        yield rt, probe


def _life(rt: Runtime, make: SubmissionFactory) -> None:
    """Use every capability once, through the use cases where there is one."""
    terms = terms_at(rt.node.now(), principal=60_000, instalments=2, first_in_days=2)
    single = rt.notary.notarise(make(rt, terms=terms).submission)
    loan = bytes.fromhex(rt.loans.register(bytes.fromhex(single.digest[2:])).loan_id[2:])
    account = b"\x0a" * 32
    rt.loans.disburse(loan, Movement(60_000, account, "abi-d1"))
    rt.loans.repay(loan, Movement(1_000, b"\x0b" * 32, "abi-r1"))
    rt.flows.record_transfer(
        loan_id=loan,
        from_account=account,
        to_account=b"\x0c" * 32,
        amount=500,
        purpose="CONSUMPTION",
        external_ref="abi-t1",
    )
    assert rt.regulator is not None
    rt.regulator.flows.label(b"\x0c" * 32, "SECURITIES")  # with the regulator's key
    batch = rt.notary.notarise_batch([make(rt, terms=terms).submission for _ in range(3)])
    rt.loans.register(bytes.fromhex(batch[0].digest[2:]))  # registerBatchedLoan
    amend = make(rt, terms=terms, supersedes=bytes.fromhex(batch[1].digest[2:])).submission
    rt.notary.notarise(amend)  # supersedeBatched
    later = rt.notary.notarise(make(rt, terms=terms).submission)
    rt.notary.notarise(make(rt, terms=terms, supersedes=bytes.fromhex(later.digest[2:])).submission)
    rt.notary.revoke(bytes.fromhex(batch[2].digest[2:]), 1)  # revokeBatched
    kept = rt.notary.notarise(make(rt, terms=terms).submission)
    rt.notary.revoke(bytes.fromhex(kept.digest[2:]), 2)  # revoke
    tree = StandardMerkleTree.of(
        [agreement_leaf_values(signed_for(rt, make(rt, terms=terms)))], AGREEMENT_LEAF_TYPES
    )
    rt.registry.anchor_batch(tree.root, 1)  # the bare anchor, outside the notary's batch path
    _roles_and_settings(rt)
    rt.node.advance_time(5 * DAY)
    rt.keeper.run_once()  # performUpkeep
    rt.ledger.update_status(loan)


def _roles_and_settings(rt: Runtime) -> None:
    """The admin's and the regulator's functions, each sent with its own key."""
    admin = Transactor(rt.node.w3, LocalSigner.from_key(DEV_DEPLOYER_KEY), revert_decoder())
    registry = RegistryClient(rt.node.w3, rt.registry.address, admin)
    ledger = LedgerClient(rt.node.w3, rt.ledger.address, admin)
    fundflow = FundFlowClient(rt.node.w3, rt.fundflow.address, admin)
    helper = Account.create().address
    registry.grant_notary(helper)  # grantRole
    admin.send(registry.contract.functions.revokeRole(NOTARY_ROLE, helper))
    ledger.grant_regulator(helper)
    fundflow.grant(REPORTER_ROLE, helper)
    assert rt.regulator is not None
    regulator = LedgerClient(rt.node.w3, rt.ledger.address, rt.regulator.registry.transactor)
    regulator.record_lpr(310, rt.node.now() + DAY)  # recordLpr
    admin.send(ledger.contract.functions.setReminderPolicy((3, 3, 90)))
    unused = Web3.keccak(text="UNUSED_ROLE")  # renouncing or revoking it costs nothing
    for contract in (registry.contract, ledger.contract, fundflow.contract):
        admin.send(contract.functions.revokeRole(unused, helper))
        admin.send(contract.functions.renounceRole(unused, admin.address))
    fresh = deploy_registry(admin, rt.node.w3, admin=admin.address)
    RegistryClient(rt.node.w3, fresh, admin).set_loan_ledger(rt.ledger.address)


def test_every_state_changing_function_refuses_a_stranger(
    probed: tuple[Runtime, Probe], make_submission: SubmissionFactory
) -> None:
    rt, probe = probed
    _life(rt, make_submission)
    expected = _state_changing()
    reached = set(probe.outcomes)
    assert expected - reached == set(), "extend _life so it calls the new functions"
    leaks = {
        name: outcomes
        for name, outcomes in probe.outcomes.items()
        if name not in PERMISSIONLESS and not outcomes <= ACCESS_ERRORS
    }
    assert leaks == {}
    for name in PERMISSIONLESS:
        assert probe.outcomes[name].isdisjoint(ACCESS_ERRORS), name
    for name in sorted(probe.outcomes):
        print(
            f"  {name}: {sorted(probe.outcomes[name])} rival {sorted(probe.rival_outcomes[name])}"
        )
    print(f"{len(expected)} state-changing functions; each refused a stranger or is permissionless")
