"""EIP-712 typed data of an agreement, exactly as the AgreementRegistry contract hashes it.

Wallets sign `Agreement` with its terms as a nested `LoanTerms` struct (the full repayment
schedule included), so the borrower sees and signs the exact plan. EIP-712 encodes a nested
struct as its struct hash, which is what `Agreement.terms_digest` holds: the contract (and
this module) can therefore hash the agreement from the digest alone, and the result equals
the hash of the nested message a wallet signs. That hash is also the agreement id, the key
of its record on chain.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_account import Account
from eth_account.messages import SignableMessage
from eth_account.messages import encode_typed_data as _encode_typed_data
from eth_keys.datatypes import PrivateKey
from eth_keys.datatypes import Signature as EcdsaSignature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from loantrace.domain.abiwords import abi_encode
from loantrace.domain.errors import InvalidInput, SignatureError, SignatureMismatch
from loantrace.domain.hexcodec import SIGNATURE_LENGTH, ZERO32, parse_address, to_hex
from loantrace.domain.terms import EIP712_TYPES, INSTALMENT_TYPE, LOAN_TERMS_TYPE, LoanTerms

# secp256k1 group order: the contract (OpenZeppelin ECDSA) accepts only s <= n/2, v in {27, 28}.
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_AGREEMENT_FIELDS = [
    {"name": "digest", "type": "bytes32"},
    {"name": "lender", "type": "address"},
    {"name": "borrower", "type": "address"},
    {"name": "borrowerCommitment", "type": "bytes32"},
    {"name": "terms", "type": "LoanTerms"},
    {"name": "supersedes", "type": "bytes32"},
]
AGREEMENT_TYPE = (
    "Agreement(bytes32 digest,address lender,address borrower,bytes32 borrowerCommitment,"
    "LoanTerms terms,bytes32 supersedes)"
)
AGREEMENT_TYPEHASH = keccak(text=AGREEMENT_TYPE + INSTALMENT_TYPE + LOAN_TERMS_TYPE)
REVOCATION_TYPEHASH = keccak(text="Revocation(bytes32 agreementId,uint8 reason)")


@dataclass(frozen=True)
class Domain:
    """The EIP-712 domain of one deployed registry."""

    NAME: ClassVar[str] = "LoantraceAgreementRegistry"
    VERSION: ClassVar[str] = "2"

    chain_id: int
    verifying_contract: str

    def __post_init__(self) -> None:
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise InvalidInput("domain.chain_id must be an integer")
        if not 0 < self.chain_id < 2**256:
            raise InvalidInput("domain.chain_id must be a positive uint256")
        address = parse_address(self.verifying_contract, field="domain.verifying_contract")
        object.__setattr__(self, "verifying_contract", address)

    def separator(self) -> bytes:
        """Return the EIP-712 domain separator."""
        return _separator(self.chain_id, self.verifying_contract)


@functools.lru_cache(maxsize=64)  # a service has one or two domains; each costs ~35 us
def _separator(chain_id: int, verifying_contract: str) -> bytes:
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "bytes32", "uint256", "address"],
            [
                keccak(
                    text="EIP712Domain(string name,string version,uint256 chainId,"
                    "address verifyingContract)"
                ),
                keccak(text=Domain.NAME),
                keccak(text=Domain.VERSION),
                chain_id,
                verifying_contract,
            ],
        )
    )


@dataclass(frozen=True)
class Agreement:
    """What both parties sign: the document digest, the parties, and the terms digest."""

    digest: bytes
    lender: str
    borrower: str
    borrower_commitment: bytes
    terms_digest: bytes
    supersedes: bytes = ZERO32

    def __post_init__(self) -> None:
        for name in ("digest", "borrower_commitment", "terms_digest", "supersedes"):
            value = getattr(self, name)
            if not isinstance(value, bytes | bytearray) or len(value) != 32:
                raise InvalidInput(f"agreement.{name} must be 32 bytes")
            object.__setattr__(self, name, bytes(value))
        for name in ("lender", "borrower"):
            address = parse_address(getattr(self, name), field=f"agreement.{name}")
            object.__setattr__(self, name, address)


@dataclass(frozen=True)
class SignedAgreement:
    """An agreement with the lender's and the borrower's signatures over it."""

    agreement: Agreement
    lender_signature: bytes
    borrower_signature: bytes

    def __post_init__(self) -> None:
        for name in ("lender_signature", "borrower_signature"):
            value = getattr(self, name)
            if not isinstance(value, bytes | bytearray):
                raise SignatureError(f"{name} must be bytes")
            object.__setattr__(self, name, bytes(value))

    def check_signatures(self, domain: Domain) -> None:
        """Raise SignatureMismatch unless each party signed this agreement in `domain`.

        A signature that recovers to nobody is a mismatch too: it may still be a valid
        ERC-1271 smart-wallet signature, which only the chain can judge.
        """
        parties = (
            ("lender", self.agreement.lender, self.lender_signature),
            ("borrower", self.agreement.borrower, self.borrower_signature),
        )
        for party, expected, signature in parties:
            try:
                recovered = recover_signer(self.agreement, domain, signature)
            except SignatureError as exc:
                raise SignatureMismatch(
                    f"{party} signature recovers to no address ({exc}), expected {party} {expected}"
                ) from None
            if recovered != expected:
                raise SignatureMismatch(
                    f"{party} signature recovers to {recovered}, expected {party} {expected}"
                )


def typed_data(agreement: Agreement, domain: Domain, terms: LoanTerms) -> dict[str, Any]:
    """Return the JSON-ready EIP-712 document a wallet signs (eth_signTypedData_v4).

    `terms` must be the terms whose struct hash is `agreement.terms_digest`.
    """
    if terms.digest() != agreement.terms_digest:
        raise InvalidInput("the terms do not hash to the agreement's termsDigest")
    return {
        "types": {
            "EIP712Domain": [dict(field) for field in _DOMAIN_FIELDS],
            "Agreement": [dict(field) for field in _AGREEMENT_FIELDS],
            **{name: [dict(f) for f in fields] for name, fields in EIP712_TYPES.items()},
        },
        "primaryType": "Agreement",
        "domain": {
            "name": Domain.NAME,
            "version": Domain.VERSION,
            "chainId": domain.chain_id,
            "verifyingContract": domain.verifying_contract,
        },
        "message": {
            "digest": to_hex(agreement.digest),
            "lender": agreement.lender,
            "borrower": agreement.borrower,
            "borrowerCommitment": to_hex(agreement.borrower_commitment),
            "terms": terms.eip712_message(),
            "supersedes": to_hex(agreement.supersedes),
        },
    }


def encode_typed_data(document: dict[str, Any]) -> SignableMessage:
    """Encode an EIP-712 JSON document as a wallet does (for tests and clients)."""
    return _encode_typed_data(full_message=document)


def struct_hash(agreement: Agreement) -> bytes:
    """Return the EIP-712 struct hash of `agreement` (its terms as their struct hash)."""
    return keccak(
        abi_encode(
            ["bytes32", "bytes32", "address", "address", "bytes32", "bytes32", "bytes32"],
            [
                AGREEMENT_TYPEHASH,
                agreement.digest,
                agreement.lender,
                agreement.borrower,
                agreement.borrower_commitment,
                agreement.terms_digest,
                agreement.supersedes,
            ],
        )
    )


def signing_hash(agreement: Agreement, domain: Domain) -> bytes:
    """Return the 32-byte EIP-712 digest both parties sign: also the agreement id on chain."""
    message = _signable(agreement, domain)
    return keccak(b"\x19" + bytes(message.version) + message.header + message.body)


agreement_id = signing_hash


def revocation_hash(agreement_id_: bytes, reason: int, domain: Domain) -> bytes:
    """Return the EIP-712 digest a borrower signs to consent to revoking an agreement."""
    body = keccak(
        abi_encode(["bytes32", "bytes32", "uint8"], [REVOCATION_TYPEHASH, agreement_id_, reason])
    )
    return keccak(b"\x19\x01" + domain.separator() + body)


def revocation_typed_data(agreement_id_: bytes, reason: int, domain: Domain) -> dict[str, Any]:
    """Return the EIP-712 JSON a borrower's wallet signs to consent to a revocation."""
    return {
        "types": {
            "EIP712Domain": [dict(field) for field in _DOMAIN_FIELDS],
            "Revocation": [
                {"name": "agreementId", "type": "bytes32"},
                {"name": "reason", "type": "uint8"},
            ],
        },
        "primaryType": "Revocation",
        "domain": {
            "name": Domain.NAME,
            "version": Domain.VERSION,
            "chainId": domain.chain_id,
            "verifyingContract": domain.verifying_contract,
        },
        "message": {"agreementId": to_hex(agreement_id_), "reason": reason},
    }


