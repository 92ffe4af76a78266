"""A borrower's personal data, its canonical form, and the salted commitments made from it.

Only commitments go on chain: `borrower_commitment` = HMAC(salt, JCS {"name", "id_number"})
and `account_commitment` = HMAC(account_salt, JCS {"bank_account"}). The fields are
canonicalised (NFC, trimmed; ID numbers and bank accounts upper-cased, bank accounts without
spaces) before committing, so the same person always opens the same commitment.
"""

from __future__ import annotations

import hmac
import json
import re
import unicodedata
from dataclasses import dataclass

from loantrace.domain.digest import SALT_LENGTH, canonical_json, party_commitment
from loantrace.domain.errors import InvalidInput, SealBroken

MAX_NAME = 100
MAX_ID_NUMBER = 32
MAX_PHONE = 32
MAX_BANK_ACCOUNT = 34  # the longest IBAN; PRC bank cards have 16..19 digits
_RAW_LIMIT = 256  # refuse absurd input before normalising it

_NAME_MARKS = frozenset(" ·‧・.'’-")  # middle dots separate the parts of transcribed names
_ID_NUMBER = re.compile(r"[0-9A-Z][0-9A-Z-]{2,30}[0-9A-Z]")
_PHONE = re.compile(r"\+?[0-9][0-9 -]{3,30}[0-9]")
_BANK_ACCOUNT = re.compile(r"[0-9A-Z]{6,34}")
_SPACES = re.compile(" {2,}")
_PAYLOAD_FIELDS = frozenset({"name", "id_number", "phone", "bank_account", "salt", "account_salt"})
_AAD_CONTEXT = "loantrace/personal-data/v1"


@dataclass(frozen=True, repr=False)
class PersonalData:
    """A borrower's name, ID number, phone and bank account, validated and canonical."""

    name: str
    id_number: str
    phone: str
    bank_account: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", canonical_name(self.name))
        object.__setattr__(self, "id_number", canonical_id_number(self.id_number))
        object.__setattr__(self, "phone", canonical_phone(self.phone))
        object.__setattr__(self, "bank_account", canonical_bank_account(self.bank_account))

    def __repr__(self) -> str:
        return "PersonalData(<redacted>)"


