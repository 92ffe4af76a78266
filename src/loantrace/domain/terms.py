"""Key terms of a loan agreement, validated, and their EIP-712 struct hash.

The struct hash is what the parties sign (as the agreement's `termsDigest`) and what the
LoanLedger contract recomputes from the terms and schedule it is given, so the type strings
and the encoding below must match the contract byte for byte.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from eth_utils.crypto import keccak

from loantrace.domain.abiwords import abi_encode
from loantrace.domain.errors import InvalidInput
from loantrace.domain.schedule import MAX_APR_BPS as MAX_APR_BPS
from loantrace.domain.schedule import MAX_INSTALMENTS as MAX_INSTALMENTS
from loantrace.domain.schedule import MAX_PRINCIPAL as MAX_PRINCIPAL
from loantrace.domain.schedule import (
    METHODS,
    Instalment,
    Schedule,
    build_schedule,
    custom_schedule,
    midnight_utc,
)

RepaymentMethod = Literal["annuity", "equal_principal", "bullet", "custom"]
REPAYMENT_METHODS = (*METHODS, "custom")
METHOD_CODES: dict[str, int] = {"annuity": 1, "equal_principal": 2, "bullet": 3, "custom": 4}
CustomInstalment = tuple[str, int, int, int]  # (due date ISO, principal, interest, fees)

INSTALMENT_TYPE = "Instalment(uint64 dueAt,uint256 principal,uint256 interest,uint256 fees)"
LOAN_TERMS_TYPE = (
    "LoanTerms(uint256 principal,bytes3 currency,uint64 startAt,bytes32 purpose,"
    "uint8 repaymentMethod,uint32 aprBps,Instalment[] schedule)"
)
LOAN_TERMS_TYPEHASH = keccak(text=LOAN_TERMS_TYPE + INSTALMENT_TYPE)
INSTALMENT_TYPEHASH = keccak(text=INSTALMENT_TYPE)
EIP712_TYPES: dict[str, list[dict[str, str]]] = {
    "LoanTerms": [
        {"name": "principal", "type": "uint256"},
        {"name": "currency", "type": "bytes3"},
        {"name": "startAt", "type": "uint64"},
        {"name": "purpose", "type": "bytes32"},
        {"name": "repaymentMethod", "type": "uint8"},
        {"name": "aprBps", "type": "uint32"},
        {"name": "schedule", "type": "Instalment[]"},
    ],
    "Instalment": [
        {"name": "dueAt", "type": "uint64"},
        {"name": "principal", "type": "uint256"},
        {"name": "interest", "type": "uint256"},
        {"name": "fees", "type": "uint256"},
    ],
}

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PURPOSE = re.compile(r"^[A-Z][A-Z0-9_]{1,31}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_REQUIRED = (
    "principal",
    "currency",
    "apr_bps",
    "instalments",
    "repayment_method",
    "start_date",
    "first_due_date",
    "purpose",
)
_OPTIONAL = ("fee_per_instalment", "schedule")
_CUSTOM_KEYS = ("due_date", "principal", "interest", "fees")


@dataclass(frozen=True)
class LoanTerms:
    """The key terms both parties signed; money in integer minor units.

    For "custom" terms, `custom` holds the lender's plan, one (due date, principal, interest,
    fees) per instalment; `instalments` and `first_due_date` must agree with it, and
    `fee_per_instalment` must be 0 (the fees are in the plan).
    """

    principal: int
    currency: str
    apr_bps: int
    instalments: int
    repayment_method: RepaymentMethod
    start_date: str
    first_due_date: str
    purpose: str
    fee_per_instalment: int = 0
    custom: tuple[CustomInstalment, ...] | None = None
    # Built once, in __post_init__: the terms are immutable, so is their schedule.
    _schedule: Schedule = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_int("principal", self.principal, 1, MAX_PRINCIPAL)
        _check_int("apr_bps", self.apr_bps, 0, MAX_APR_BPS)
        _check_int("instalments", self.instalments, 1, MAX_INSTALMENTS)
        _check_int("fee_per_instalment", self.fee_per_instalment, 0, MAX_PRINCIPAL)
        if not isinstance(self.currency, str) or not _CURRENCY.match(self.currency):
            raise InvalidInput("terms.currency must be an ISO 4217 code such as CNY or USD")
        if self.repayment_method not in REPAYMENT_METHODS:
            methods = ", ".join(REPAYMENT_METHODS)
            raise InvalidInput(f"terms.repayment_method must be one of {methods}")
        start = _parse_date("start_date", self.start_date)
        if start >= _parse_date("first_due_date", self.first_due_date):
            raise InvalidInput("terms.start_date must be before terms.first_due_date")
        if not isinstance(self.purpose, str) or not _PURPOSE.match(self.purpose):
            raise InvalidInput("terms.purpose must be an upper-case code such as CONSUMPTION")
        if self.repayment_method == "custom":
            self._check_custom()
        elif self.custom is not None:
            raise InvalidInput("terms.schedule is only allowed with repayment_method custom")
        # Every combination the schedule refuses is refused here too.
        object.__setattr__(self, "_schedule", self._build_schedule())

    def _check_custom(self) -> None:
        if not isinstance(self.custom, tuple) or not self.custom:
            raise InvalidInput("terms.schedule is required with repayment_method custom")
        if self.instalments != len(self.custom):
            raise InvalidInput("terms.instalments must equal the length of terms.schedule")
        if self.fee_per_instalment != 0:
            raise InvalidInput("terms.fee_per_instalment must be 0 with a custom schedule")
        for k, item in enumerate(self.custom):
            if not isinstance(item, tuple) or len(item) != 4:
                raise InvalidInput(f"terms.schedule[{k}] must be (due_date, principal, ...)")
            _parse_date(f"schedule[{k}].due_date", item[0])
        if self.custom[0][0] != self.first_due_date:
            raise InvalidInput("terms.first_due_date must be the first due date of the schedule")

    @classmethod
    def from_json(cls, obj: object) -> LoanTerms:
        """Parse terms from a JSON object, refusing unknown and missing keys."""
        fields = _object("terms", obj, _REQUIRED, _OPTIONAL)
        raw = fields.pop("schedule", None)
        custom = None
        if raw is not None:
            if not isinstance(raw, list):
                raise InvalidInput("terms.schedule must be a list of instalments")
            custom = tuple(_custom_instalment(k, item) for k, item in enumerate(raw))
        return cls(**fields, custom=custom)

    def to_json(self) -> dict[str, Any]:
        """Return the terms as a JSON object, the inverse of `from_json`."""
        result: dict[str, Any] = {name: getattr(self, name) for name in _REQUIRED}
        if self.fee_per_instalment:
            result["fee_per_instalment"] = self.fee_per_instalment
        if self.custom is not None:
            result["schedule"] = [
                dict(zip(_CUSTOM_KEYS, item, strict=True)) for item in self.custom
            ]
        return result

    def schedule(self) -> Schedule:
        """Return the repayment schedule these terms define."""
        return self._schedule

    def _build_schedule(self) -> Schedule:
        start = date.fromisoformat(self.start_date)
        if self.custom is not None:
            return custom_schedule(
                principal=self.principal,
                start_date=start,
                instalments=[
                    (_parse_date("schedule.due_date", due), principal, interest, fees)
                    for due, principal, interest, fees in self.custom
                ],
            )
        return build_schedule(
            principal=self.principal,
            apr_bps=self.apr_bps,
            instalments=self.instalments,
            method=self.repayment_method,
            start_date=start,
            first_due_date=date.fromisoformat(self.first_due_date),
            fee_per_instalment=self.fee_per_instalment,
        )

    def eip712_message(self) -> dict[str, Any]:
        """Return the EIP-712 message of the LoanTerms struct, ready for JSON and wallets."""
        return {
            "principal": self.principal,
            "currency": "0x" + self.currency.encode("ascii").hex(),
            "startAt": midnight_utc(date.fromisoformat(self.start_date)),
            "purpose": "0x" + _purpose_bytes32(self.purpose).hex(),
            "repaymentMethod": METHOD_CODES[self.repayment_method],
            "aprBps": self.apr_bps,
            "schedule": [
                {
                    "dueAt": i.due_at,
                    "principal": i.principal,
                    "interest": i.interest,
                    "fees": i.fees,
                }
                for i in self.schedule().instalments
            ],
        }

    def struct_hash(self) -> bytes:
        """Return the EIP-712 struct hash of the terms and their schedule."""
        return keccak(
            abi_encode(
                ["bytes32", "uint256", "bytes3", "uint64", "bytes32", "uint8", "uint32", "bytes32"],
                [
                    LOAN_TERMS_TYPEHASH,
                    self.principal,
                    self.currency.encode("ascii"),
                    midnight_utc(date.fromisoformat(self.start_date)),
                    _purpose_bytes32(self.purpose),
                    METHOD_CODES[self.repayment_method],
                    self.apr_bps,
                    schedule_hash(self.schedule()),
                ],
            )
        )

    def digest(self) -> bytes:
        """Return the terms digest the agreement carries: the EIP-712 struct hash.

        The terms are frozen, so it is hashed once per object (~0.1 ms with a schedule) and
        kept in the instance. Not `functools.cached_property`: on Python 3.11 that holds one
        lock per property for every instance, and under load all threads queued on it.
        """
        found: bytes | None = self.__dict__.get("_digest")
        if found is None:
            found = self.struct_hash()
            object.__setattr__(self, "_digest", found)  # a race computes the same bytes twice
        return found


def instalment_hash(instalment: Instalment) -> bytes:
    """Return the EIP-712 struct hash of one instalment (encoded by eth-abi)."""
    return keccak(
        abi_encode(
            ["bytes32", "uint64", "uint256", "uint256", "uint256"],
            [
                INSTALMENT_TYPEHASH,
                instalment.due_at,
                instalment.principal,
                instalment.interest,
                instalment.fees,
            ],
        )
    )


def schedule_hash(schedule: Schedule) -> bytes:
    """Return the EIP-712 encoding of the schedule array: keccak of its instalment hashes.

    Every instalment field is a static word, so each instalment's encoding is its words back
    to back; they are written directly (eth-abi takes ~15 us an instalment, most of a batch's
    hashing), range-checked as eth-abi would, and a property test holds this equal to
    `instalment_hash` of each."""
    return keccak(b"".join(keccak(_instalment_words(i)) for i in schedule.instalments))


def _instalment_words(instalment: Instalment) -> bytes:
    return b"".join(
        (
            INSTALMENT_TYPEHASH,
            _uint(instalment.due_at, 64),
            _uint(instalment.principal, 256),
            _uint(instalment.interest, 256),
            _uint(instalment.fees, 256),
        )
    )


def _uint(value: int, bits: int) -> bytes:
    """The ABI word of an unsigned integer of `bits` bits; refuse what does not fit."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise InvalidInput(f"{value!r} is not a uint{bits}")
    return value.to_bytes(32, "big")


