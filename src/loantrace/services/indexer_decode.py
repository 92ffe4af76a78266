"""Decode our contracts' logs from their JSON-RPC form into chain_events records, fast.

Each event topic gets a decoder compiled once from the ABI. The common types (bytes32 and
other fixed bytes, address, unsigned integers, bool, and `bytes` in the data) are read
straight from the hex text of the log; the values equal what web3.py's `process_log` yields
after `plain` (bytes as 0x-hex, addresses checksummed). A log whose encoding is not the
canonical one Solidity emits, or an event with other types (tuples, arrays, strings, signed
integers), goes through `process_log` itself, so the result is always web3.py's.
"""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils.abi import event_abi_to_log_topic
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes
from web3.contract import Contract
from web3.contract.contract import ContractEvent

from loantrace.store.events import EventRecord

_ZEROS = "0" * 64
_ONE = "0" * 63 + "1"
_ADDRESS_CACHE_LIMIT = 100_000


class Irregular(ValueError):
    """The log is not in the canonical encoding the fast decoder reads."""


Word = Callable[[str], Any]  # 64 lowercase hex digits -> the value
Encode = Callable[[Any], str]  # a value -> its JSON text


@dataclass(frozen=True)
class _Event:
    """How to decode one event: its name, field readers, and web3.py's decoder as a fallback."""

    name: str
    slow: ContractEvent
    topics: tuple[tuple[str, Word], ...] | None  # None: always decode with web3.py
    head: tuple[tuple[str, Word | None], ...]  # None: a dynamic `bytes` field
    json: tuple[tuple[str, str, Encode], ...]  # by name: (`"name": `, name, encoder)


class LogDecoder:
    """Turn raw logs (JSON-RPC form: hex strings) of some contracts into chain_events records."""

    def __init__(self, contracts: Sequence[Contract], chain_id: int) -> None:
        self._chain_id = chain_id
        self._checksums: dict[str, str] = {}
        self._events: dict[str, _Event] = {}
        for contract in contracts:
            for item in contract.abi:
                if item.get("type") != "event":
                    continue
                abi: dict[str, Any] = dict(item)
                topic = "0x" + bytes(event_abi_to_log_topic(abi)).hex()  # type: ignore[arg-type]
                slow = getattr(contract.events, str(abi["name"]))()
                self._events[topic] = _compile(abi, slow, self._address)

    def decode(self, log: Mapping[str, Any]) -> EventRecord | None:
        """Return the record of a log, or None when no ABI names its first topic."""
        topics: list[str] = log["topics"]
        event = self._events.get(topics[0].lower()) if topics else None
        if event is None:
            return None
        try:
            args = self._fast_args(event, topics, log["data"])
            text = "{" + ", ".join([k + encode(args[name]) for k, name, encode in event.json]) + "}"
        except Irregular:
            decoded = event.slow.process_log(log)
            args = {k: plain(v) for k, v in decoded["args"].items()}
            text = json.dumps(args, sort_keys=True)
        loan_id = args.get("loanId")
        return (
            self._chain_id,
            _hash(log["transactionHash"]),
            _int(log["logIndex"]),
            _int(log["blockNumber"]),
            _hash(log["blockHash"]),
            self._address(_hash(log["address"])[2:]),
            event.name,
            loan_id if isinstance(loan_id, str) else None,
            text,
        )

    def _fast_args(self, event: _Event, topics: list[str], data: str) -> dict[str, Any]:
        if event.topics is None or len(topics) != len(event.topics) + 1:
            raise Irregular(event.name)
        args: dict[str, Any] = {}
        for (name, read), topic in zip(event.topics, topics[1:], strict=True):
            digits = _digits(topic)
            if len(digits) != 64:
                raise Irregular(name)
            args[name] = read(digits)
        digits = _digits(data)
        end = 64 * len(event.head)  # in hex digits: where the next dynamic value must start
        if len(digits) < end:
            raise Irregular(event.name)
        for i, (name, field) in enumerate(event.head):
            word = digits[64 * i : 64 * i + 64]
            if field is not None:
                args[name] = field(word)
                continue
            if int(word, 16) * 2 != end or len(digits) < end + 64:  # not canonical
                raise Irregular(name)
            size = int(digits[end : end + 64], 16)
            start, padded = end + 64, 64 * -(-size // 32)
            value, padding = (
                digits[start : start + 2 * size],
                digits[start + 2 * size : start + padded],
            )
            if len(value) != 2 * size or padding != _ZEROS[: padded - 2 * size]:
                raise Irregular(name)
            args[name] = "0x" + value
            end = start + padded
        if len(digits) != end:
            raise Irregular(event.name)
        return args

    def _address(self, digits: str) -> str:
        found = self._checksums.get(digits)
        if found is None:
            if len(self._checksums) >= _ADDRESS_CACHE_LIMIT:
                self._checksums.clear()
            found = self._checksums[digits] = to_checksum_address("0x" + digits)
        return found


def _compile(abi: dict[str, Any], slow: ContractEvent, address: Callable[[str], str]) -> _Event:
    inputs: list[dict[str, Any]] = list(abi.get("inputs", []))
    topics: list[tuple[str, Word]] = []
    head: list[tuple[str, Word | None]] = []
    encoders: dict[str, Encode] = {}
    names = [str(item.get("name") or "") for item in inputs]
    fast = not abi.get("anonymous") and "" not in names and len(set(names)) == len(names)
    for name, item in zip(names, inputs, strict=True):
        kind = str(item["type"])
        hashed = item.get("indexed") and _logged_as_hash(kind)
        encoders[name] = _json_text if hashed else _json_encoder(kind)
        if item.get("indexed"):
            read = _bytes_reader(32) if hashed else _word_reader(kind, address)
            fast = fast and read is not None
            topics.append((name, read or _bytes_reader(32)))
        elif kind == "bytes":
            head.append((name, None))
        else:
            word = _word_reader(kind, address)
            fast = fast and word is not None
            head.append((name, word))
    order = tuple((json.dumps(n) + ": ", n, encoders[n]) for n in sorted(names))
    return _Event(str(abi["name"]), slow, tuple(topics) if fast else None, tuple(head), order)


def _json_encoder(kind: str) -> Encode:
    """Return how a value the fast decoder read is written in JSON, as `json.dumps` does."""
    if kind == "bool":
        return lambda value: "true" if value else "false"
    if kind.startswith("uint"):
        return str
    return _json_text  # 0x-hex or a checksummed address: nothing to escape


def _json_text(value: str) -> str:
    return '"' + value + '"'


def _digits(text: str) -> str:
    """Return the lowercase digits of 0x-hex text; Irregular unless it is exactly that."""
    digits = text[2:].lower()
    try:
        binascii.unhexlify(digits)
    except (binascii.Error, ValueError) as exc:
        raise Irregular("not hex") from exc
    if text[:2] != "0x":
        raise Irregular("not 0x-prefixed")
    return digits


def _hash(text: Any) -> str:
    """Return a hash or address of a log as lowercase 0x-hex."""
    if not isinstance(text, str):
        return "0x" + bytes(text).hex()
    value = text.lower()
    try:
        binascii.unhexlify(value[2:])
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"the node sent a malformed log field: {text!r}") from exc
    return value


