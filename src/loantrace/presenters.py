"""Shapes shared by the HTTP API and the CLI: plain JSON-ready dicts of use-case results.

Neither the API nor the CLI owns these; the API validates them into its response models,
the CLI prints them.
"""

from __future__ import annotations

from typing import Any

from loantrace.domain.audit import Finding
from loantrace.domain.tracing import Evidence, FlowGraph
from loantrace.services.receipts import Receipt


def evidence_json(e: Evidence) -> dict[str, Any]:
    """Return where an event is on chain."""
    return {"tx_hash": e.tx_hash, "block_number": e.block_number, "log_index": e.log_index}


def receipt_json(receipt: Receipt) -> dict[str, Any]:
    """Return a notarisation receipt (its fields are plain values: no deep copy needed)."""
    return dict(vars(receipt))


def finding_json(f: Finding) -> dict[str, Any]:
    """Return an audit finding with its evidence."""
    return {
        "rule": str(f.rule),
        "severity": f.severity.value,
        "loan_id": f.loan_id,
        "amount": f.amount,
        "explanation": f.explanation,
        "evidence": [evidence_json(e) for e in f.evidence],
    }


def graph_json(graph: FlowGraph, max_hops: int) -> dict[str, Any]:
    """Return a loan's flow graph: nodes, tainted edges with evidence, destinations."""
    return {
        "loan_id": graph.loan_id,
        "policy": str(graph.policy),
        "max_hops": max_hops,
        "truncated": graph.truncated,
        "nodes": [
            {
                "account": n.account,
                "category": n.category,
                "hop": n.hop,
                "tainted_in": n.tainted_in,
                "tainted_out": n.tainted_out,
            }
            for n in graph.nodes.values()
        ],
        "edges": [
            {
                "kind": e.kind,
                "loan_id": e.loan_id,
                "from_account": e.from_account,
                "to_account": e.to_account,
                "amount": e.amount,
                "tainted": e.tainted,
                "hop": e.hop,
                "evidence": evidence_json(e.evidence),
            }
            for e in graph.edges
        ],
        "destinations": [
            {"account": d.account, "category": d.category, "tainted": d.tainted}
            for d in graph.destinations
        ],
    }
