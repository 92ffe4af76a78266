"""PIPL: a borrower's personal data exists only encrypted. After a whole loan's life through
HTTP (enrol, notarise, register, disburse, read, erase) on anvil and PostgreSQL, no
plaintext personal field appears in any database row, any log line, or any byte of chain
data; erasure makes the data unreadable while the agreement still verifies."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, text

from loantrace.api.app import create_app
from loantrace.bootstrap import Runtime
from loantrace.chain.node import Node
from loantrace.devtools.sample_terms import terms_at
from tests.api.conftest import bearer, form_of
from tests.conftest import BoundChain, SubmissionFactory, bound_runtime

PERSON = {
    "name": "Qiao Xuefeng",
    "id_number": "QX7Z9K2M4P8W",
    "phone": "+86 139 2468 1357",
    "bank_account": "6222029988776655443",
}


def _needles() -> dict[str, list[bytes]]:
    """Each field as it could leak: as given, normalised, in hex."""
    found: dict[str, list[bytes]] = {}
    for field, value in PERSON.items():
        forms = {value, value.upper(), value.lower(), value.replace(" ", "")}
        raw = [form.encode() for form in forms if len(form) >= 6]
        found[field] = raw + [r.hex().encode() for r in raw]
    return found


def _database_bytes(url: str) -> bytes:
    engine = create_engine(url)
    dump = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            query = f'SELECT row_to_json(t)::text FROM "{table}" t'  # noqa: S608 - our tables
            rows = conn.execute(text(query)).all()
            dump.extend(row[0].encode() for row in rows)
    engine.dispose()
    return b"\n".join(dump)


def _chain_bytes(node: Node, first_block: int) -> bytes:
    """Every transaction's input and every log's topics and data since `first_block`."""
    w3, out = node.w3, []
    for number in range(first_block, node.head() + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        for tx in block["transactions"]:
            out.append(bytes(tx["input"]))  # type: ignore[index]
            receipt = w3.eth.get_transaction_receipt(tx["hash"])  # type: ignore[index]
            for entry in receipt["logs"]:
                out.append(bytes(entry["data"]))
                out.extend(bytes(topic) for topic in entry["topics"])
    blob = b"".join(out)
    return blob + blob.hex().encode()


@pytest.mark.anvil
def test_no_plaintext_personal_data_in_database_logs_or_chain(
    anvil_chain: BoundChain,
    fresh_postgres: str,
    make_submission: SubmissionFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    first_block = anvil_chain.node.head() + 1
    rt: Runtime = bound_runtime(anvil_chain, fresh_postgres)
    with TestClient(create_app(rt)) as client:
        lender = bearer(rt)
        enrolled = client.post("/v1/borrowers", json=PERSON, headers=lender)
        assert enrolled.status_code == 201, enrolled.text
        commitment = enrolled.json()["borrower_commitment"]
        account = enrolled.json()["account_commitment"]
        terms = terms_at(rt.node.now(), principal=20_000, instalments=1)
        made = make_submission(rt, terms=terms, commitment=bytes.fromhex(commitment[2:]))
        form = form_of(made)
        notarised = client.post("/v1/agreements", data=form, headers=lender)
        assert notarised.status_code == 201, notarised.text
        digest = notarised.json()["digest"]
        loan = client.post("/v1/loans", json={"digest": digest}, headers=lender).json()
        paid = client.post(
            f"/v1/loans/{loan['loan_id']}/disbursements",
            json={"amount": 20_000, "to_account": account, "external_ref": "scan-1"},
            headers=lender,
        )
        assert paid.status_code == 201, paid.text
        read = client.get(f"/v1/borrowers/{commitment}/personal-data", headers=lender)
        assert read.json()["id_number"] == PERSON["id_number"]
        for needles in _needles().values():  # the scan would see each field were it there
            assert any(needle in read.content for needle in needles)
        assert read.headers["cache-control"] == "no-store"
        erased = client.delete(f"/v1/borrowers/{commitment}/personal-data", headers=lender)
        assert erased.status_code == 200, erased.text
        gone = client.get(f"/v1/borrowers/{commitment}/personal-data", headers=lender)
        assert gone.status_code == 410
        verified = client.post("/v1/verify", data={"digest": digest})
        assert verified.json()["verdict"] == "valid"  # the anchor outlives the erasure
        audit = client.get("/v1/audit-log", headers=bearer(rt, "regulator")).json()
        assert any("personal-data" in str(entry) for entry in audit)  # the read is on record
    rt.close()
    haystacks = {
        "database": _database_bytes(fresh_postgres),
        "logs": "\n".join(r.getMessage() for r in caplog.records).encode(),
        "chain": _chain_bytes(anvil_chain.node, first_block),
    }
    assert all(len(h) > 0 for h in haystacks.values())
    leaks = [
        (where, field)
        for where, haystack in haystacks.items()
        for field, needles in _needles().items()
        if any(needle in haystack for needle in needles)
    ]
    assert leaks == []
