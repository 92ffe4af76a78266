"""Gas of notarising: a single record, and the per-document cost of batches."""

from __future__ import annotations

from loantrace.bootstrap import Runtime
from loantrace.devtools.gas import measure


def test_batched_cost_per_document_at_256_is_under_1000_gas(embedded_runtime: Runtime) -> None:
    lines = measure(embedded_runtime, sizes=(1, 16, 256))
    for line in lines:
        print(f"{line.operation}: {line.gas} gas, {line.per_document} per document")
    single, *batches = lines
    assert 50_000 < single.gas < 90_000
    by_size = {line.documents: line for line in batches}
    assert by_size[256].per_document < 1_000
    # One root costs the same whatever it covers: the saving is all in the division.
    assert max(b.gas for b in batches) - min(b.gas for b in batches) < 100
    assert by_size[1].gas < single.gas
