"""Personal data: canonical form, validation, commitments and their openings."""

from __future__ import annotations

import hashlib
import hmac
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.digest import canonical_json, new_salt
from loantrace.domain.errors import InvalidInput, NotFound, PersonalDataErased, SealBroken
from loantrace.domain.personal import (
    Opening,
    PersonalData,
    account_commitment,
    borrower_commitment,
    opens_account,
    opens_borrower,
    sealing_aad,
)

ALICE = PersonalData("张三", "11010519491231002x", "+86 138-0013-8000", "6222 0212 3456 7890 123")
LENDER = "0x" + "ab" * 20


def test_fields_are_kept_in_canonical_form() -> None:
    assert ALICE.name == "张三"
    assert ALICE.id_number == "11010519491231002X"
    assert ALICE.phone == "+86 138-0013-8000"
    assert ALICE.bank_account == "6222021234567890123"


def test_names_are_nfc_trimmed_and_single_spaced() -> None:
    decomposed = "Jose\u0301  Garci\u0301a "
    data = PersonalData(decomposed, "A1234567", "13800138000", "GB82WEST12345698765432")
    assert data.name == unicodedata.normalize("NFC", "José García")
    assert data.name == "Jos\u00e9 Garc\u00eda"


def test_names_of_minorities_with_middle_dots_are_accepted() -> None:
    data = PersonalData("阿依古丽·买买提", "650102199001011234", "13800138000", "6222021234567890")
    assert data.name == "阿依古丽·买买提"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "   "),
        ("name", "a" * 101),
        ("name", "Alice\x00"),
        ("name", "Ali\u202ece"),  # a bidi override
        ("name", "Ali\u200bce"),  # a zero-width space
        ("name", "Alice\nBob"),
        ("name", "Alice1"),
        ("name", "<script>"),
        ("name", "·-."),
        ("name", "x" * 10_000),
        ("id_number", "123"),
        ("id_number", "1" * 33),
        ("id_number", "-1234567"),
        ("id_number", "1234 5678"),
        ("id_number", "１２３４５６７８"),  # full-width digits
        ("phone", "1234"),
        ("phone", "+86 abc 1234"),
        ("phone", "1" * 21),
        ("phone", "++8613800138000"),
        ("bank_account", "12345"),
        ("bank_account", "1" * 35),
        ("bank_account", "6222-0212-3456"),
        ("bank_account", "6222\t0212\t3456"),
    ],
)
def test_malformed_fields_are_refused_without_echoing_them(field: str, value: str) -> None:
    fields = {
        "name": "Alice",
        "id_number": "A1234567",
        "phone": "13800138000",
        "bank_account": "6222021234567890",
    }
    fields[field] = value
    with pytest.raises(InvalidInput, match=field) as caught:
        PersonalData(**fields)
    if len(value) > 3:
        assert value not in str(caught.value)


def test_non_strings_are_refused() -> None:
    with pytest.raises(InvalidInput, match="name must be a string"):
        PersonalData(42, "A1234567", "13800138000", "6222021234567890")  # type: ignore[arg-type]


def test_personal_data_never_shows_itself() -> None:
    opening = Opening(ALICE, new_salt(), new_salt())
    shown = repr(ALICE) + str(ALICE) + repr(opening)
    for value in ("张三", ALICE.id_number, "138", ALICE.bank_account, opening.salt.hex()):
        assert value not in shown


def test_the_borrower_commitment_is_hmac_of_jcs_name_and_id_number() -> None:
    salt = new_salt()
    identity = canonical_json({"name": ALICE.name, "id_number": ALICE.id_number})
    expected = hmac.new(salt, identity, hashlib.sha256).digest()
    assert borrower_commitment(ALICE, salt) == expected
    assert Opening(ALICE, salt, new_salt()).borrower_commitment == expected


def test_the_account_commitment_is_hmac_of_jcs_bank_account() -> None:
    salt = new_salt()
    expected = hmac.new(salt, b'{"bank_account":"6222021234567890123"}', hashlib.sha256).digest()
    assert account_commitment(ALICE, salt) == expected


def test_a_commitment_opens_to_its_person_written_in_any_accepted_form() -> None:
    salt, account_salt = new_salt(), new_salt()
    commitment = borrower_commitment(ALICE, salt)
    assert opens_borrower(commitment, name=" 张三 ", id_number="11010519491231002X", salt=salt)
    assert not opens_borrower(commitment, name="李四", id_number=ALICE.id_number, salt=salt)
    assert not opens_borrower(commitment, name="张三", id_number=ALICE.id_number, salt=new_salt())
    account = account_commitment(ALICE, account_salt)
    assert opens_account(account, bank_account="6222021234567890123", salt=account_salt)
    assert not opens_account(account, bank_account="6222021234567890124", salt=account_salt)
    assert not opens_account(commitment, bank_account=ALICE.bank_account, salt=salt)


def test_a_short_salt_is_refused() -> None:
    with pytest.raises(InvalidInput, match="salt"):
        Opening(ALICE, b"short", new_salt())
    with pytest.raises(InvalidInput, match="salt"):
        opens_borrower(bytes(32), name="张三", id_number=ALICE.id_number, salt=b"short")


names = st.text(
    alphabet=st.characters(categories=("Lu", "Ll", "Lo")), min_size=1, max_size=40
).filter(lambda n: n == unicodedata.normalize("NFC", n))


@given(name=names, digits=st.text(alphabet="0123456789X", min_size=4, max_size=32))
def test_an_opening_round_trips_through_its_sealed_json(name: str, digits: str) -> None:
    data = PersonalData(name, digits, "+44 20 7946 0958", "GB82 WEST 1234 5698 7654 32")
    opening = Opening(data, new_salt(), new_salt())
    again = Opening.from_json(opening.to_json())
    assert again.data == data
    assert (again.salt, again.account_salt) == (opening.salt, opening.account_salt)
    assert again.borrower_commitment == opening.borrower_commitment


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"[]", b'{"name":"x"}', b"\xff", b"{}"],
)
def test_a_payload_that_is_not_an_opening_is_refused(payload: bytes) -> None:
    with pytest.raises(SealBroken):
        Opening.from_json(payload)


def test_the_aad_binds_both_commitments_and_the_lender_in_any_case() -> None:
    a, b = bytes(32), bytes([1] * 32)
    aad = sealing_aad(borrower_commitment=a, account_commitment=b, lender=LENDER)
    assert aad == sealing_aad(borrower_commitment=a, account_commitment=b, lender=LENDER.upper())
    assert aad != sealing_aad(borrower_commitment=b, account_commitment=a, lender=LENDER)
    assert aad != sealing_aad(borrower_commitment=a, account_commitment=b, lender="0x" + "cd" * 20)


def test_an_erased_borrower_is_a_kind_of_not_found() -> None:
    assert issubclass(PersonalDataErased, NotFound)
