"""Who signs: a local key (raw or from an encrypted keystore) or a remote signer.

A `Signer` signs transactions and EIP-712 typed data for one address. The service never
needs the key itself: a `RemoteSigner` asks a signer process that speaks
`eth_signTransaction` and `eth_signTypedData_v4` (Clef, Web3Signer, or a development node's
unlocked accounts), so the key can live in an HSM or another machine. No signer ever puts
key material in a message, a log line or its `repr`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from loantrace.domain.agreement import private_key_of
from loantrace.domain.errors import ChainError, ConfigurationError

MAX_KEYSTORE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction: its raw bytes and hash."""

    raw: bytes
    tx_hash: bytes


class Signer(Protocol):
    """Signs for one address."""

    @property
    def address(self) -> str:
        """Return the checksummed address this signer signs for."""
        ...

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        """Return `tx` (web3 field names, `from` excluded) signed."""
        ...

    def sign_typed_data(self, document: dict[str, Any]) -> bytes:
        """Return the 65-byte signature of an EIP-712 document (types, domain, message)."""
        ...


class LocalSigner:
    """A key held in this process (from a hex key or a decrypted keystore)."""

    def __init__(self, account: LocalAccount) -> None:
        self.account = account
        self.private_key = private_key_of(bytes(account.key))  # parsed once, signs many

    @classmethod
    def from_key(cls, key: str | bytes) -> LocalSigner:
        """Return the signer of a raw secp256k1 key."""
        try:
            return cls(Account.from_key(key))
        except (ValueError, TypeError):
            raise ConfigurationError("a signing key must be 32 bytes of hex") from None

    @classmethod
    def from_keystore(cls, path: Path, password: str) -> LocalSigner:
        """Decrypt an eth-account (Web3 Secret Storage) keystore file."""
        try:
            if path.stat().st_size > MAX_KEYSTORE_BYTES:
                raise ConfigurationError(f"{path} is too large to be a keystore")
            document = json.loads(path.read_text())
            key = Account.decrypt(document, password)
        except ConfigurationError:
            raise
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigurationError(f"cannot read keystore {path}: {type(exc).__name__}") from None
        except (ValueError, TypeError, KeyError):
            # eth-account says "MAC mismatch" for a wrong password; never echo more.
            raise ConfigurationError(f"cannot decrypt keystore {path}: wrong password?") from None
        return cls(Account.from_key(key))

    @property
    def address(self) -> str:
        """Return the checksummed address."""
        return str(self.account.address)

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        """Sign `tx` with the local key."""
        signed = self.account.sign_transaction(tx)
        return SignedTx(bytes(signed.raw_transaction), bytes(signed.hash))

    def sign_typed_data(self, document: dict[str, Any]) -> bytes:
        """Sign an EIP-712 document with the local key."""
        signable = encode_typed_data(full_message=document)
        return bytes(Account.sign_message(signable, self.account.key).signature)

    def __repr__(self) -> str:
        return f"LocalSigner({self.address})"


class RemoteSigner:
    """An address whose key lives in a signer process reached over JSON-RPC."""

    def __init__(self, url: str, address: str, *, timeout: float = 10.0) -> None:
        if not is_address(address):
            raise ConfigurationError(f"remote signer address {address!r} is not an address")
        self._url = url
        self._address = to_checksum_address(address)
        self._http = httpx.Client(timeout=timeout)

    @property
    def address(self) -> str:
        """Return the checksummed address."""
        return self._address

    def sign_transaction(self, tx: dict[str, Any]) -> SignedTx:
        """Ask the remote signer to sign `tx`; return the raw transaction and its hash."""
        result = self._call("eth_signTransaction", [_rpc_tx(tx, self._address)])
        raw_hex = result.get("raw") if isinstance(result, dict) else result
        if not isinstance(raw_hex, str) or not raw_hex.startswith("0x"):
            raise ChainError("the remote signer answered eth_signTransaction without a raw tx")
        raw = bytes.fromhex(raw_hex[2:])
        return SignedTx(raw, keccak(raw))

    def sign_typed_data(self, document: dict[str, Any]) -> bytes:
        """Ask the remote signer to sign an EIP-712 document (eth_signTypedData_v4)."""
        result = self._call("eth_signTypedData_v4", [self._address, json.dumps(document)])
        if not isinstance(result, str) or len(result) != 132:
            raise ChainError("the remote signer answered eth_signTypedData_v4 without a signature")
        return bytes.fromhex(result[2:])

    def _call(self, method: str, params: list[Any]) -> Any:
        payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        try:
            response = self._http.post(self._url, json=payload)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ChainError(f"remote signer unreachable: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise ChainError(f"remote signer answered {method} with something else than JSON-RPC")
        if "error" in body:
            error = body["error"]
            message = error.get("message", "") if isinstance(error, dict) else str(error)
            raise ChainError(f"remote signer refused {method} for {self._address}: {message}")
        return body.get("result")

    def __repr__(self) -> str:
        return f"RemoteSigner({self._address})"


def _rpc_tx(tx: dict[str, Any], sender: str) -> dict[str, Any]:
    """Return `tx` in JSON-RPC form: hex quantities, hex data, `from` set."""
    out: dict[str, Any] = {"from": sender}
    for name, value in tx.items():
        if value is None or name == "from":
            continue
        if name == "to":
            if value:  # web3 gives b"" for a contract creation: no recipient at all
                out["to"] = value
        elif name in ("data", "input"):
            out["data"] = value if isinstance(value, str) else "0x" + bytes(value).hex()
        elif isinstance(value, int):
            out[name] = hex(value)
        else:
            out[name] = value
    return out


def keystore_signers(directory: Path, password: str) -> list[LocalSigner]:
    """Return one signer per `*.json` keystore in `directory`, by file name."""
    if not directory.is_dir():
        raise ConfigurationError(f"keystore directory {directory} does not exist")
    return [LocalSigner.from_keystore(path, password) for path in sorted(directory.glob("*.json"))]


def write_keystore(signer_key: str | bytes, password: str, path: Path) -> str:
    """Encrypt a key into a new keystore file (mode 0600); return its address."""
    account = Account.from_key(signer_key)
    document = Account.encrypt(account.key, password)
    path.touch(mode=0o600, exist_ok=False)
    path.write_text(json.dumps(document))
    return str(account.address)
