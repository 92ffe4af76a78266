"""Client of the LoanLedger contract: loans, money movements, keeper upkeep, reminders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from eth_abi.abi import decode, encode
from web3 import Web3
from web3.contract import Contract

from loantrace.chain.artifacts import load_artifact
from loantrace.chain.registry import agreement_struct, leaf_struct, matches_build
from loantrace.chain.transactor import Transactor, TxResult, call_intent
from loantrace.domain.agreement import Agreement, SignedAgreement
from loantrace.domain.errors import ConfigurationError
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.schedule import Schedule
from loantrace.domain.terms import METHOD_CODES, LoanTerms

ARTIFACT = "LoanLedger"
REGULATOR_ROLE = Web3.keccak(text="REGULATOR_ROLE")


class LoanStatus(IntEnum):
    """Mirror of `ILoanLedger.LoanStatus`."""

    NONE = 0
    REGISTERED = 1
    ACTIVE = 2
    REPAID = 3
    DEFAULTED = 4


@dataclass(frozen=True)
class ScheduledInstalment:
    """One instalment as the contract stores it: `charges` is interest plus fees."""

    due_at: int
    principal: int
    charges: int


@dataclass(frozen=True)
class LoanOnChain:
    """A loan as the contract stores it."""

    lender: str
    status: LoanStatus
    apr_bps: int
    instalment_count: int
    next_unpaid: int
    currency: str
    principal: int
    disbursed: int
    rate_cap_bps: int
    repaid: int
    scheduled_total: int
    paid_into_next: int
    start_at: int


@dataclass(frozen=True)
class RaisedReminder:
    """A `ReminderRaised` event and where it is on chain."""

    tx_hash: str
    log_index: int
    block_number: int
    loan_id: str
    lender: str
    instalment: int
    stage: int
    due_at: int
    amount_due: int
    days_past_due: int


@dataclass(frozen=True)
class Upkeep:
    """What `checkUpkeep` found: reminders due now, and the data to perform them."""

    needed: bool
    perform_data: bytes
    entries: tuple[tuple[str, int, int], ...]  # (loan id hex, instalment, stage)


def deploy_ledger(
    transactor: Transactor,
    w3: Web3,
    *,
    admin: str,
    registry: str,
    lpr_bps: int,
    policy: tuple[int, int, int],
) -> str:
    """Deploy a LoanLedger trusting `registry` (cap 4 × `lpr_bps`); return its address."""
    return transactor.deploy(load_artifact(ARTIFACT), admin, registry, lpr_bps, policy)


def terms_struct(terms: LoanTerms) -> tuple[Any, ...]:
    """Return `terms` as the contract's `LoanTerms` tuple."""
    return (
        terms.principal,
        terms.currency.encode("ascii"),
        terms.schedule().start_at,
        terms.purpose.encode("ascii").ljust(32, b"\0"),
        METHOD_CODES[terms.repayment_method],
        terms.apr_bps,
    )


def schedule_struct(schedule: Schedule) -> list[tuple[int, int, int, int]]:
    """Return `schedule` as the contract's `Instalment[]`."""
    return [(i.due_at, i.principal, i.interest, i.fees) for i in schedule.instalments]


def encode_check_data(start: int, count: int) -> bytes:
    """Return `checkUpkeep` input for the page of loans [start, start + count)."""
    return encode(["uint256", "uint256"], [start, count])


def encode_perform_data(entries: Sequence[tuple[bytes, int, int]]) -> bytes:
    """Return `performUpkeep` input for (loan id, instalment, stage) entries."""
    ids, indexes, stages = (
        (list(col) for col in zip(*entries, strict=True)) if entries else ([], [], [])
    )
    return encode(["bytes32[]", "uint16[]", "uint8[]"], [ids, indexes, stages])


