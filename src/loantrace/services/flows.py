"""Fund-flow use cases: record transfers and labels, trace a loan, audit loans and accounts."""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass, replace

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from loantrace.chain.fundflow import FundFlowClient
from loantrace.chain.ledger import LedgerClient
from loantrace.chain.transactor import TxResult
from loantrace.domain.audit import Finding, LoanFacts, audit_loan
from loantrace.domain.cost import CashFlow, annual_cost_bps, exceeds_cap
from loantrace.domain.delinquency import ReminderPolicy, arrears
from loantrace.domain.errors import InvalidInput, NotFound
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.labels import LabelHistory
from loantrace.domain.tracing import FlowGraph, Movement, Policy, trace
from loantrace.services.flowdata import FLOW_EVENTS, FlowData, build
from loantrace.services.indexer import Indexer
from loantrace.store.models import ChainEventRow

log = logging.getLogger(__name__)

MAX_HOPS = 12
MAX_ACCOUNTS = 5_000  # accounts one trace may visit
MAX_EDGES = 10_000  # tainted edges one trace may return
_CATEGORY = r"^[A-Z][A-Z0-9_]{1,31}$"


@dataclass(frozen=True)
class TransferRecord:
    """A fund-use transfer recorded on chain."""

    loan_id: str
    from_account: str
    to_account: str
    amount: int
    purpose: str
    external_ref: str
    tx_hash: str
    block_number: int


def relevant_movements(
    data: FlowData, loan_id: str, max_hops: int, max_accounts: int = MAX_ACCOUNTS
) -> tuple[list[Movement], bool]:
    """Collect the movements a trace of `loan_id` can touch, hop by hop, from in-memory indexes.

    Labelled accounts are destinations: money that reaches a merchant, a broker or an
    affiliate is not followed further, so busy hubs do not pull the whole portfolio in.
    """
    picked = set(data.disbursements.get(loan_id, []))
    frontier = {data.movements[i].to_account for i in picked} - {None}
    seen: set[str | None] = set(frontier)
    truncated = False
    for _hop in range(max_hops):
        reached: set[str | None] = set()
        for account in frontier:
            if account is None or account in data.categories:
                continue
            picked.update(data.inflows.get(account, ()))
            for index in data.outflows.get(account, ()):
                picked.add(index)
                target = data.movements[index].to_account
                if target is not None and target not in seen:
                    seen.add(target)
                    reached.add(target)
        frontier = reached
        if len(seen) > max_accounts:
            truncated = True
            break
        if not frontier:
            break
    return [data.movements[i] for i in sorted(picked)], truncated


class FlowService:
    """Trace where loan money went, from the indexed chain events."""

    def __init__(
        self,
        *,
        engine: Engine,
        indexer: Indexer,
        fundflow: FundFlowClient,
        ledger: LedgerClient,
        index_on_read: bool,
        policy: ReminderPolicy,
    ) -> None:
        self._policy = policy
        self._engine = engine
        self._indexer = indexer
        self._fundflow = fundflow
        self._ledger = ledger
        self._index_on_read = index_on_read
        self._lock = threading.Lock()
        self._data: FlowData | None = None
        self._loaded_upto = -1
        self._portfolio: list[Finding] | None = None

    def record_transfer(
        self,
        *,
        loan_id: bytes,
        from_account: bytes,
        to_account: bytes,
        amount: int,
        purpose: str,
        external_ref: str,
    ) -> TransferRecord:
        """Record a fund-use transfer of a disbursed loan on chain."""
        if isinstance(amount, bool) or not isinstance(amount, int) or not 1 <= amount < 2**53:
            raise InvalidInput("amount must be a positive integer number of minor units")
        if not 1 <= len(external_ref) <= 128 or not external_ref.isprintable():
            raise InvalidInput("external_ref must be 1..128 printable characters")
        if self._ledger.loan_of(loan_id) is None:
            raise NotFound(f"no loan {to_hex(loan_id)} on the ledger")
        result: TxResult = self._fundflow.record_transfer(
            loan_id=loan_id,
            from_account=from_account,
            to_account=to_account,
            amount=amount,
            purpose=purpose,
            external_ref=hashlib.sha256(external_ref.encode()).digest(),
        )
        return TransferRecord(
            to_hex(loan_id),
            to_hex(from_account),
            to_hex(to_account),
            amount,
            purpose,
            external_ref,
            result.tx_hash,
            result.block_number,
        )

    def label(self, account: bytes, category: str) -> TxResult:
        """Label an account commitment with a category on chain (REGULATOR or admin key)."""
        return self._fundflow.label_account(account, category)

    def index_forever(self, interval: float, stop: threading.Event) -> None:
        """Index new blocks until `stop` is set; survive node and database hiccups."""
        while not stop.is_set():
            try:
                self._indexer.run_once()
            except Exception:
                log.exception("indexer pass failed; retrying after the interval")
            stop.wait(interval)

    def data(self) -> FlowData:
        """Return the flow data of everything indexed so far (indexing first if configured)."""
        with self._lock:
            if self._index_on_read:
                self._indexer.run_once()
            with Session(self._engine) as session:
                newest = session.exec(
                    select(ChainEventRow.block_number)
                    .order_by(col(ChainEventRow.block_number).desc())
                    .limit(1)
                ).first()
                newest = -1 if newest is None else int(newest)
                if self._data is None or newest != self._loaded_upto:
                    rows = session.exec(
                        select(ChainEventRow)
                        .where(col(ChainEventRow.event).in_(FLOW_EVENTS))
                        .order_by(col(ChainEventRow.block_number), col(ChainEventRow.log_index))
                    ).all()
                    self._data, self._loaded_upto, self._portfolio = build(rows), newest, None
            return self._data

    def trace(self, loan_id: str, *, policy: Policy, max_hops: int) -> FlowGraph:
        """Trace a loan's money downstream under `policy`, at most `max_hops` hops."""
        if not 1 <= max_hops <= MAX_HOPS:
            raise InvalidInput(f"max_hops must be between 1 and {MAX_HOPS}")
        data = self.data()
        if loan_id not in data.loans:
            raise NotFound(f"no loan {loan_id} is indexed")
        movements, truncated = relevant_movements(data, loan_id, max_hops)
        graph = trace(
            loan_id=loan_id,
            movements=movements,
            categories=data.categories,
            policy=policy,
            max_hops=max_hops,
            max_edges=MAX_EDGES,
        )
        if truncated and not graph.truncated:
            graph = replace(graph, truncated=True)
        return graph

    def audit(self, loan_id: str) -> list[Finding]:
        """Return the findings of one loan, each pointing at on-chain evidence."""
        data = self.data()
        info = data.loans.get(loan_id)
        if info is None:
            raise NotFound(f"no loan {loan_id} is indexed")
        graph = self.trace(loan_id, policy=Policy.FIFO, max_hops=MAX_HOPS)
        facts = loan_facts(data, loan_id, lender_accounts(data), self._now())
        return audit_loan(facts, graph, LabelHistory(data.label_changes))

    def portfolio(
        self,
        *,
        lender: str | None = None,
        rule: str | None = None,
        severity: str | None = None,
        from_block: int | None = None,
        to_block: int | None = None,
    ) -> list[Finding]:
        """Audit every indexed loan (cached until new events are indexed), then filter."""
        data = self.data()
        with self._lock:
            if self._portfolio is None:
                self._portfolio = audit_portfolio(data, now=self._now())
            findings = self._portfolio
        wanted_lender = lender.lower() if lender else None

        def keep(f: Finding) -> bool:
            blocks = [e.block_number for e in f.evidence]
            return (
                (wanted_lender is None or data.loans[f.loan_id].lender.lower() == wanted_lender)
                and (rule is None or str(f.rule) == rule)
                and (severity is None or str(f.severity) == severity)
                and (from_block is None or any(b >= from_block for b in blocks))
                and (to_block is None or any(b <= to_block for b in blocks))
            )

        return [f for f in findings if keep(f)]

    def _now(self) -> int:
        return int(self._ledger.contract.w3.eth.get_block("latest")["timestamp"])

    def account_flows(self, account: str) -> tuple[str | None, list[Movement]]:
        """Return an account's category and every movement into or out of it, in chain order."""
        data = self.data()
        indexes = sorted({*data.inflows.get(account, ()), *data.outflows.get(account, ())})
        if not indexes and account not in data.categories:
            raise NotFound(f"no movement touches account {account}")
        return data.categories.get(account), [data.movements[i] for i in indexes]