def sign_revocation(
    agreement_id_: bytes, reason: int, domain: Domain, private_key: bytes | str
) -> bytes:
    """Return the borrower's 65-byte signature consenting to revoke `agreement_id_`."""
    message = SignableMessage(
        b"\x01",
        domain.separator(),
        keccak(
            abi_encode(
                ["bytes32", "bytes32", "uint8"], [REVOCATION_TYPEHASH, agreement_id_, reason]
            )
        ),
    )
    try:
        return bytes(Account.sign_message(message, private_key).signature)
    except (ValueError, TypeError, ValidationError):
        raise InvalidInput("private_key must be a secp256k1 key of 32 bytes") from None


def sign_agreement(
    agreement: Agreement, domain: Domain, private_key: bytes | str | PrivateKey
) -> bytes:
    """Return the 65-byte (r, s, v) EIP-712 signature of `agreement` by `private_key`.

    A service signing many agreements passes a parsed `PrivateKey` (see `private_key_of`):
    parsing a key derives its public key, which cost as much as the signature itself."""
    key = private_key if isinstance(private_key, PrivateKey) else private_key_of(private_key)
    v, r, s = key.sign_msg_hash(signing_hash(agreement, domain)).vrs
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])


def private_key_of(raw: bytes | str) -> PrivateKey:
    """Parse a secp256k1 key of 32 bytes (or 64 hex digits, 0x-prefixed or not)."""
    try:
        key = bytes.fromhex(raw.removeprefix("0x")) if isinstance(raw, str) else bytes(raw)
        return PrivateKey(key)
    except (ValueError, TypeError, ValidationError):
        # Never echo the library's message: it may quote key material.
        raise InvalidInput("private_key must be a secp256k1 key of 32 bytes") from None


