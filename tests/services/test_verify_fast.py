"""Verification of our own agreements: one chain round trip, the same verdict as the full path."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from loantrace.bootstrap import Runtime
from loantrace.services.verify import Verifier
from tests.conftest import BoundChain, bound_runtime, make_signed

pytestmark = pytest.mark.anvil


class Counting:
    """Count the HTTP round trips a verification makes (a JSON-RPC batch is one)."""

    def __init__(self, provider: Any) -> None:
        self.provider, self.calls = provider, 0
        self._single, self._batch = provider.make_request, provider.make_batch_request

    def __enter__(self) -> Counting:
        def single(*args: Any) -> Any:
            self.calls += 1
            return self._single(*args)

        def batch(*args: Any) -> Any:
            self.calls += 1
            return self._batch(*args)

        self.provider.make_request, self.provider.make_batch_request = single, batch
        return self

    def __exit__(self, *exc: object) -> None:
        self.provider.make_request, self.provider.make_batch_request = self._single, self._batch


def _full(rt: Runtime, digest: bytes) -> dict[str, Any]:
    slow = Verifier(registry=rt.registry, uow=None)  # no store: the full path from the chain
    report = asdict(slow.verify(digest, _evidence(rt, digest)))
    report.pop("records")
    return report


def _evidence(rt: Runtime, digest: bytes) -> Any:
    from loantrace.services.receipts import MerkleEvidence

    record = rt.certificates.record(digest)
    return MerkleEvidence.of_record(record) if record.mode == "batch" else None


def test_the_fast_path_answers_like_the_full_path_in_one_round_trip(
    anvil_chain: BoundChain,
) -> None:
    rt = bound_runtime(anvil_chain)
    single = make_signed(rt)
    rt.notary.notarise(single.submission)
    batch = [make_signed(rt) for _ in range(3)]
    rt.notary.notarise_batch([s.submission for s in batch])
    revoked = make_signed(rt)
    rt.notary.notarise(revoked.submission)
    rt.notary.revoke(revoked.submission.digest, reason=3)
    old = make_signed(rt)
    rt.notary.notarise(old.submission)
    rt.notary.notarise(make_signed(rt, supersedes=old.submission.digest).submission)
    rt.node.w3.provider.make_request("evm_mine", [])  # type: ignore[attr-defined]
    cases = {
        "single": single,
        "batch": batch[1],
        "revoked": revoked,
        "superseded": old,
    }
    for name, signed in cases.items():
        digest = signed.submission.digest
        with Counting(rt.node.w3.provider) as counted:
            fast = asdict(rt.verifier.verify(digest))
        fast.pop("records")
        assert counted.calls == 1, name
        assert fast == _full(rt, digest), name
    assert rt.verifier.verify(batch[1].submission.digest).verdict == "valid"
    rt.close()


def test_a_tampered_row_falls_back_to_the_chain(anvil_chain: BoundChain) -> None:
    rt = bound_runtime(anvil_chain)
    signed = make_signed(rt)
    rt.notary.notarise(signed.submission)
    digest = signed.submission.digest
    from sqlmodel import Session

    from loantrace.store.models import AgreementRow

    with Session(rt.engine) as session:  # someone edits our database
        row = session.get(AgreementRow, "0x" + digest.hex())
        assert row is not None
        row.borrower = "0x" + "11" * 20
        session.add(row)
        session.commit()
    report = rt.verifier.verify(digest)
    # the id no longer hashes the fields: the full path reads the chain's own event instead
    assert report.verdict == "valid"
    assert report.borrower == signed.borrower.address
    rt.close()


def test_an_unknown_digest_takes_the_full_path(anvil_chain: BoundChain) -> None:
    rt = bound_runtime(anvil_chain)
    assert rt.verifier.verify(b"\x42" * 32).verdict == "not_found"
    rt.close()
