"""The audit log's hash chain: an altered, deleted or reordered row is found, by row."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from loantrace.domain.access import Principal
from loantrace.domain.auditchain import AuditEntry
from loantrace.services.auditlog import AuditLog
from loantrace.store.auditlog import SqlAuditLogUnitOfWork
from loantrace.store.db import init_schema, make_engine

LENDER = Principal(role="lender", key_id="0" * 16, name="acme", lender="0x" + "ab" * 20)


def _log(tmp_path: Path) -> tuple[AuditLog, Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    init_schema(engine)
    return AuditLog(uow=SqlAuditLogUnitOfWork.factory(engine)), engine


def _one(log: AuditLog, obj: str) -> None:
    log.append([log.entry(LENDER, method="POST", route="/v1/loans", obj=obj, outcome=201)])


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append(
            [log.entry(LENDER, method="POST", route="/v1/loans", obj=f"loan={i}", outcome=201)]
        )


def test_an_untouched_log_verifies(tmp_path: Path) -> None:
    log, _ = _log(tmp_path)
    _fill(log, 5)
    verdict = log.verify()
    assert (verdict.entries, verdict.intact) == (5, True)
    assert [e.entry.object for e in log.page(limit=2)] == ["loan=4", "loan=3"]


@pytest.mark.parametrize(
    ("tamper", "row", "reason"),
    [
        ("UPDATE audit_log SET outcome = 200 WHERE id = 3", 3, "altered"),
        ("UPDATE audit_log SET tenant = NULL WHERE id = 1", 1, "altered"),
        ("DELETE FROM audit_log WHERE id = 2", 3, "deleted"),
        ("UPDATE audit_log SET route = '/v1/keys' WHERE id = 5", 5, "altered"),
    ],
)
def test_tampering_is_found_at_the_first_broken_row(
    tmp_path: Path, tamper: str, row: int, reason: str
) -> None:
    log, engine = _log(tmp_path)
    _fill(log, 5)
    with engine.begin() as conn:
        conn.execute(text(tamper))
    verdict = log.verify()
    assert verdict.intact is False
    assert verdict.broken_at == row
    assert verdict.reason is not None
    assert reason in verdict.reason


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=1, max_value=8), st.data())
def test_any_single_altered_row_breaks_the_chain(n: int, data: st.DataObject) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        log, engine = _log(Path(directory))
        _fill(log, n)
        victim = data.draw(st.integers(min_value=1, max_value=n))
        with engine.begin() as conn:
            conn.execute(text("UPDATE audit_log SET outcome = 418 WHERE id = :i"), {"i": victim})
        assert log.verify().broken_at == victim
        engine.dispose()


def _entries(log: AuditLog, n: int, tag: str) -> list[AuditEntry]:
    return [
        log.entry(LENDER, method="POST", route="/v1/loans", obj=f"{tag}={i}", outcome=201)
        for i in range(n)
    ]


def _group_commits_chain_in_order(log: AuditLog, sizes: list[int]) -> None:
    expected: list[str] = []
    for k, size in enumerate(sizes):
        batch = _entries(log, size, f"b{k}")
        chained = log.append(batch)
        assert [c.entry for c in chained] == batch
        ids = [c.id for c in chained]
        assert ids == sorted(ids)
        assert len(set(ids)) == len(ids)
        expected += [e.object or "" for e in batch]
        log.append(
            [log.entry(LENDER, method="POST", route="/v1/loans", obj=f"single={k}", outcome=201)]
        )
        expected.append(f"single={k}")
    verdict = log.verify()
    assert (verdict.entries, verdict.intact) == (len(expected), True)
    newest_first = log.page(limit=len(expected))
    assert [c.entry.object for c in reversed(newest_first)] == expected


@settings(max_examples=10, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=4))
def test_group_commits_chain_in_the_order_given_sqlite(sizes: list[int]) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        log, engine = _log(Path(directory))
        _group_commits_chain_in_order(log, sizes)
        engine.dispose()


@pytest.mark.postgres
def test_group_commits_chain_in_the_order_given_postgres(fresh_postgres: str) -> None:
    engine = make_engine(fresh_postgres)
    init_schema(engine)
    try:
        log = AuditLog(uow=SqlAuditLogUnitOfWork.factory(engine))
        _group_commits_chain_in_order(log, [1, 500, 0, 37])
    finally:
        engine.dispose()


def test_a_failed_group_commit_writes_none_of_its_entries(tmp_path: Path) -> None:
    log, _engine = _log(tmp_path)
    _fill(log, 2)
    batch = _entries(log, 3, "x")
    batch[2] = AuditEntry(**{**vars(batch[2]), "outcome": None})  # type: ignore[arg-type]
    with pytest.raises(IntegrityError):
        log.append(batch)
    assert log.verify().entries == 2
    assert [c.entry.object for c in log.append(batch[:2])] == ["x=0", "x=1"]
    assert log.verify().intact