class LedgerClient:
    """Typed calls to one deployed LoanLedger."""

    def __init__(self, w3: Web3, address: str, transactor: Transactor | None = None) -> None:
        """Bind to the contract at `address`; without a transactor the client only reads."""
        artifact = load_artifact(ARTIFACT)
        code = bytes(w3.eth.get_code(Web3.to_checksum_address(address)))
        if not matches_build(code, artifact):
            raise ConfigurationError(f"no LoanLedger of this build at {address}")
        self._w3 = w3
        self.address = Web3.to_checksum_address(address)
        self.contract: Contract = w3.eth.contract(address=self.address, abi=artifact["abi"])
        self._transactor = transactor

    @property
    def transactor(self) -> Transactor:
        """Return the sender of this client's writes; a read-only client has none."""
        if self._transactor is None:
            raise ConfigurationError("this LoanLedger client is read-only: it sends nothing")
        return self._transactor

    # writes ---------------------------------------------------------------------------------

    def register_loan(
        self, agreement: Agreement, terms: LoanTerms, *, dry_run: bool = False
    ) -> TxResult | None:
        """Register a loan on a singly notarised agreement with exactly its signed terms."""
        call = self.contract.functions.registerLoan(
            agreement_struct(agreement), terms_struct(terms), schedule_struct(terms.schedule())
        )
        if dry_run:
            self.transactor.preflight(call)
            return None
        return self.transactor.send(call, intent=call_intent(call))

    def register_batched_loan(
        self,
        root: bytes,
        signed: SignedAgreement,
        proof: Sequence[bytes],
        terms: LoanTerms,
        *,
        dry_run: bool = False,
    ) -> TxResult | None:
        """Register a loan on an agreement of a batch, proving its inclusion."""
        call = self.contract.functions.registerBatchedLoan(
            root,
            leaf_struct(signed),
            list(proof),
            terms_struct(terms),
            schedule_struct(terms.schedule()),
        )
        if dry_run:
            self.transactor.preflight(call)
            return None
        return self.transactor.send(call, intent=call_intent(call))

    def record_disbursement(
        self, loan_id: bytes, amount: int, to_account: bytes, external_ref: bytes
    ) -> TxResult:
        """Record money paid out to the borrower."""
        call = self.contract.functions.recordDisbursement(loan_id, amount, to_account, external_ref)
        return self.transactor.send(call, intent=f"{self.address}:ref:{to_hex(external_ref)}")

    def record_repayment(
        self, loan_id: bytes, amount: int, from_account: bytes, external_ref: bytes
    ) -> TxResult:
        """Record a repayment (allocated oldest instalment first by the contract)."""
        call = self.contract.functions.recordRepayment(loan_id, amount, from_account, external_ref)
        return self.transactor.send(call, intent=f"{self.address}:ref:{to_hex(external_ref)}")

    def record_lpr(self, lpr_bps: int, effective_at: int) -> TxResult:
        """Record the one-year LPR in force from `effective_at` (REGULATOR only)."""
        return self.transactor.send(self.contract.functions.recordLpr(lpr_bps, effective_at))

    def grant_regulator(self, account: str) -> TxResult:
        """Grant REGULATOR to `account` (admin only)."""
        return self.transactor.send(self.contract.functions.grantRole(REGULATOR_ROLE, account))

    def update_status(self, loan_id: bytes) -> TxResult:
        """Mark the loan Defaulted if it is past the default age (permissionless)."""
        return self.transactor.send(self.contract.functions.updateStatus(loan_id))

    def perform_upkeep(self, perform_data: bytes) -> TxResult:
        """Emit the reminders in `perform_data` that are still due (permissionless)."""
        return self.transactor.send(self.contract.functions.performUpkeep(perform_data))

    # reads ----------------------------------------------------------------------------------

    def check_upkeep(self, start: int = 0, count: int = 200) -> Upkeep:
        """Ask the contract which reminders are due among one page of loans."""
        needed, data = self.contract.functions.checkUpkeep(encode_check_data(start, count)).call()
        ids, indexes, stages = decode(["bytes32[]", "uint16[]", "uint8[]"], bytes(data))
        entries = tuple(
            (to_hex(bytes(i)), int(n), int(s)) for i, n, s in zip(ids, indexes, stages, strict=True)
        )
        return Upkeep(bool(needed), bytes(data), entries)

    def loan_of(self, loan_id: bytes) -> LoanOnChain | None:
        """Return the loan stored under `loan_id`, if any."""
        raw = self.contract.functions.loanOf(loan_id).call()
        if int(raw[1]) == 0:
            return None
        lender, status, apr, count, next_unpaid, currency, *rest = raw
        principal, disbursed, cap, repaid, total, paid_into_next, start_at = map(int, rest)
        return LoanOnChain(
            lender=lender,
            status=LoanStatus(status),
            apr_bps=int(apr),
            instalment_count=int(count),
            next_unpaid=int(next_unpaid),
            currency=bytes(currency).rstrip(b"\0").decode("ascii"),
            principal=principal,
            disbursed=disbursed,
            rate_cap_bps=cap,
            repaid=repaid,
            scheduled_total=total,
            paid_into_next=paid_into_next,
            start_at=start_at,
        )

    def instalment_of(self, loan_id: bytes, index: int) -> tuple[ScheduledInstalment, int]:
        """Return instalment `index` of a loan and the bitmask of stages already reminded."""
        (due_at, principal, charges), reminded = self.contract.functions.instalmentOf(
            loan_id, index
        ).call()
        return ScheduledInstalment(int(due_at), int(principal), int(charges)), int(reminded)

    def outstanding(self, loan_id: bytes) -> int:
        """Return what is still owed on the loan."""
        return int(self.contract.functions.outstandingOf(loan_id).call())

    def days_past_due(self, loan_id: bytes) -> tuple[int, int]:
        """Return (days past due, bucket) of the oldest unpaid instalment."""
        days, bucket = self.contract.functions.daysPastDue(loan_id).call()
        return int(days), int(bucket)

    def rate_cap(self) -> int:
        """Return the APR cap in force now."""
        return int(self.contract.functions.rateCap().call())

    def rate_cap_at(self, timestamp: int) -> tuple[int, int]:
        """Return (cap, LPR) in basis points in force at `timestamp`."""
        cap, lpr = self.contract.functions.rateCapAt(timestamp).call()
        return int(cap), int(lpr)

    def has_open_loan(self, loan_id: bytes) -> bool:
        """Return whether a loan on `loan_id` is registered and not repaid."""
        return bool(self.contract.functions.hasOpenLoan(loan_id).call())

    def hash_terms(self, terms: LoanTerms) -> bytes:
        """Return the contract's struct hash of `terms` with their schedule."""
        call = self.contract.functions.hashTerms(
            terms_struct(terms), schedule_struct(terms.schedule())
        )
        return bytes(call.call())

    def loan_count(self) -> int:
        """Return how many loans are registered."""
        return int(self.contract.functions.loanCount().call())

    def reminders_between(self, from_block: int, to_block: int) -> list[RaisedReminder]:
        """Read every `ReminderRaised` event in a block range (whoever performed the upkeep)."""
        logs = self.contract.events.ReminderRaised.get_logs(
            from_block=from_block, to_block=to_block
        )
        return [
            _reminder(to_hex(bytes(e["transactionHash"])), int(e["blockNumber"]), e) for e in logs
        ]

    def reminders_in(self, result: TxResult) -> list[RaisedReminder]:
        """Decode the `ReminderRaised` events of a mined transaction."""
        event = self.contract.events.ReminderRaised()
        out = []
        for entry in result.logs:
            if entry["address"] != self.address:
                continue
            try:
                decoded: Any = event.process_log(entry)
            except Exception:  # noqa: S112 - another event of this contract
                continue
            out.append(_reminder(result.tx_hash, result.block_number, decoded))
        return out


def _reminder(tx_hash: str, block_number: int, decoded: Any) -> RaisedReminder:
    args = decoded["args"]
    return RaisedReminder(
        tx_hash=tx_hash,
        log_index=int(decoded["logIndex"]),
        block_number=block_number,
        loan_id=to_hex(bytes(args["loanId"])),
        lender=args["lender"],
        instalment=int(args["instalment"]),
        stage=int(args["stage"]),
        due_at=int(args["dueAt"]),
        amount_due=int(args["amountDue"]),
        days_past_due=int(args["daysPastDue"]),
    )