def lender_accounts(data: FlowData) -> frozenset[str]:
    """Return the accounts a regulator labelled as the lender's own."""
    return frozenset(a for a, c in data.categories.items() if c == "LENDER")


def loan_facts(data: FlowData, loan_id: str, lenders: frozenset[str], now: int) -> LoanFacts:
    """Return what the audit rules need to know about a loan at chain time `now`.

    Everything comes from the indexed events (the signed schedule, disbursements,
    repayments), so the per-loan and the portfolio audit judge a loan identically, whoever
    registered it.
    """
    info = data.loans[loan_id]
    dues = [(due, principal + interest + fees) for due, principal, interest, fees in info.schedule]
    repaid = min(data.repaid.get(loan_id, 0), sum(amount for _, amount in dues))
    outstanding, days, bucket = arrears(dues, repaid, now) if dues else (0, 0, 0)
    disbursements = tuple(data.movements[i].evidence for i in data.disbursements.get(loan_id, []))
    paid_out = data.paid_out.get(loan_id, [])
    first_due = info.schedule[0][0] if info.schedule else None
    by_first_due = sum(a for at, a in paid_out if first_due is None or at <= first_due)
    cost, exceeds = None, False
    if info.schedule and paid_out:
        flows = [CashFlow(at, -amount) for at, amount in paid_out] + [
            CashFlow(due, principal + interest + fees)
            for due, principal, interest, fees in info.schedule
        ]
        cost = annual_cost_bps(flows)
        exceeds = exceeds_cap(flows, info.rate_cap_bps)
    return LoanFacts(
        loan_id=loan_id,
        lender_accounts=lenders,
        purpose=info.purpose,
        principal=info.principal,
        apr_bps=info.apr_bps,
        rate_cap_bps=info.rate_cap_bps,
        disbursed=data.disbursed.get(loan_id, 0),
        days_past_due=days,
        bucket=bucket,
        outstanding=outstanding,
        registration_evidence=info.registration,
        disbursement_evidence=disbursements,
        last_due_evidence=None,
        first_due_passed=first_due is not None and now >= first_due,
        disbursed_by_first_due=by_first_due,
        actual_cost_bps=cost,
        actual_cost_exceeds_cap=exceeds,
    )


def audit_portfolio(data: FlowData, *, now: int, max_hops: int = MAX_HOPS) -> list[Finding]:
    """Audit every loan: trace its money (FIFO) over its relevant movements, apply the rules."""
    findings: list[Finding] = []
    lenders = lender_accounts(data)
    for loan_id in data.loans:
        movements, _truncated = relevant_movements(data, loan_id, max_hops)
        graph = trace(
            loan_id=loan_id,
            movements=movements,
            categories=data.categories,
            policy=Policy.FIFO,
            max_hops=max_hops,
            max_edges=MAX_EDGES,
        )
        facts = loan_facts(data, loan_id, lenders, now)
        findings.extend(audit_loan(facts, graph, LabelHistory(data.label_changes)))
    return findings
