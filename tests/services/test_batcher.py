"""The batcher closes queued agreements into Merkle batches by size or by age; a batch cut
short between anchoring and recording is finished with the very same root; two batchers on
one database never anchor an agreement twice. Over fakes first, then on real chains."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import text

from loantrace.bootstrap import Runtime
from loantrace.chain.registry import RegistryClient
from loantrace.chain.signers import LocalSigner
from loantrace.domain.errors import AlreadyNotarised, InvalidInput
from loantrace.domain.hexcodec import to_hex
from loantrace.domain.manifest import parse_manifest
from loantrace.domain.merkle import AGREEMENT_LEAF_TYPES, agreement_leaf_values, verify
from loantrace.ports.ledger import DuplicateRecord, QueuedAgreement
from loantrace.services.batcher import Batcher
from loantrace.services.intake import Intake, Queued
from loantrace.services.notary import Notary, Submission
from loantrace.services.receipts import MerkleEvidence, Receipt, signed_of
from loantrace.store.agreements import SqlAgreementRepository
from tests.conftest import BoundChain, bound_runtime, make_signed
from tests.services.fakes import FakeAgreementRepository, FakeLedgerStore
from tests.services.test_notary_with_fakes import LENDER, FakeRegistry, _submission

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@contextlib.contextmanager
def _no_lock(name: str) -> Iterator[None]:
    yield


class Desk:
    """A notary, its intake and its batcher over the fake store and registry."""

    def __init__(self, *, size: int = 3, window: float = 0.5) -> None:
        self.store, self.registry, self.clock = FakeLedgerStore(), FakeRegistry(), Clock()
        self.notary = Notary(
            registry=cast(RegistryClient, self.registry),
            uow=self.store.uow,
            signer=LocalSigner(LENDER),
            max_batch=64,
        )
        self.batcher = Batcher(
            notary=self.notary,
            uow=self.store.uow,
            lock=_no_lock,
            max_size=size,
            window_seconds=window,
            clock=self.clock,
        )
        self.intake = Intake(
            notary=self.notary, uow=self.store.uow, on_queued=self.batcher.notify, clock=self.clock
        )

    def submission(self, name: str, borrower_text: str = "") -> Submission:
        return _submission(self.notary, name.encode(), borrower_text=borrower_text)

    def accept(self, *names: str, tick: float = 0.001) -> list[Queued]:
        """Accept one agreement per name, `tick` seconds apart."""
        queued = []
        for name in names:
            queued.append(self.intake.accept(self.submission(name)))
            self.clock.advance(tick)
        assert all(isinstance(q, Queued) for q in queued)
        return cast(list[Queued], queued)

    def anchors(self) -> list[str]:
        return [key for name, key in self.registry.calls if name == "anchor_batch"]


def _assert_valid_batch(desk: Desk, digests: list[str]) -> None:
    """Every digest is recorded once, batched, with a proof that leads to its root."""
    records = [desk.store.tables.agreements[d] for d in digests]
    for record in records:
        evidence = MerkleEvidence.of_record(record)
        values = agreement_leaf_values(signed_of(record))
        assert verify(evidence.root, AGREEMENT_LEAF_TYPES, values, evidence.proof)
    assert not desk.store.tables.queued


def test_a_batch_closes_when_it_is_full() -> None:
    desk = Desk(size=3, window=60)
    queued = desk.accept(*(f"doc-{i}" for i in range(7)))
    run = desk.batcher.run_once()
    assert (run.batches, run.agreements) == (2, 6)
    assert run.next_due == pytest.approx(60 - 0.001)  # the last was accepted 1 ms ago
    assert len(desk.anchors()) == 2
    assert list(desk.store.tables.queued) == [queued[6].digest]  # the last accepted waits
    roots = {desk.store.tables.agreements[q.digest].batch_root for q in queued[:6]}
    assert len(roots) == 2


def test_a_batch_closes_when_its_oldest_has_waited_the_window() -> None:
    desk = Desk(size=100, window=0.5)
    desk.accept("a", tick=0.2)
    desk.accept("b", tick=0.1)
    run = desk.batcher.run_once()
    assert run.batches == 0
    assert run.next_due == pytest.approx(0.2)
    assert desk.anchors() == []
    desk.clock.advance(0.2)
    run = desk.batcher.run_once()
    assert (run.batches, run.agreements, run.next_due) == (1, 2, None)
    assert len(desk.store.tables.batches) == 1


def test_leaves_follow_acceptance_then_digest_order() -> None:
    desk = Desk(size=4, window=60)
    late = desk.accept("late")[0]
    desk.clock.now = T0 - timedelta(seconds=1)  # accepted earlier by another process's clock
    same_time = desk.accept("x", "y", "z", tick=0)
    desk.batcher.run_once()
    expected = [q.digest for q in sorted(same_time, key=lambda q: q.digest)] + [late.digest]
    leaves = sorted(
        desk.store.tables.agreements.values(), key=lambda record: record.leaf_index or 0
    )
    assert [record.digest for record in leaves] == expected


def test_a_repeat_keeps_its_acceptance_and_other_terms_are_a_conflict() -> None:
    desk = Desk(size=10, window=0.5)
    first = desk.accept("doc")[0]
    desk.clock.advance(0.3)
    again = desk.intake.accept(desk.submission("doc"))
    assert again == first  # the same accepted_at: nothing queued twice
    assert len(desk.store.tables.queued) == 1
    with pytest.raises(AlreadyNotarised, match="already queued here with other parties"):
        desk.intake.accept(desk.submission("doc", borrower_text="someone else"))
    desk.clock.advance(0.3)
    desk.batcher.run_once()
    receipt = desk.intake.accept(desk.submission("doc"))
    assert isinstance(receipt, Receipt)
    assert receipt.mode == "batch"
    assert receipt.digest == first.digest
    with pytest.raises(AlreadyNotarised, match="already notarised here with other parties"):
        desk.intake.accept(desk.submission("doc", borrower_text="someone else"))
    assert not desk.store.tables.queued


def test_an_amendment_is_not_queued() -> None:
    desk = Desk()
    amendment = _submission(desk.notary, b"amended", supersedes=b"\x01" * 32)
    with pytest.raises(InvalidInput, match="notarised singly"):
        desk.intake.accept(amendment)


def test_many_at_once_answer_each_as_one_at_a_time_in_one_transaction() -> None:
    desk = Desk(size=100, window=60)
    notarised = desk.accept("notarised")[0]
    desk.clock.advance(61)
    desk.batcher.run_once()
    waiting = desk.accept("waiting")[0]
    submissions = [
        desk.submission("new-1"),
        desk.submission("waiting"),  # a repeat of a queued one: its first acceptance
        desk.submission("new-1"),  # twice in one call: queued once, both answered alike
        desk.submission("notarised"),  # notarised already: its receipt
        desk.submission("waiting", borrower_text="someone else"),  # a conflict
        _submission(desk.notary, b"amended", supersedes=b"\x01" * 32),  # refused alone
        desk.submission("new-2"),
    ]
    commits_before = desk.store.commits
    answers = desk.intake.accept_many(submissions)
    assert desk.store.commits == commits_before + 1
    assert isinstance(answers[0], Queued)
    assert answers[1] == waiting
    assert answers[2] == answers[0]
    assert isinstance(answers[3], Receipt)
    assert answers[3].digest == notarised.digest
    assert isinstance(answers[4], AlreadyNotarised)
    assert isinstance(answers[5], InvalidInput)
    assert isinstance(answers[6], Queued)
    assert sorted(desk.store.tables.queued) == sorted(
        [waiting.digest, answers[0].digest, answers[6].digest]
    )
    assert desk.intake.accept_many([]) == []


def test_status_lookups_of_many_digests_answer_each_in_order() -> None:
    desk = Desk(size=100, window=60)
    a, b = desk.accept("a", "b")
    unknown = b"\x07" * 32
    digests = [bytes.fromhex(b.digest[2:]), unknown, bytes.fromhex(a.digest[2:])]
    commits = desk.store.commits
    assert desk.intake.queued_many([*digests, digests[0]]) == [b, None, a, b]
    assert desk.store.commits == commits + 1  # one read for all of them
    assert desk.intake.queued(unknown) is None


def test_an_unexpected_failure_of_one_submission_is_its_own() -> None:
    desk = Desk(size=100, window=60)
    broken, fine = desk.submission("broken"), desk.submission("fine")
    prepare = desk.notary.prepare

    def failing(submission: Submission) -> object:
        if submission is broken:
            raise RuntimeError("a bug met by this submission only")
        return prepare(submission)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(desk.notary, "prepare", failing)
        answers = desk.intake.accept_many([broken, fine])
    assert isinstance(answers[0], RuntimeError)
    assert isinstance(answers[1], Queued)
    assert list(desk.store.tables.queued) == [answers[1].digest]


def test_a_duplicate_queued_by_another_process_meanwhile_is_answered_as_queued() -> None:
    desk = Desk(size=100, window=60)
    rival = Intake(notary=desk.notary, uow=desk.store.uow, clock=desk.clock)  # another process
    mine, other = desk.submission("doc"), desk.submission("other")
    raced: list[Queued | Receipt] = []
    patch = pytest.MonkeyPatch()

    def racing_enqueue(self: FakeAgreementRepository, items: Sequence[QueuedAgreement]) -> None:
        patch.undo()  # once: the rival commits "doc" after this transaction read the queue
        desk.clock.advance(0.01)
        raced.append(rival.accept(mine))
        raise DuplicateRecord("queued agreement (unique digest)")  # as the database would

    patch.setattr(FakeAgreementRepository, "enqueue", racing_enqueue)
    try:
        answers = desk.intake.accept_many([mine, other])
    finally:
        patch.undo()
    assert answers[0] == raced[0]  # the rival's acceptance: queued once
    assert isinstance(answers[1], Queued)
    assert sorted(desk.store.tables.queued) == sorted(a.digest for a in answers)


def test_a_batch_cut_short_after_anchoring_is_finished_with_the_same_root() -> None:
    desk = Desk(size=3, window=0.5)
    first = desk.accept("a", "b", "c")
    desk.store.fail_on = "add_batch"  # the process dies after the root is mined
    with pytest.raises(OSError, match="add_batch"):
        desk.batcher.run_once()
    [root] = desk.anchors()
    assert {q.batch_root for q in desk.store.tables.queued.values()} == {root}
    assert not desk.store.tables.agreements
    desk.store.fail_on = None
    later = desk.accept("d")  # meanwhile: not part of the claimed batch
    desk.clock.advance(1)
    run = desk.batcher.run_once()
    assert (run.batches, run.agreements) == (2, 4)
    assert desk.anchors()[:2] == [root, root]  # the same root again: the same transaction
    tx_hashes = {desk.store.tables.agreements[q.digest].tx_hash for q in first}
    assert len(tx_hashes) == 1
    assert {desk.store.tables.agreements[q.digest].batch_root for q in first} == {root}
    assert desk.store.tables.agreements[later[0].digest].batch_root != root
    _assert_valid_batch(desk, [q.digest for q in first + later])


@pytest.mark.parametrize("failing", ["put_manifest", "assign"])
def test_a_failure_before_anchoring_sends_nothing_and_claims_nothing(failing: str) -> None:
    desk = Desk(size=2, window=60)
    queued = desk.accept("a", "b")
    desk.store.fail_on = failing
    with pytest.raises(OSError, match=failing):
        desk.batcher.run_once()
    assert desk.anchors() == []
    assert all(q.batch_root is None for q in desk.store.tables.queued.values())
    desk.store.fail_on = None
    assert desk.batcher.run_once().agreements == 2
    _assert_valid_batch(desk, [q.digest for q in queued])


def test_an_agreement_notarised_singly_meanwhile_leaves_the_queue() -> None:
    desk = Desk(size=2, window=60)
    queued = desk.accept("single-too", "batched")
    desk.notary.notarise(desk.submission("single-too"))  # a racing single request
    desk.accept("third")
    run = desk.batcher.run_once()
    assert (run.batches, run.agreements) == (1, 2)
    assert desk.store.tables.agreements[queued[0].digest].mode == "single"
    assert desk.store.tables.agreements[queued[1].digest].mode == "batch"
    assert not desk.store.tables.queued


def test_an_agreement_notarised_singly_after_its_batch_was_claimed_is_recorded_once() -> None:
    desk = Desk(size=2, window=60)
    queued = desk.accept("single-too", "batched")
    desk.store.fail_on = "add_batch"
    with pytest.raises(OSError, match="add_batch"):
        desk.batcher.run_once()
    desk.store.fail_on = None
    desk.notary.notarise(desk.submission("single-too"))
    assert desk.batcher.run_once().agreements == 1  # the claimed batch, less the single one
    single, batched = (desk.store.tables.agreements[q.digest] for q in queued)
    assert (single.mode, batched.mode) == ("single", "batch")
    assert not desk.store.tables.queued


def test_a_queued_agreement_wakes_the_loop() -> None:
    desk = Desk(size=2, window=3600)
    stop = threading.Event()
    loop = threading.Thread(target=desk.batcher.run_forever, args=(stop,), daemon=True)
    loop.start()
    try:
        time.sleep(0.05)  # the loop now sleeps: the window is an hour
        desk.accept("a", "b")  # a full batch: woken at once
        deadline = time.monotonic() + 5
        while len(desk.store.tables.agreements) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(desk.store.tables.agreements) == 2
    finally:
        stop.set()
        desk.batcher.wake()
        loop.join(timeout=5)
    assert not loop.is_alive()


# On real chains: the embedded one and anvil, SQLite and PostgreSQL.


def _accept(rt: Runtime, count: int) -> list[bytes]:
    digests = []
    for _ in range(count):
        submission = make_signed(rt).submission
        assert isinstance(rt.intake.accept(submission), Queued)
        digests.append(submission.digest)
    return digests


def _assert_verified(rt: Runtime, digests: list[bytes]) -> None:
    for digest in digests:
        report = rt.verifier.verify(digest)
        assert (report.verdict, report.mode, report.merkle_proof_valid) == ("valid", "batch", True)


def test_queued_agreements_are_anchored_and_verify(chain: BoundChain) -> None:
    rt = bound_runtime(chain, queue_batch_size=3, queue_window_ms=300)
    try:
        digests = _accept(rt, 5)
        batcher = rt.batchers[0]
        assert batcher.run_once().agreements == 3  # full
        time.sleep(0.35)
        assert batcher.run_once().agreements == 2  # its window passed
        _assert_verified(rt, digests)
        receipts = [rt.notary.receipt(d) for d in digests]
        assert len({r.tx_hash for r in receipts}) == 2
    finally:
        rt.close()


def _anchor_transactions(rt: Runtime) -> list[tuple[str, str]]:
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT intent, tx_hash FROM outbox WHERE intent LIKE '%:anchor:%'")
        ).all()
    return [(str(intent), str(tx_hash)) for intent, tx_hash in rows]


def test_a_batch_mined_before_a_crash_is_adopted_not_sent_again(
    chain: BoundChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = bound_runtime(chain, queue_batch_size=4)
    try:
        digests = _accept(rt, 4)

        def crash(self: SqlAgreementRepository, batch: object) -> None:
            raise OSError("killed between anchoring and recording")

        with monkeypatch.context() as patch:
            patch.setattr(SqlAgreementRepository, "add_batch", crash)
            with pytest.raises(OSError, match="killed"):
                rt.batchers[0].run_once()
        [(intent, tx_hash)] = _anchor_transactions(rt)
        root = intent.rsplit(":", 1)[1]
        assert rt.registry.batch_of(bytes.fromhex(root[2:])) is not None  # mined
        claimed = [rt.intake.queued(d) for d in digests]
        assert [q.batch_root if q else None for q in claimed] == [root] * 4  # still queued
        run = rt.batchers[0].run_once()  # the restart
        assert (run.batches, run.agreements) == (1, 4)
        assert _anchor_transactions(rt) == [(intent, tx_hash)]  # adopted, not sent again
        assert {rt.notary.receipt(d).tx_hash for d in digests} == {tx_hash}
        assert all(rt.intake.queued(d) is None for d in digests)
        _assert_verified(rt, digests)
    finally:
        rt.close()


def _race(rts: list[Runtime], producers: int, per_producer: int) -> list[bytes]:
    """Accept agreements from several threads while every runtime's batcher closes batches."""
    accepted: list[bytes] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def produce(rt: Runtime) -> None:
        try:
            accepted.extend(_accept(rt, per_producer))
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    def close(rt: Runtime) -> None:
        try:
            while not done.is_set():
                rt.batchers[0].run_once()
            rt.batchers[0].run_once()
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    closers = [threading.Thread(target=close, args=(rt,)) for rt in rts]
    makers = [threading.Thread(target=produce, args=(rts[i % len(rts)],)) for i in range(producers)]
    for thread in closers + makers:
        thread.start()
    for thread in makers:
        thread.join()
    time.sleep(0.2)  # past the window: the last batch is due
    done.set()
    for thread in closers:
        thread.join()
    assert not errors, errors
    return accepted