@dataclass(frozen=True, repr=False)
class Opening:
    """Personal data and the salts that open its two commitments."""

    data: PersonalData
    salt: bytes
    account_salt: bytes

    def __post_init__(self) -> None:
        for name in ("salt", "account_salt"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != SALT_LENGTH:
                raise InvalidInput(f"{name} must be {SALT_LENGTH} bytes")

    def __repr__(self) -> str:
        return "Opening(<redacted>)"

    @property
    def borrower_commitment(self) -> bytes:
        """The commitment to the borrower's name and ID number."""
        return borrower_commitment(self.data, self.salt)

    @property
    def account_commitment(self) -> bytes:
        """The commitment to the borrower's bank account."""
        return account_commitment(self.data, self.account_salt)

    def to_json(self) -> bytes:
        """Return the canonical JSON that is sealed at rest."""
        return canonical_json(
            {
                "name": self.data.name,
                "id_number": self.data.id_number,
                "phone": self.data.phone,
                "bank_account": self.data.bank_account,
                "salt": self.salt.hex(),
                "account_salt": self.account_salt.hex(),
            }
        )

    @classmethod
    def from_json(cls, payload: bytes) -> Opening:
        """Parse what `to_json` made; raise SealBroken if it is not an opening."""
        try:
            fields = json.loads(payload)
            if not isinstance(fields, dict) or set(fields) != _PAYLOAD_FIELDS:
                raise ValueError("unexpected fields")
            data = PersonalData(
                fields["name"], fields["id_number"], fields["phone"], fields["bank_account"]
            )
            return cls(data, bytes.fromhex(fields["salt"]), bytes.fromhex(fields["account_salt"]))
        except (ValueError, TypeError, InvalidInput):
            raise SealBroken("the sealed personal data is not a valid opening") from None


def borrower_commitment(data: PersonalData, salt: bytes) -> bytes:
    """Return HMAC(salt, JCS {"name", "id_number"}): the borrower's commitment."""
    return party_commitment({"name": data.name, "id_number": data.id_number}, salt)


def account_commitment(data: PersonalData, account_salt: bytes) -> bytes:
    """Return HMAC(account_salt, JCS {"bank_account"}): the bank account's commitment."""
    return party_commitment({"bank_account": data.bank_account}, account_salt)


def opens_borrower(commitment: bytes, *, name: str, id_number: str, salt: bytes) -> bool:
    """Return whether `commitment` opens to this name and ID number with `salt`."""
    identity = {"name": canonical_name(name), "id_number": canonical_id_number(id_number)}
    return hmac.compare_digest(party_commitment(identity, salt), bytes(commitment))


def opens_account(commitment: bytes, *, bank_account: str, salt: bytes) -> bool:
    """Return whether `commitment` opens to this bank account with `salt`."""
    account = {"bank_account": canonical_bank_account(bank_account)}
    return hmac.compare_digest(party_commitment(account, salt), bytes(commitment))


def sealing_aad(*, borrower_commitment: bytes, account_commitment: bytes, lender: str) -> bytes:
    """Return the AAD binding sealed personal data to its commitments and lender."""
    return canonical_json(
        {
            "context": _AAD_CONTEXT,
            "borrower_commitment": bytes(borrower_commitment).hex(),
            "account_commitment": bytes(account_commitment).hex(),
            "lender": lender.lower(),
        }
    )


def canonical_name(value: object) -> str:
    """Return a name NFC-normalised, trimmed, single-spaced: letters, marks, spaces, `·.'-`."""
    name = _SPACES.sub(" ", _text(value, "name", MAX_NAME))
    if not any(unicodedata.category(c).startswith("L") for c in name) or any(
        c not in _NAME_MARKS and unicodedata.category(c)[0] not in "LM" for c in name
    ):
        raise InvalidInput("name may hold only letters, combining marks, spaces and ·.'-")
    return name


def canonical_id_number(value: object) -> str:
    """Return an ID number upper-cased: 4..32 of A-Z, 0-9 and inner hyphens."""
    id_number = _text(value, "id_number", MAX_ID_NUMBER).upper()
    if _ID_NUMBER.fullmatch(id_number) is None:
        raise InvalidInput("id_number must be 4..32 of A-Z, 0-9 and inner hyphens")
    return id_number


def canonical_phone(value: object) -> str:
    """Return a phone number: an optional +, then 5..20 digits with spaces or hyphens."""
    phone = _text(value, "phone", MAX_PHONE)
    digits = sum(c.isascii() and c.isdigit() for c in phone)
    if _PHONE.fullmatch(phone) is None or not 5 <= digits <= 20:
        raise InvalidInput("phone must be an optional + and 5..20 digits (spaces, - allowed)")
    return phone


def canonical_bank_account(value: object) -> str:
    """Return a bank account upper-cased without spaces: 6..34 of A-Z and 0-9."""
    account = _text(value, "bank_account", _RAW_LIMIT).replace(" ", "").upper()
    if _BANK_ACCOUNT.fullmatch(account) is None:
        raise InvalidInput("bank_account must be 6..34 of A-Z and 0-9 (spaces are dropped)")
    return account


def _text(value: object, field: str, limit: int) -> str:
    """Return `value` NFC-normalised and trimmed, refusing control and invisible characters."""
    if not isinstance(value, str):
        raise InvalidInput(f"{field} must be a string")
    if len(value) > _RAW_LIMIT:
        raise InvalidInput(f"{field} is longer than {limit} characters")
    text = unicodedata.normalize("NFC", value).strip(" ")
    if any(_invisible(c) for c in text):
        raise InvalidInput(f"{field} holds a control or invisible character")
    if not 1 <= len(text) <= limit:
        raise InvalidInput(f"{field} must be 1..{limit} characters")
    return text


def _invisible(char: str) -> bool:
    """Return whether `char` is a control, format, private, unassigned or line-break one."""
    category = unicodedata.category(char)
    return category[0] == "C" or category in ("Zl", "Zp")
