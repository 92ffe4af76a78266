"""`loantrace personal-data rewrap`: rotate the master key without touching the data."""

from __future__ import annotations

import base64
import os

import pytest
from typer.testing import CliRunner

from loantrace.cli import app
from loantrace.domain.personal import PersonalData
from tests.conftest import BoundChain, bound_runtime, service_env

PERSON = PersonalData(
    name="Rotating Person", id_number="ROT123456", phone="13800000000", bank_account="62220001"
)


def _key(name: str) -> str:
    return f"{name}:" + base64.b64encode(os.urandom(32)).decode()


@pytest.mark.anvil
def test_rewrap_moves_every_data_key_to_the_new_master_key(
    anvil_chain: BoundChain, fresh_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _key("k1"), _key("k2")
    rt = bound_runtime(anvil_chain, fresh_postgres, master_keys=old)
    enrolled = rt.personal.enrol(rt.notary.lender, PERSON)
    commitment = bytes.fromhex(enrolled.borrower_commitment[2:])
    url = rt.node.w3.provider.endpoint_uri  # type: ignore[attr-defined]
    for name, value in service_env(rt, url, fresh_postgres).items():
        if name.startswith("LOANTRACE_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOANTRACE_MASTER_KEYS", f"{new},{old}")
    result = CliRunner().invoke(app, ["personal-data", "rewrap"])
    assert result.exit_code == 0, result.output
    assert "re-wrapped 1 data keys under master key k2" in result.output
    rt.close()
    only_new = bound_runtime(anvil_chain, fresh_postgres, master_keys=new)
    assert only_new.personal.read(commitment, lender=None).data == PERSON
    only_new.close()
