"""Loan terms: validation, strict JSON, their schedule and the EIP-712 struct hash."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import build_schedule
from loantrace.domain.terms import (
    EIP712_TYPES,
    INSTALMENT_TYPEHASH,
    LOAN_TERMS_TYPEHASH,
    METHOD_CODES,
    LoanTerms,
    instalment_hash,
    schedule_hash,
)

OLD_STYLE = {
    "principal": 1_000_000,
    "currency": "CNY",
    "apr_bps": 1200,
    "instalments": 12,
    "repayment_method": "annuity",
    "start_date": "2027-01-01",
    "first_due_date": "2027-01-31",
    "purpose": "CONSUMPTION",
}
CUSTOM = {
    **OLD_STYLE,
    "instalments": 2,
    "repayment_method": "custom",
    "schedule": [
        {"due_date": "2027-01-31", "principal": 400_000, "interest": 9_000, "fees": 500},
        {"due_date": "2027-04-30", "principal": 600_000, "interest": 12_000, "fees": 0},
    ],
}
DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _terms(**changes: Any) -> LoanTerms:
    return LoanTerms.from_json({**OLD_STYLE, **changes})


def test_type_hashes_are_the_contracts() -> None:
    instalment_type = "Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)"
    terms_type = (
        "LoanTerms(uint256 principal,bytes3 currency,uint64 startAt,bytes32 purpose,"
        "uint8 repaymentMethod,uint32 aprBps,Instalment[] schedule)"
    )
    assert keccak(text=instalment_type) == INSTALMENT_TYPEHASH
    assert keccak(text=terms_type + instalment_type) == LOAN_TERMS_TYPEHASH
    assert METHOD_CODES == {"annuity": 1, "equal_principal": 2, "bullet": 3, "custom": 4}


def test_struct_hash_encodes_the_fields_as_the_contract_does() -> None:
    terms = _terms(fee_per_instalment=100)
    schedule = terms.schedule()
    instalment = schedule.instalments[0]
    assert instalment_hash(instalment) == keccak(
        INSTALMENT_TYPEHASH
        + instalment.due_at.to_bytes(32, "big")
        + instalment.principal.to_bytes(32, "big")
        + instalment.interest.to_bytes(32, "big")
        + (100).to_bytes(32, "big")
    )
    assert schedule_hash(schedule) == keccak(
        b"".join(instalment_hash(i) for i in schedule.instalments)
    )
    expected = keccak(
        LOAN_TERMS_TYPEHASH
        + (1_000_000).to_bytes(32, "big")
        + b"CNY".ljust(32, b"\0")  # bytes3 is left-aligned
        + (1_798_761_600).to_bytes(32, "big")  # 2027-01-01T00:00:00Z
        + b"CONSUMPTION".ljust(32, b"\0")
        + (1).to_bytes(32, "big")
        + (1200).to_bytes(32, "big")
        + schedule_hash(schedule)
    )
    assert terms.struct_hash() == expected
    assert terms.digest() == expected


@pytest.mark.parametrize("terms_json", [OLD_STYLE, CUSTOM, {**OLD_STYLE, "fee_per_instalment": 7}])
def test_a_wallet_signing_the_typed_data_hashes_the_same_struct(terms_json: dict[str, Any]) -> None:
    terms = LoanTerms.from_json(terms_json)
    message = {
        "types": {"EIP712Domain": DOMAIN_TYPE, **EIP712_TYPES},
        "primaryType": "LoanTerms",
        "domain": {
            "name": "LoanLedger",
            "version": "1",
            "chainId": 31337,
            "verifyingContract": "0x" + "11" * 20,
        },
        "message": terms.eip712_message(),
    }
    assert encode_typed_data(full_message=message).body == terms.struct_hash()


def test_eip712_message_is_json_ready() -> None:
    message = _terms(instalments=1, repayment_method="bullet").eip712_message()
    assert message == {
        "principal": 1_000_000,
        "currency": "0x434e59",
        "startAt": 1_798_761_600,
        "purpose": "0x" + b"CONSUMPTION".hex() + "00" * 21,
        "repaymentMethod": 3,
        "aprBps": 1200,
        # 1,000,000 × 12 % × 30 / 365 = 9,863.01 → 9,863
        "schedule": [
            {"dueAt": 1_801_353_600, "principal": 1_000_000, "interest": 9_863, "fees": 0}
        ],
    }


def test_every_signed_field_changes_the_struct_hash() -> None:
    base = _terms()
    variants = [
        _terms(principal=1_000_001),
        _terms(currency="USD"),
        _terms(apr_bps=1201),
        _terms(instalments=11),
        _terms(repayment_method="equal_principal"),
        _terms(start_date="2027-01-02"),
        _terms(first_due_date="2027-02-01"),
        _terms(purpose="EDUCATION"),
        _terms(fee_per_instalment=1),
    ]
    hashes = {base.struct_hash(), *(v.struct_hash() for v in variants)}
    assert len(hashes) == len(variants) + 1


@pytest.mark.parametrize("terms_json", [OLD_STYLE, CUSTOM, {**OLD_STYLE, "fee_per_instalment": 7}])
def test_json_round_trips(terms_json: dict[str, Any]) -> None:
    assert LoanTerms.from_json(terms_json).to_json() == terms_json


def test_old_style_json_omits_the_defaults() -> None:
    terms = _terms(fee_per_instalment=0)
    assert terms.fee_per_instalment == 0
    assert terms.custom is None
    assert terms.to_json() == OLD_STYLE


def test_schedule_follows_the_method() -> None:
    terms = _terms(fee_per_instalment=250)
    assert terms.schedule() == build_schedule(
        principal=1_000_000,
        apr_bps=1200,
        instalments=12,
        method="annuity",
        start_date=date(2027, 1, 1),
        first_due_date=date(2027, 1, 31),
        fee_per_instalment=250,
    )
    custom = LoanTerms.from_json(CUSTOM).schedule()
    assert [(i.due_date, i.principal, i.interest, i.fees) for i in custom.instalments] == [
        (date(2027, 1, 31), 400_000, 9_000, 500),
        (date(2027, 4, 30), 600_000, 12_000, 0),
    ]
    assert custom.start_date == date(2027, 1, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"principal": 0}, "principal"),
        ({"principal": True}, "principal"),
        ({"principal": 2**53}, "principal"),
        ({"currency": "cny"}, "currency"),
        ({"currency": 156}, "currency"),
        ({"apr_bps": 100_001}, "apr_bps"),
        ({"apr_bps": 12.5}, "apr_bps"),
        ({"instalments": 361}, "instalments"),
        ({"repayment_method": "balloon"}, "repayment_method"),
        ({"start_date": "2027-1-1"}, "start_date"),
        ({"start_date": "20270101"}, "start_date"),
        ({"start_date": "2027-02-30"}, "start_date"),
        ({"start_date": "2027-01-31"}, "start_date must be before"),
        ({"first_due_date": None}, "first_due_date"),
        ({"purpose": "consumption"}, "purpose"),
        ({"purpose": "X" * 33}, "purpose"),
        ({"fee_per_instalment": -1}, "fee_per_instalment"),
        ({"fee_per_instalment": None}, "fee_per_instalment"),
        ({"extra": 1, "another": 2}, "unknown keys: another, extra"),
        ({"schedule": CUSTOM["schedule"]}, "only allowed with repayment_method custom"),
    ],
)
def test_from_json_rejects_invalid_terms(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _terms(**changes)


@pytest.mark.parametrize("key", ["principal", "start_date", "purpose"])
def test_from_json_names_missing_keys(key: str) -> None:
    partial = {k: v for k, v in OLD_STYLE.items() if k != key}
    with pytest.raises(InvalidInput, match=f"missing keys: {key}"):
        LoanTerms.from_json(partial)


@pytest.mark.parametrize("obj", [None, [], "terms"])
def test_from_json_rejects_a_non_object(obj: object) -> None:
    with pytest.raises(InvalidInput, match="JSON object"):
        LoanTerms.from_json(obj)


def _custom(schedule: object, **changes: Any) -> dict[str, Any]:
    count = len(schedule) if isinstance(schedule, list) else 1
    return {**CUSTOM, "schedule": schedule, "instalments": count, **changes}


@pytest.mark.parametrize(
    ("terms_json", "message"),
    [
        ({**CUSTOM, "schedule": None}, "required with repayment_method custom"),
        ({k: v for k, v in CUSTOM.items() if k != "schedule"}, "required"),
        (_custom([], instalments=1), "required"),
        (_custom({"due_date": "2027-01-31"}), "list"),
        (_custom(CUSTOM["schedule"], instalments=3), "instalments must equal"),
        (_custom(CUSTOM["schedule"], first_due_date="2027-02-01"), "first due date"),
        (_custom(CUSTOM["schedule"], fee_per_instalment=5), "fee_per_instalment must be 0"),
        (_custom([{"due_date": "2027-01-31", "principal": 1_000_000}]), "missing keys: interest"),
        (
            _custom([{"due_date": "2027-01-31", "principal": 1, "interest": 0, "fees": 0, "x": 1}]),
            r"schedule\[0\] has unknown keys: x",
        ),
        (
            _custom([{"due_date": "2027-01-31", "principal": "1", "interest": 0, "fees": 0}]),
            "principal must be an integer",
        ),
        (
            _custom([{"due_date": 20270131, "principal": 1, "interest": 0, "fees": 0}]),
            "due_date",
        ),
        (
            _custom([{"due_date": "2027-01-31", "principal": 999_999, "interest": 0, "fees": 0}]),
            "sum to 999999",
        ),
        (
            _custom(
                [
                    {"due_date": "2027-01-31", "principal": 500_000, "interest": 0, "fees": 0},
                    {"due_date": "2027-01-31", "principal": 500_000, "interest": 0, "fees": 0},
                ]
            ),
            "not after",
        ),
    ],
)
def test_from_json_rejects_invalid_custom_schedules(
    terms_json: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        LoanTerms.from_json(terms_json)


def test_constructor_validates_like_from_json() -> None:
    terms = _terms()
    with pytest.raises(InvalidInput, match="purpose"):
        replace(terms, purpose="lower")
    with pytest.raises(InvalidInput, match="required"):
        replace(terms, repayment_method="custom")


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 2**53 - 1),
    st.integers(0, 100_000),
    st.integers(1, 360),
    st.sampled_from(["annuity", "equal_principal", "bullet"]),
    st.integers(0, 10_000),
)
def test_wallet_hash_matches_for_any_terms(
    principal: int, apr_bps: int, instalments: int, method: str, fee: int
) -> None:
    terms = _terms(
        principal=principal,
        apr_bps=apr_bps,
        instalments=instalments,
        repayment_method=method,
        fee_per_instalment=fee,
    )
    message = {
        "types": {"EIP712Domain": DOMAIN_TYPE[:1], **EIP712_TYPES},
        "primaryType": "LoanTerms",
        "domain": {"name": "LoanLedger"},
        "message": terms.eip712_message(),
    }
    assert encode_typed_data(full_message=message).body == terms.struct_hash()
    assert LoanTerms.from_json(terms.to_json()) == terms


_WORD = st.integers(min_value=0, max_value=2**256 - 1)
_INSTALMENT = st.builds(
    lambda due_at, principal, interest, fees: SimpleNamespace(
        due_at=due_at, principal=principal, interest=interest, fees=fees
    ),
    st.integers(min_value=0, max_value=2**64 - 1),
    _WORD,
    _WORD,
    _WORD,
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_INSTALMENT, min_size=1, max_size=30))
def test_schedule_hash_writes_the_words_eth_abi_would(instalments: list[Any]) -> None:
    schedule: Any = SimpleNamespace(instalments=tuple(instalments))
    assert schedule_hash(schedule) == keccak(b"".join(instalment_hash(i) for i in instalments))


@pytest.mark.parametrize(
    ("field", "value"),
    [("due_at", 2**64), ("principal", 2**256), ("interest", -1), ("fees", True)],
)
def test_schedule_hash_refuses_a_value_its_word_cannot_hold(field: str, value: object) -> None:
    fields: dict[str, object] = {"due_at": 1, "principal": 2, "interest": 3, "fees": 4}
    schedule: Any = SimpleNamespace(instalments=(SimpleNamespace(**(fields | {field: value})),))
    with pytest.raises(InvalidInput, match="is not a uint"):
        schedule_hash(schedule)
