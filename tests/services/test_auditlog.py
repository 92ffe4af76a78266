"""The audit log's hash chain: an altered, deleted or reordered row is found, by row."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine

from loantrace.domain.access import Principal
from loantrace.services.auditlog import AuditLog
from loantrace.store.auditlog import SqlAuditLogUnitOfWork
from loantrace.store.db import init_schema, make_engine

LENDER = Principal(role="lender", key_id="0" * 16, name="acme", lender="0x" + "ab" * 20)


def _log(tmp_path: Path) -> tuple[AuditLog, Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    init_schema(engine)
    return AuditLog(uow=SqlAuditLogUnitOfWork.factory(engine)), engine


def _fill(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.record(LENDER, method="POST", route="/v1/loans", obj=f"loan={i}", outcome=201)


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