def _purpose_bytes32(purpose: str) -> bytes:
    return purpose.encode("ascii").ljust(32, b"\0")


def _object(
    name: str, obj: object, required: tuple[str, ...], optional: tuple[str, ...]
) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise InvalidInput(f"{name} must be a JSON object")
    unknown = sorted(str(key) for key in obj if key not in required + optional)
    if unknown:
        raise InvalidInput(f"{name} has unknown keys: {', '.join(unknown)}")
    missing = [key for key in required if key not in obj]
    if missing:
        raise InvalidInput(f"{name} is missing keys: {', '.join(missing)}")
    return dict(obj)


def _custom_instalment(k: int, item: object) -> CustomInstalment:
    fields = _object(f"terms.schedule[{k}]", item, _CUSTOM_KEYS, ())
    due_date, principal, interest, fees = (fields[key] for key in _CUSTOM_KEYS)
    if not isinstance(due_date, str):
        raise InvalidInput(f"terms.schedule[{k}].due_date must be an ISO date (YYYY-MM-DD)")
    for key in _CUSTOM_KEYS[1:]:
        _check_int(f"schedule[{k}].{key}", fields[key], 0, MAX_PRINCIPAL)
    return (due_date, principal, interest, fees)


def _parse_date(name: str, value: object) -> date:
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput(f"terms.{name} must be an ISO date (YYYY-MM-DD)")


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"terms.{name} must be an integer")
    if not low <= value <= high:
        raise InvalidInput(f"terms.{name} must be between {low} and {high}")