def recover_signer(agreement: Agreement, domain: Domain, signature: bytes) -> str:
    """Return the checksummed address that made `signature`; reject what the contract rejects."""
    return recover_from_hash(signing_hash(agreement, domain), signature)


def recover_from_hash(message_hash: bytes, signature: bytes) -> str:
    """Return the checksummed address that signed the 32-byte EIP-712 `message_hash` (ECDSA
    recovery by eth-keys on libsecp256k1); reject what the contract rejects. Verifying both
    parties of one agreement hashes it once and recovers twice."""
    require_canonical(signature)
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    try:
        public = EcdsaSignature(vrs=(signature[64] - 27, r, s)).recover_public_key_from_msg_hash(
            message_hash
        )
    except (BadSignature, ValidationError) as exc:
        raise SignatureError(f"signature cannot be recovered: {exc}") from None
    return str(public.to_checksum_address())


def _signable(agreement: Agreement, domain: Domain) -> SignableMessage:
    return SignableMessage(b"\x01", domain.separator(), struct_hash(agreement))


def require_canonical(signature: bytes) -> None:
    """Accept only what OpenZeppelin ECDSA accepts, so Python and the chain agree."""
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_LENGTH:
        raise SignatureError(f"signature must be {SIGNATURE_LENGTH} bytes (r, s, v)")
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:64], "big")
    v = signature[64]
    if v not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {v}")
    if not 0 < r < _SECP256K1_N:
        raise SignatureError("signature r is out of range")
    if not 0 < s <= _SECP256K1_N // 2:
        raise SignatureError("signature s is not in the lower half of the curve order")
