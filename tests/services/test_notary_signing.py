"""The notary's lender signature: a local key signs the EIP-712 hash directly, which is the
very signature a wallet makes over the typed data (terms and schedule in full)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.domain.agreement import typed_data
from loantrace.domain.errors import SignatureMismatch
from tests.conftest import make_signed
from tests.services.fakes import FakeLedgerStore
from tests.services.test_notary_with_fakes import LENDER, FakeRegistry, _notary, _submission


def test_the_lender_signs_the_same_bytes_as_over_the_typed_data() -> None:
    notary = _notary(FakeLedgerStore(), FakeRegistry())
    submission = _submission(notary, b"doc")
    signed, terms = notary.prepare(submission)
    document = typed_data(signed.agreement, notary.domain, terms)
    wallet = Account.sign_typed_data(LENDER.key, full_message=document)
    assert signed.lender_signature == bytes(wallet.signature)
    signed.check_signatures(notary.domain)


def test_a_borrower_signature_by_someone_else_is_refused(embedded_runtime: Runtime) -> None:
    rt = embedded_runtime
    forged = make_signed(rt, signer=Account.create()).submission
    with pytest.raises(SignatureMismatch, match="borrower signature recovers to 0x"):
        rt.notary.prepare(forged)
    unrecoverable = replace(forged, borrower_signature=b"\x01" * 64 + b"\x1d")  # v = 29
    with pytest.raises(SignatureMismatch, match="borrower signature recovers to no address"):
        rt.notary.prepare(unrecoverable)
