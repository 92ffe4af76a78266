"""Verification of our own agreements: one pinned chain read (two round trips, however many
agreements at once), the same verdict as the full path."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from loantrace.bootstrap import Runtime
from loantrace.services.verify import Verifier
from tests.conftest import BoundChain, bound_runtime, make_signed

pytestmark = pytest.mark.anvil


class Counting:
    """Count the HTTP round trips a verification makes through web3 and through the
    verifier's own JSON-RPC batcher (a batch is one)."""

    def __init__(self, provider: Any, rt: Runtime | None = None) -> None:
        self.provider, self._web3_calls = provider, 0
        self._rpc = rt.verifier.chain.rpc if rt is not None else None
        self._before = self._rpc.round_trips if self._rpc is not None else 0
        self._single, self._batch = provider.make_request, provider.make_batch_request

    def __enter__(self) -> Counting:
        def single(*args: Any) -> Any:
            self._web3_calls += 1
            return self._single(*args)

        def batch(*args: Any) -> Any:
            self._web3_calls += 1
            return self._batch(*args)

        self.provider.make_request, self.provider.make_batch_request = single, batch
        return self

    def __exit__(self, *exc: object) -> None:
        self.provider.make_request, self.provider.make_batch_request = self._single, self._batch

    @property
    def calls(self) -> int:
        """Round trips made since entering."""
        own = self._rpc.round_trips - self._before if self._rpc is not None else 0
        return self._web3_calls + own


def _full(rt: Runtime, digest: bytes) -> dict[str, Any]:
    slow = Verifier(registry=rt.registry, uow=None)  # no store: the full path from the chain
    report = asdict(slow.verify(digest, _evidence(rt, digest)))
    report.pop("records")
    return report


def _evidence(rt: Runtime, digest: bytes) -> Any:
    from loantrace.services.receipts import MerkleEvidence

    record = rt.certificates.record(digest)
    return MerkleEvidence.of_record(record) if record.mode == "batch" else None


def test_the_fast_path_answers_like_the_full_path_in_two_round_trips(
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
        with Counting(rt.node.w3.provider, rt) as counted:
            fast = asdict(rt.verifier.verify(digest))
        fast.pop("records")
        assert counted.calls == 2, name  # the head, then every read pinned at it
        assert fast == _full(rt, digest), name
    assert rt.verifier.verify(batch[1].submission.digest).verdict == "valid"
    # Many at once cost the same two round trips, and answer each like the full path.
    keys = ["0x" + s.submission.digest.hex() for s in cases.values()]
    with Counting(rt.node.w3.provider, rt) as counted:
        many = rt.verifier.fast_many(keys)
    assert counted.calls == 2
    for (name, signed), report in zip(cases.items(), many, strict=True):
        assert report is not None, name
        got = asdict(report)
        got.pop("records")
        assert got == _full(rt, signed.submission.digest), name
    rt.close()


def test_one_bad_read_in_a_batch_leaves_the_others_answered(anvil_chain: BoundChain) -> None:
    rt = bound_runtime(anvil_chain)
    good = make_signed(rt)
    rt.notary.notarise(good.submission)
    other = make_signed(rt)
    rt.notary.notarise(other.submission)
    from sqlmodel import Session

    from loantrace.store.models import AgreementRow

    with Session(rt.engine) as session:  # our record of `other` names a block that is not it
        row = session.get(AgreementRow, "0x" + other.submission.digest.hex())
        assert row is not None
        row.block_hash = "0x" + "ab" * 32
        session.add(row)
        session.commit()
    unknown = "0x" + "42" * 32
    keys = ["0x" + good.submission.digest.hex(), "0x" + other.submission.digest.hex(), unknown]
    first, second, third = rt.verifier.fast_many(keys)
    assert first is not None
    assert first.verdict == "valid"
    assert second is None  # not anchored where we recorded it: the full path judges it
    assert third is None  # not ours
    assert rt.verifier.verify(other.submission.digest).verdict == "valid"  # from the chain
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


def test_a_registry_address_without_code_answers_none_not_an_error(
    anvil_chain: BoundChain,
) -> None:
    from loantrace.chain.evidence import ChainEvidence, SnapshotQuery

    rt = bound_runtime(anvil_chain)
    nowhere = ChainEvidence(rt.node.w3, "0x" + "5a" * 20)
    queries = [
        SnapshotQuery(b"\x01" * 32, anchor_block=1),
        SnapshotQuery(b"\x02" * 32, anchor_block=1, batch=(rt.notary.lender, b"\x03" * 32)),
    ]
    assert nowhere.snapshots(queries) == [None, None]
    assert nowhere.snapshots([]) == []
    rt.close()


def test_a_caller_that_tried_the_fast_path_gets_the_full_path_alone(
    anvil_chain: BoundChain,
) -> None:
    rt = bound_runtime(anvil_chain)
    signed = make_signed(rt)
    rt.notary.notarise(signed.submission)
    digest = signed.submission.digest
    asked: list[object] = []
    fast_many = rt.verifier.fast_many
    rt.verifier.fast_many = lambda keys: asked.append(keys) or fast_many(keys)  # type: ignore[method-assign]
    report = rt.verifier.verify(digest, fast=False)
    assert asked == []  # the route asked already: the store and chain are not asked again
    assert report.verdict == "valid"
    assert rt.verifier.verify(digest).verdict == "valid"
    assert asked == [["0x" + digest.hex()]]
    rt.close()
