"""Smart-contract wallets (ERC-1271) can sign agreements: the contract asks the wallet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import solcx
from eth_account import Account

from loantrace.bootstrap import Runtime
from loantrace.domain.agreement import Agreement, sign_agreement
from loantrace.domain.digest import document_digest
from loantrace.domain.errors import SignatureMismatch
from loantrace.services.notary import Submission
from tests.conftest import SAMPLE_TERMS

ROOT = Path(__file__).resolve().parents[2]
SOURCE = Path(__file__).with_name("contracts") / "TestWallet.sol"


@pytest.fixture(scope="module")
def wallet_artifact() -> dict[str, Any]:
    if not (ROOT / "node_modules" / "solc").is_dir():
        pytest.skip("solc-js not installed: run `npm ci`")
    data = {
        "language": "Solidity",
        "sources": {"TestWallet.sol": {"content": SOURCE.read_text()}},
        "settings": {
            "evmVersion": "cancun",
            "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object"]}},
        },
    }
    out = solcx.compile_standard(data, solc_binary=ROOT / "scripts" / "solc", base_path=ROOT)
    compiled = out["contracts"]["TestWallet.sol"]["TestWallet"]
    return {"abi": compiled["abi"], "bytecode": "0x" + compiled["evm"]["bytecode"]["object"]}


def _deploy_wallet(rt: Runtime, artifact: dict[str, Any], owner: str) -> str:
    factory = rt.node.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    result = rt.registry.transactor.send(factory.constructor(owner))
    receipt = rt.node.w3.eth.get_transaction_receipt(result.tx_hash)  # type: ignore[arg-type]
    return str(receipt["contractAddress"])


def _submission(rt: Runtime, wallet: str, key: bytes, document: bytes) -> Submission:
    commitment = bytes.fromhex("ab" * 32)
    agreement = Agreement(
        digest=document_digest(document),
        lender=rt.notary.lender,
        borrower=wallet,
        borrower_commitment=commitment,
        terms_digest=SAMPLE_TERMS.digest(),
    )
    signature = sign_agreement(agreement, rt.registry.domain, key)
    return Submission(agreement.digest, wallet, commitment, signature, SAMPLE_TERMS)


def test_borrower_smart_wallet_signature_is_accepted_and_verifies(
    runtime: Runtime, wallet_artifact: dict[str, Any]
) -> None:
    owner = Account.create()
    wallet = _deploy_wallet(runtime, wallet_artifact, owner.address)
    receipt = runtime.notary.notarise(_submission(runtime, wallet, owner.key, b"wallet loan"))
    report = runtime.verifier.verify(bytes.fromhex(receipt.digest[2:]))
    assert report.verdict == "valid"
    assert report.borrower == wallet
    assert report.recovered_borrower == owner.address  # ECDSA sees the owner key ...
    assert report.signatures_match is True  # ... and the wallet vouched for it on chain


def test_smart_wallet_rejects_a_signature_not_by_its_owner(
    runtime: Runtime, wallet_artifact: dict[str, Any]
) -> None:
    owner, stranger = Account.create(), Account.create()
    wallet = _deploy_wallet(runtime, wallet_artifact, owner.address)
    submission = _submission(runtime, wallet, stranger.key, b"forged wallet loan")
    with pytest.raises(SignatureMismatch, match="AgreementRegistryInvalidSignature"):
        runtime.notary.notarise(submission)
    agreement_id = runtime.registry.agreement_id(runtime.notary.agreement_of(submission))
    assert runtime.registry.record_of(agreement_id) is None
