"""Turn indexed chain events into the tracing engine's inputs, with per-account indexes."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from loantrace.domain.labels import LabelChange
from loantrace.domain.tracing import Evidence, Movement
from loantrace.store.models import ChainEventRow

FLOW_EVENTS = (
    "LoanRegistered",
    "LoanTermsBound",
    "LoanDisbursed",
    "LoanRepaid",
    "FundsTransferred",
    "AccountLabelled",
)


@dataclass(frozen=True)
class LoanInfo:
    """What the chain says about a loan at registration, plus what was disbursed."""

    loan_id: str
    lender: str
    principal: int
    apr_bps: int
    rate_cap_bps: int
    purpose: str
    registration: Evidence
    start_at: int = 0
    # (due_at, principal, interest, fees) per instalment, as the borrower signed them
    schedule: tuple[tuple[int, int, int, int], ...] = ()


@dataclass
class FlowData:
    """Every movement in chain order, account labels, loans, and lookup indexes."""

    movements: list[Movement] = field(default_factory=list)
    categories: dict[str, str] = field(default_factory=dict)  # in force now
    label_changes: list[LabelChange] = field(default_factory=list)  # every one, chain order
    loans: dict[str, LoanInfo] = field(default_factory=dict)
    disbursed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    repaid: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    outflows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    inflows: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    disbursements: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    paid_out: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))

    def add(self, movement: Movement) -> None:
        """Append a movement (callers add in chain order) and index it."""
        index = len(self.movements)
        self.movements.append(movement)
        if movement.from_account is not None:
            self.outflows[movement.from_account].append(index)
        if movement.to_account is not None:
            self.inflows[movement.to_account].append(index)
        if movement.kind == "disbursement" and movement.loan_id is not None:
            self.disbursements[movement.loan_id].append(index)
            self.disbursed[movement.loan_id] += movement.amount
        if movement.kind == "repayment" and movement.loan_id is not None:
            self.repaid[movement.loan_id] += movement.amount


def instalment_of(raw: object) -> tuple[int, int, int, int]:
    """Read an indexed `Instalment` (a list in ABI order, or a mapping by field name)."""
    if isinstance(raw, dict):
        return (int(raw["dueAt"]), int(raw["principal"]), int(raw["interest"]), int(raw["fees"]))
    if not isinstance(raw, list | tuple) or len(raw) != 4:
        raise ValueError(f"not an indexed instalment: {raw!r}")
    return int(raw[0]), int(raw[1]), int(raw[2]), int(raw[3])


def text_code(value: str) -> str:
    """Decode a left-aligned bytes32 code given as hex ("0x434f4e…" -> "CONSUMPTION")."""
    raw = bytes.fromhex(value.removeprefix("0x"))
    return raw.rstrip(b"\0").decode("ascii", errors="replace")


def build(rows: Iterable[ChainEventRow]) -> FlowData:
    """Build flow data from indexed event rows given in chain order."""
    data = FlowData()
    for row in rows:
        args = json.loads(row.args_json)
        evidence = Evidence(row.tx_hash, row.block_number, row.log_index)
        if row.event == "LoanRegistered":
            data.loans[args["loanId"]] = LoanInfo(
                loan_id=args["loanId"],
                lender=args["lender"],
                principal=int(args["principal"]),
                apr_bps=int(args["aprBps"]),
                rate_cap_bps=int(args["rateCapBps"]),
                purpose=text_code(args["purpose"]),
                registration=evidence,
            )
        elif row.event == "LoanTermsBound" and args["loanId"] in data.loans:
            data.loans[args["loanId"]] = replace(
                data.loans[args["loanId"]],
                start_at=int(args["startAt"]),
                schedule=tuple(instalment_of(i) for i in args["schedule"]),
            )
        elif row.event == "LoanDisbursed":
            data.paid_out[args["loanId"]].append((int(args["disbursedAt"]), int(args["amount"])))
            data.add(
                Movement(
                    evidence,
                    "disbursement",
                    args["loanId"],
                    None,
                    args["toAccount"],
                    int(args["amount"]),
                )
            )
        elif row.event == "LoanRepaid":
            data.add(
                Movement(
                    evidence,
                    "repayment",
                    args["loanId"],
                    args["fromAccount"],
                    None,
                    int(args["amount"]),
                )
            )
        elif row.event == "FundsTransferred":
            data.add(
                Movement(
                    evidence,
                    "transfer",
                    args["loanId"],
                    args["fromAccount"],
                    args["toAccount"],
                    int(args["amount"]),
                )
            )
        elif row.event == "AccountLabelled":
            category = text_code(args["category"])
            data.label_changes.append(LabelChange(args["account"], category or None, evidence))
            if category:
                data.categories[args["account"]] = category
            else:
                data.categories.pop(args["account"], None)
    return data
