"""Benchmark tracing and auditing on a synthetic portfolio, beside naive baselines.

Portfolio: 100,000 loans and 1,000,000 transfers (defaults; --loans/--transfers to change).
- single-loan trace: the service's in-memory account indexes, vs a naive trace that
  re-queries the database for every hop (SQLite, indexed columns), same engine, same loans;
- full portfolio audit: every loan traced and audited, vs the naive per-hop trace measured
  on a sample and extrapolated (running it on 100,000 loans would take too long to wait for).
Run by `make bench`. Prints a table; exits non-zero if a target is missed.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from loantrace.domain.tracing import Evidence, Movement, Policy, trace
from loantrace.services.flowdata import FlowData, LoanInfo
from loantrace.services.flows import MAX_EDGES, audit_portfolio, relevant_movements

CATEGORIES = ["CONSUMPTION"] * 17 + ["SECURITIES", "REAL_ESTATE", "LENDER_AFFILIATE"]


def synthesise(loans: int, transfers: int, seed: int = 7) -> FlowData:
    """A portfolio: each loan pays its borrower, who pays others, a few hops deep."""
    rng = random.Random(seed)
    data = FlowData()
    merchants = [f"0xm{i:063x}" for i in range(max(50, loans // 50))]
    for m in merchants:
        data.categories[m] = rng.choice(CATEGORIES)
    block, per_loan = 1, max(1, transfers // loans)
    for n in range(loans):
        loan_id, borrower = f"0x{n:064x}", f"0xb{n:063x}"
        evidence = Evidence(f"0x{block:064x}", block, 0)
        data.loans[loan_id] = LoanInfo(
            loan_id, "0xlender", 100_000, 1_000, 1_200, "CONSUMPTION", evidence
        )
        data.add(Movement(evidence, "disbursement", loan_id, None, borrower, 100_000))
        # The borrower's own second accounts; shops, brokers and affiliates are shared and
        # labelled (destinations), as in real portfolios where hubs are known businesses.
        own = [f"0xi{n:061x}{j:02x}" for j in range(2)]
        held = {borrower: 100_000}
        for k in range(per_loan):
            source = rng.choice(list(held))
            if held[source] <= 1:
                continue
            target = rng.choice(merchants) if rng.random() < 0.6 else rng.choice(own)
            if target == source:
                continue
            amount = rng.randint(1, held[source] // 2 + 1)
            held[source] -= amount
            held[target] = held.get(target, 0) + amount if target not in data.categories else 0
            if target in data.categories:
                held.pop(target, None)
            data.add(
                Movement(
                    Evidence(f"0x{block:064x}", block, k + 1),
                    "transfer",
                    loan_id,
                    source,
                    target,
                    amount,
                )
            )
        block += 1
    return data


def to_sqlite(data: FlowData, path: Path) -> sqlite3.Connection:
    """Write the movements to an indexed SQLite table, for the naive baseline."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE m (i INTEGER PRIMARY KEY, src TEXT, dst TEXT)")
    db.executemany(
        "INSERT INTO m VALUES (?, ?, ?)",
        ((i, m.from_account, m.to_account) for i, m in enumerate(data.movements)),
    )
    db.execute("CREATE INDEX m_src ON m (src)")
    db.execute("CREATE INDEX m_dst ON m (dst)")
    db.commit()
    return db


def naive_movements(
    db: sqlite3.Connection, data: FlowData, loan_id: str, max_hops: int
) -> list[Movement]:
    """The baseline: one database round trip per account per hop."""
    picked = set(data.disbursements.get(loan_id, []))
    frontier = {data.movements[i].to_account for i in picked}
    seen = set(frontier)
    for _hop in range(max_hops):
        reached = set()
        for account in frontier:
            if account is None or account in data.categories:
                continue
            for (i,) in db.execute("SELECT i FROM m WHERE dst = ?", (account,)):
                picked.add(i)
            for i, dst in db.execute("SELECT i, dst FROM m WHERE src = ?", (account,)):
                picked.add(i)
                if dst is not None and dst not in seen:
                    seen.add(dst)
                    reached.add(dst)
        frontier = reached
        if not frontier:
            break
    return [data.movements[i] for i in sorted(picked)]


def _trace(data: FlowData, loan_id: str, movements: list[Movement]) -> None:
    trace(
        loan_id=loan_id,
        movements=movements,
        categories=data.categories,
        policy=Policy.FIFO,
        max_hops=6,
        max_edges=MAX_EDGES,
    )


def _p(values: list[float], q: float) -> float:
    return sorted(values)[int(q * (len(values) - 1))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--transfers", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    started = time.perf_counter()
    data = synthesise(args.loans, args.transfers)
    built = time.perf_counter() - started
    rng = random.Random(11)
    sample = rng.sample(list(data.loans), min(args.samples, len(data.loans)))
    with TemporaryDirectory() as tmp:
        db = to_sqlite(data, Path(tmp) / "bench.db")
        fast, slow = [], []
        for loan_id in sample:
            t = time.perf_counter()
            _trace(data, loan_id, relevant_movements(data, loan_id, 6)[0])
            fast.append(time.perf_counter() - t)
            t = time.perf_counter()
            _trace(data, loan_id, naive_movements(db, data, loan_id, 6))
            slow.append(time.perf_counter() - t)
        t = time.perf_counter()
        findings = audit_portfolio(data, now=0)
        portfolio = time.perf_counter() - t
    naive_portfolio = statistics.mean(slow) * len(data.loans)
    print(
        f"portfolio: {len(data.loans):,} loans, {len(data.movements):,} movements "
        f"(built in {built:.1f} s); {len(findings):,} findings"
    )
    print(f"{'measure':44} {'ours':>12} {'naive baseline':>16}")
    print(f"{'single-loan trace p50 (ms)':44} {_p(fast, 0.5):12.2f} {_p(slow, 0.5):16.2f}")
    print(f"{'single-loan trace p95 (ms)':44} {_p(fast, 0.95):12.2f} {_p(slow, 0.95):16.2f}")
    print(
        f"{'full portfolio audit (s)':44} {portfolio:12.2f} {naive_portfolio:16.2f}"
        "  (naive: mean per loan x loans)"
    )
    ok = _p(fast, 0.5) < 50 and portfolio < 10
    print("targets (p50 < 50 ms, portfolio < 10 s):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
