"""EIP-712 typed data, signing and recovery of agreements."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import pytest
from eth_abi.abi import encode
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from loantrace.domain.agreement import (
    Agreement,
    Domain,
    SignedAgreement,
    private_key_of,
    recover_from_hash,
    recover_signer,
    sign_agreement,
    signing_hash,
    struct_hash,
    typed_data,
)
from loantrace.domain.errors import InvalidInput, SignatureError, SignatureMismatch
from loantrace.domain.hexcodec import ZERO32
from loantrace.domain.terms import LoanTerms

REPO_ROOT = Path(__file__).resolve().parents[2]
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
AGREEMENT_TYPE = (
    "Agreement(bytes32 digest,address lender,address borrower,bytes32 borrowerCommitment,"
    "LoanTerms terms,bytes32 supersedes)"
)
# EIP-712 encodeType: the primary type, then the types it references, sorted by name.
AGREEMENT_ENCODE_TYPE = (
    AGREEMENT_TYPE
    + "Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)"
    + "LoanTerms(uint256 principal,bytes3 currency,uint64 startAt,bytes32 purpose,"
    "uint8 repaymentMethod,uint32 aprBps,Instalment[] schedule)"
)
TERMS = LoanTerms(
    principal=500_000,
    currency="CNY",
    apr_bps=1_150,
    instalments=3,
    repayment_method="annuity",
    start_date="2026-12-15",
    first_due_date="2027-01-15",
    purpose="CONSUMPTION",
)
DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
LENDER = Account.from_key(b"\x01" * 32)
BORROWER = Account.from_key(b"\x02" * 32)
DOMAIN = Domain(chain_id=31337, verifying_contract="0x5FbDB2315678afecb367f032d93F642f64180aa3")

hashes = st.binary(min_size=32, max_size=32)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
keys = st.integers(1, SECP256K1_N - 1).map(lambda k: k.to_bytes(32, "big"))
domains = st.builds(Domain, chain_id=st.integers(1, 2**64), verifying_contract=addresses)
agreements = st.builds(
    Agreement,
    digest=hashes,
    lender=addresses,
    borrower=addresses,
    borrower_commitment=hashes,
    terms_digest=hashes,
    supersedes=hashes,
)


def _agreement() -> Agreement:
    return Agreement(
        digest=b"\xd1" * 32,
        lender=LENDER.address,
        borrower=BORROWER.address,
        borrower_commitment=b"\xc0" * 32,
        terms_digest=TERMS.digest(),
    )


def _signed() -> SignedAgreement:
    agreement = _agreement()
    return SignedAgreement(
        agreement,
        sign_agreement(agreement, DOMAIN, LENDER.key),
        sign_agreement(agreement, DOMAIN, BORROWER.key),
    )


def _eip712_hash_as_solidity_computes_it(agreement: Agreement, domain: Domain) -> bytes:
    """Recompute OpenZeppelin EIP712._hashTypedDataV4 by hand, without eth_account."""
    separator = keccak(
        encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(text=DOMAIN_TYPE),
                keccak(text="LoantraceAgreementRegistry"),
                keccak(text="2"),
                domain.chain_id,
                domain.verifying_contract,
            ],
        )
    )
    struct = keccak(
        encode(
            ["bytes32", "bytes32", "address", "address", "bytes32", "bytes32", "bytes32"],
            [
                keccak(text=AGREEMENT_ENCODE_TYPE),
                agreement.digest,
                agreement.lender,
                agreement.borrower,
                agreement.borrower_commitment,
                agreement.terms_digest,
                agreement.supersedes,
            ],
        )
    )
    return keccak(b"\x19\x01" + separator + struct)


@given(agreements, domains)
def test_signing_hash_equals_the_solidity_eip712_formula(
    agreement: Agreement, domain: Domain
) -> None:
    assert signing_hash(agreement, domain) == _eip712_hash_as_solidity_computes_it(
        agreement, domain
    )


@given(agreements, domains)
def test_typed_data_survives_json_and_encodes_to_the_signing_hash(
    agreement: Agreement, domain: Domain
) -> None:
    agreement = replace(agreement, terms_digest=TERMS.digest())
    document = json.loads(json.dumps(typed_data(agreement, domain, TERMS)))
    message = encode_typed_data(full_message=document)
    assert keccak(b"\x19" + message.version + message.header + message.body) == signing_hash(
        agreement, domain
    )


def test_typed_data_has_wallet_shape_with_hex_and_checksummed_values() -> None:
    document = typed_data(_agreement(), DOMAIN, TERMS)
    assert set(document) == {"types", "primaryType", "domain", "message"}
    assert document["primaryType"] == "Agreement"
    assert [f["name"] for f in document["types"]["EIP712Domain"]] == [
        "name",
        "version",
        "chainId",
        "verifyingContract",
    ]
    assert document["domain"] == {
        "name": Domain.NAME,
        "version": Domain.VERSION,
        "chainId": 31337,
        "verifyingContract": DOMAIN.verifying_contract,
    }
    assert document["message"]["digest"] == "0x" + "d1" * 32
    assert document["message"]["supersedes"] == "0x" + "00" * 32
    assert document["message"]["borrower"] == BORROWER.address
    terms = document["message"]["terms"]
    assert (terms["principal"], terms["aprBps"], len(terms["schedule"])) == (500_000, 1_150, 3)
    assert terms["schedule"][0]["dueAt"] == TERMS.schedule().instalments[0].due_at


def test_typed_data_refuses_terms_that_do_not_hash_to_the_terms_digest() -> None:
    with pytest.raises(InvalidInput, match="termsDigest"):
        typed_data(replace(_agreement(), terms_digest=b"\x7e" * 32), DOMAIN, TERMS)


def test_typed_data_field_order_spells_the_contract_type_string() -> None:
    fields = typed_data(_agreement(), DOMAIN, TERMS)["types"]["Agreement"]
    spelled = "Agreement(" + ",".join(f"{f['type']} {f['name']}" for f in fields) + ")"
    assert spelled == AGREEMENT_TYPE
    source = REPO_ROOT / "contracts" / "AgreementRegistry.sol"
    if source.is_file():
        text = source.read_text().replace('"\n        "', "")
        assert AGREEMENT_ENCODE_TYPE in text
        assert 'EIP712("LoantraceAgreementRegistry", "2")' in text


@settings(max_examples=25, deadline=None)
@given(agreements, domains, keys)
def test_signature_recovers_to_the_signer(agreement: Agreement, domain: Domain, key: bytes) -> None:
    signature = sign_agreement(agreement, domain, key)
    assert len(signature) == 65
    assert recover_signer(agreement, domain, signature) == Account.from_key(key).address


@settings(max_examples=25, deadline=None)
@given(agreements, domains, domains, keys)
def test_signature_for_one_domain_does_not_recover_under_another(
    agreement: Agreement, signed_in: Domain, replayed_in: Domain, key: bytes
) -> None:
    assume(signed_in != replayed_in)
    signature = sign_agreement(agreement, signed_in, key)
    assert recover_signer(agreement, replayed_in, signature) != Account.from_key(key).address


@pytest.mark.parametrize(
    "other",
    [
        Domain(chain_id=1, verifying_contract=DOMAIN.verifying_contract),
        Domain(chain_id=DOMAIN.chain_id, verifying_contract="0x" + "11" * 20),
    ],
    ids=["other-chain", "other-contract"],
)
def test_signature_is_not_replayable_on_other_chain_or_contract(other: Domain) -> None:
    signature = sign_agreement(_agreement(), DOMAIN, BORROWER.key)
    assert recover_signer(_agreement(), other, signature) != BORROWER.address


@pytest.mark.parametrize(
    "field", ["digest", "lender", "borrower", "borrower_commitment", "terms_digest", "supersedes"]
)
def test_signature_does_not_cover_a_changed_field(field: str) -> None:
    signature = sign_agreement(_agreement(), DOMAIN, BORROWER.key)
    new: Any = "0x" + "99" * 20 if field in ("lender", "borrower") else b"\x99" * 32
    changed = replace(_agreement(), **{field: new})
    assert recover_signer(changed, DOMAIN, signature) != BORROWER.address


def test_check_signatures_passes_for_both_parties() -> None:
    _signed().check_signatures(DOMAIN)


@pytest.mark.parametrize("party", ["lender", "borrower"])
def test_check_signatures_names_the_party_expected_and_recovered(party: str) -> None:
    stranger = Account.from_key(b"\x03" * 32)
    forged: Any = sign_agreement(_agreement(), DOMAIN, stranger.key)
    signed = replace(_signed(), **{f"{party}_signature": forged})
    expected = getattr(_agreement(), party)
    with pytest.raises(SignatureMismatch, match=f"{party} signature recovers to") as info:
        signed.check_signatures(DOMAIN)
    assert stranger.address in str(info.value)
    assert expected in str(info.value)


def test_check_signatures_treats_malformed_signature_as_mismatch_of_that_party() -> None:
    signed = replace(_signed(), borrower_signature=b"\x01" * 64)
    with pytest.raises(SignatureMismatch, match="borrower signature recovers to no address"):
        signed.check_signatures(DOMAIN)


def test_check_signatures_fails_in_another_domain() -> None:
    other = Domain(chain_id=DOMAIN.chain_id + 1, verifying_contract=DOMAIN.verifying_contract)
    with pytest.raises(SignatureMismatch, match="lender"):
        _signed().check_signatures(other)


@pytest.mark.parametrize("length", [0, 64, 66])
def test_recover_rejects_wrong_length(length: int) -> None:
    with pytest.raises(SignatureError, match="signature must be 65 bytes"):
        recover_signer(_agreement(), DOMAIN, b"\x01" * length)


@pytest.mark.parametrize("v", [0, 1, 26, 29, 37])
def test_recover_rejects_v_other_than_27_or_28(v: int) -> None:
    signature = bytearray(sign_agreement(_agreement(), DOMAIN, BORROWER.key))
    signature[64] = v
    with pytest.raises(SignatureError, match="v must be 27 or 28"):
        recover_signer(_agreement(), DOMAIN, bytes(signature))


def test_recover_rejects_malleable_high_s_twin_that_the_contract_rejects() -> None:
    signature = sign_agreement(_agreement(), DOMAIN, BORROWER.key)
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    message = encode_typed_data(full_message=typed_data(_agreement(), DOMAIN, TERMS))
    assert Account.recover_message(message, signature=twin) == BORROWER.address  # eth_account
    with pytest.raises(SignatureError, match="lower half"):
        recover_signer(_agreement(), DOMAIN, twin)


@pytest.mark.parametrize("r", [0, SECP256K1_N, 2**256 - 1], ids=["zero", "order", "max"])
def test_recover_rejects_r_out_of_range(r: int) -> None:
    signature = r.to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1b"
    with pytest.raises(SignatureError, match="r is out of range"):
        recover_signer(_agreement(), DOMAIN, signature)


def test_recover_rejects_r_that_is_not_a_curve_point() -> None:
    signature = (5).to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1b"
    with pytest.raises(SignatureError, match="cannot be recovered"):
        recover_signer(_agreement(), DOMAIN, signature)


@pytest.mark.parametrize("key", [b"\x00" * 32, b"\x01" * 31, "0xnothex", SECP256K1_N.to_bytes(32)])
def test_sign_rejects_invalid_key_without_echoing_it(key: bytes | str) -> None:
    with pytest.raises(InvalidInput, match="private_key must be a secp256k1 key") as info:
        sign_agreement(_agreement(), DOMAIN, key)
    assert "nothex" not in str(info.value)


def test_agreement_normalises_addresses_to_checksum() -> None:
    agreement = replace(_agreement(), lender=LENDER.address.lower())
    assert agreement.lender == LENDER.address
    assert agreement.supersedes == ZERO32


@pytest.mark.parametrize("field", ["digest", "borrower_commitment", "terms_digest", "supersedes"])
def test_agreement_rejects_hashes_that_are_not_32_bytes(field: str) -> None:
    with pytest.raises(InvalidInput, match=rf"agreement\.{field} must be 32 bytes"):
        replace(_agreement(), **{field: cast(Any, b"\x01" * 31)})


@pytest.mark.parametrize("field", ["lender", "borrower"])
def test_agreement_rejects_bad_addresses(field: str) -> None:
    with pytest.raises(InvalidInput, match=rf"agreement\.{field}"):
        replace(_agreement(), **{field: cast(Any, "0x1234")})


def test_signed_agreement_rejects_non_bytes_signature() -> None:
    with pytest.raises(SignatureError, match="borrower_signature must be bytes"):
        SignedAgreement(_agreement(), b"\x01" * 65, "0x" + "01" * 65)  # type: ignore[arg-type]


@pytest.mark.parametrize("chain_id", [0, -1, 2**256, True])
def test_domain_rejects_invalid_chain_id(chain_id: int) -> None:
    with pytest.raises(InvalidInput, match=r"domain\.chain_id"):
        Domain(chain_id=chain_id, verifying_contract=DOMAIN.verifying_contract)


def test_domain_checksums_the_contract_and_rejects_bad_ones() -> None:
    lower = Domain(chain_id=1, verifying_contract=DOMAIN.verifying_contract.lower())
    assert lower.verifying_contract == DOMAIN.verifying_contract
    with pytest.raises(InvalidInput, match=r"domain\.verifying_contract"):
        Domain(chain_id=1, verifying_contract="0xabc")


_KEYS = st.integers(min_value=1, max_value=2**256 - 2**129).map(lambda k: k.to_bytes(32, "big"))


@settings(max_examples=40, deadline=None)
@given(_KEYS, st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_signing_with_a_parsed_key_is_eth_accounts_signature(
    key: bytes, digest: bytes, commitment: bytes
) -> None:
    domain = Domain(chain_id=31337, verifying_contract="0x" + "22" * 20)
    signer = Account.from_key(key)
    agreement = Agreement(digest, signer.address, signer.address, commitment, commitment)
    signable = SignableMessage(b"\x01", domain.separator(), struct_hash(agreement))
    reference = bytes(Account.sign_message(signable, key).signature)
    for form in (key, "0x" + key.hex(), private_key_of(key)):
        assert sign_agreement(agreement, domain, form) == reference
    assert recover_from_hash(signing_hash(agreement, domain), reference) == signer.address
    assert Account.recover_message(signable, signature=reference) == signer.address


@pytest.mark.parametrize("bad", [b"\x00" * 32, b"\x01" * 31, "0xzz", "0x" + "ff" * 32])
def test_a_bad_private_key_is_invalid_input(bad: bytes | str) -> None:
    with pytest.raises(InvalidInput, match="secp256k1 key of 32 bytes"):
        private_key_of(bad)