def _two_batchers_never_anchor_twice(chain: BoundChain, database_url: str) -> None:
    rts = [
        bound_runtime(chain, database_url, queue_batch_size=7, queue_window_ms=50) for _ in range(2)
    ]
    try:
        accepted = _race(rts, producers=4, per_producer=15)
        rt = rts[0]
        assert len(accepted) == 60
        with rt.engine.connect() as conn:
            queued = conn.execute(text("SELECT count(*) FROM queued_agreements")).scalar()
            manifests = conn.execute(text("SELECT sha256, body FROM batch_manifests")).all()
            batches = conn.execute(text("SELECT root, count FROM batches")).all()
        assert queued == 0
        leaves = [
            to_hex(bytes(cast(bytes, values[0])))
            for sha256, body in manifests
            for values in parse_manifest(body.encode(), bytes.fromhex(sha256[2:])).values
        ]
        assert sorted(leaves) == sorted(to_hex(d) for d in accepted)  # each in one batch
        anchors = _anchor_transactions(rt)
        assert len(anchors) == len(batches) == len(manifests)
        assert sum(count for _, count in batches) == 60
        _assert_verified(rt, accepted)
    finally:
        for rt in rts:
            rt.close()


@pytest.mark.anvil
def test_two_batchers_on_one_sqlite_file_never_anchor_twice(
    anvil_chain: BoundChain, tmp_path: Path
) -> None:
    _two_batchers_never_anchor_twice(anvil_chain, f"sqlite:///{tmp_path / 'shared.db'}")


@pytest.mark.anvil
@pytest.mark.postgres
def test_two_batchers_on_one_postgresql_never_anchor_twice(
    anvil_chain: BoundChain, fresh_postgres: str
) -> None:
    _two_batchers_never_anchor_twice(anvil_chain, fresh_postgres)