def _logged_as_hash(kind: str) -> bool:
    """Whether an indexed value of this type is logged as its keccak hash (dynamic types)."""
    return kind in ("bytes", "string") or kind.endswith("]") or kind.startswith("tuple")


def _word_reader(kind: str, address: Callable[[str], str]) -> Word | None:
    """Return a reader of one 32-byte word of a static ABI type, or None if not supported."""
    if kind == "address":
        return lambda word: address(_left_padded(word, 24))
    if kind == "bool":
        return _bool
    if kind.startswith("uint") and kind[4:].isdigit():
        bits = int(kind[4:])
        if bits % 8 or not 8 <= bits <= 256:
            return None
        zeros = (256 - bits) // 4
        return lambda word: int(_left_padded(word, zeros), 16)
    if kind.startswith("bytes") and kind[5:].isdigit():
        size = int(kind[5:])
        return _bytes_reader(size) if 1 <= size <= 32 else None
    return None


def _bytes_reader(size: int) -> Word:
    digits = 2 * size
    padding = "0" * (64 - digits)

    def read(word: str) -> str:
        if word[digits:] != padding:
            raise Irregular(f"bytes{size}")
        return "0x" + word[:digits]

    return read


def _left_padded(word: str, zeros: int) -> str:
    if word[:zeros] != _ZEROS[:zeros]:
        raise Irregular("non-zero padding")
    return word[zeros:]


def _bool(word: str) -> bool:
    if word == _ZEROS:
        return False
    if word == _ONE:
        return True
    raise Irregular("bool")


def _int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


def plain(value: Any) -> Any:
    """Return a decoded ABI value as JSON-ready data (bytes as 0x-hex, tuples as lists)."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


def raw_log(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Return a log as web3.py formats it (HexBytes, ints) in its JSON-RPC form."""
    return {
        "address": str(entry["address"]).lower(),
        "topics": ["0x" + bytes(t).hex() for t in entry["topics"]],
        "data": "0x" + bytes(HexBytes(entry["data"])).hex(),
        "blockNumber": int(entry["blockNumber"]),
        "blockHash": "0x" + bytes(entry["blockHash"]).hex(),
        "transactionHash": "0x" + bytes(entry["transactionHash"]).hex(),
        "transactionIndex": int(entry["transactionIndex"]),
        "logIndex": int(entry["logIndex"]),
    }
