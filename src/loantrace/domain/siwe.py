"""Sign-In with Ethereum (EIP-4361): a strict parser, its exact inverse, and a verifier.

`parse` accepts exactly the ABNF of EIP-4361, and a little less where the reference
implementation (npm siwe 3) would not round-trip a message: for every message `parse`
accepts, `render(parse(text)) == text`, and npm siwe renders the same fields to the same
text, so both sides check a signature over the same bytes.
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, SupportsIndex

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_checksum_address
from eth_utils.exceptions import ValidationError

# One rule for "canonical signature", shared with the EIP-712 agreement signatures.
from loantrace.domain.agreement import require_canonical
from loantrace.domain.errors import InvalidInput, SignatureError, Unauthenticated
from loantrace.domain.hexcodec import SIGNATURE_LENGTH

MAX_MESSAGE_LENGTH = 8 * 1024
CLOCK_SKEW = timedelta(minutes=5)
# npm siwe holds the chain id as a JavaScript number: above 2**53 - 1 it loses precision
# and re-renders as e.g. "1.2345678901234569e+23", so its signature could never verify there.
MAX_CHAIN_ID = 2**53 - 1

_HEADER_SUFFIX = " wants you to sign in with your Ethereum account:"
# RFC 3986 pieces, each an ASCII character class body or a pattern.
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = r"!$&'()*+,;="
_PCT = r"%[0-9A-Fa-f]{2}"
_PCHAR = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_SCHEME = r"[A-Za-z][A-Za-z0-9+\-.]*"
_IP_LITERAL = rf"\[(?:[0-9A-Fa-f:.]+|[vV][0-9A-Fa-f]+\.[{_UNRESERVED}{_SUB_DELIMS}:]+)\]"
_REG_NAME = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*"
_USERINFO = rf"(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*"
_AUTHORITY = rf"(?:{_USERINFO}@)?(?:{_IP_LITERAL}|{_REG_NAME})(?::[0-9]*)?"
_PATH_ABEMPTY = rf"(?:/{_PCHAR}*)*"
_QUERY_OR_FRAGMENT = rf"(?:{_PCHAR}|[/?])*"

_ORIGIN = re.compile(rf"(?:(?P<scheme>{_SCHEME})://)?(?P<domain>{_AUTHORITY})")
_URI = re.compile(
    rf"{_SCHEME}:(?://(?P<authority>{_AUTHORITY}){_PATH_ABEMPTY}"
    rf"|/(?:{_PCHAR}+{_PATH_ABEMPTY})?|{_PCHAR}+{_PATH_ABEMPTY})?"
    rf"(?:\?{_QUERY_OR_FRAGMENT})?(?:#{_QUERY_OR_FRAGMENT})?"
)
_TEXT_RULES = tuple(
    (name, re.compile(pattern), what)
    for name, pattern, what in (
        ("scheme", _SCHEME, "an RFC 3986 scheme"),
        ("domain", _AUTHORITY, "an RFC 3986 authority"),
        ("address", r"0x[0-9A-Fa-f]{40}", "0x and 40 hex digits"),
        ("statement", rf"[{_UNRESERVED}:/?#\[\]@{_SUB_DELIMS} ]*", "RFC 3986 characters or spaces"),
        ("version", "1", "'1'"),
        ("nonce", "[A-Za-z0-9]{8,}", "at least 8 letters or digits"),
        ("request_id", rf"{_PCHAR}+", "one or more RFC 3986 pchars"),
    )
)
_CHAIN_ID = re.compile(r"[1-9][0-9]{0,15}")
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))"
)
_NOT_ALLOWED = re.compile(r"[^\n\x20-\x7e]")
_REQUIRED_PREFIXES = ("URI: ", "Version: ", "Chain ID: ", "Nonce: ", "Issued At: ")
_TIME_PREFIXES = ("Issued At: ", "Expiration Time: ", "Not Before: ")
_FIELD_PREFIXES = (*_REQUIRED_PREFIXES, *_TIME_PREFIXES[1:], "Request ID: ")


class _SpelledTime(datetime):
    """A datetime that remembers how a message wrote it, so `render` writes it back alike."""

    spelling: str

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        return _parse_time, (self.spelling, "a copied timestamp")  # copies keep the spelling


@dataclass(frozen=True, kw_only=True)
class SiweMessage:
    """The fields of one EIP-4361 message; built directly, every field is checked as `parse` does.

    `statement=""` and `resources=()` are legal and distinct from None: they render as an
    empty statement line and a bare "Resources:" line. Timestamps must be timezone-aware;
    equality compares instants, while `render` keeps a parsed timestamp's exact spelling.
    """

    domain: str
    address: str
    statement: str | None = None
    uri: str
    version: str = "1"
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None = None
    not_before: datetime | None = None
    request_id: str | None = None
    resources: tuple[str, ...] | None = None
    scheme: str | None = None

    def __post_init__(self) -> None:
        for name, pattern, what in _TEXT_RULES:
            value = getattr(self, name)
            if value is None and name in ("scheme", "statement", "request_id"):
                continue
            if not isinstance(value, str) or pattern.fullmatch(value) is None:
                raise InvalidInput(f"{name} must be {what}, got {_clip(value)}")
        if not self.domain or not _ip_literal_ok(self.domain):
            raise InvalidInput(
                f"domain must be a non-empty RFC 3986 authority, got {_clip(self.domain)}"
            )
        if self.address != (checksummed := to_checksum_address(self.address)):
            raise InvalidInput(f"address is not EIP-55 checksummed (expected {checksummed})")
        _require_uri(self.uri, "uri")
        if isinstance(self.chain_id, bool) or not isinstance(self.chain_id, int):
            raise InvalidInput("chain_id must be an integer")
        if not 0 < self.chain_id <= MAX_CHAIN_ID:
            raise InvalidInput(f"chain_id must be between 1 and {MAX_CHAIN_ID}")
        for name in ("issued_at", "expiration_time", "not_before"):
            _check_time(name, getattr(self, name), optional=name != "issued_at")
        if self.resources is not None:
            if not isinstance(self.resources, tuple | list):
                raise InvalidInput("resources must be a tuple of URIs")
            object.__setattr__(self, "resources", tuple(self.resources))
            for index, resource in enumerate(self.resources):
                _require_uri(resource, f"resources[{index}]")


def parse(text: str) -> SiweMessage:
    """Parse an EIP-4361 message; raise InvalidInput on any deviation from the grammar."""
    if not isinstance(text, str):
        raise InvalidInput("a SIWE message must be a string")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise InvalidInput(f"SIWE message is longer than {MAX_MESSAGE_LENGTH} characters")
    if (bad := _NOT_ALLOWED.search(text)) is not None:
        raise InvalidInput(
            f"line {text.count(chr(10), 0, bad.start()) + 1}: character {bad.group()!r} is not "
            "allowed (only printable ASCII, lines ended by LF alone)"
        )
    real = text.split("\n")
    lines: list[str | None] = [*real, None, None, None, None, None]  # no IndexError below
    origin = real[0].removesuffix(_HEADER_SUFFIX)
    if origin == real[0] or (match := _ORIGIN.fullmatch(origin)) is None:
        raise InvalidInput(f"line 1: expected '[scheme://]domain{_HEADER_SUFFIX}'")
    if lines[2] != "":
        raise InvalidInput(f"line 3: expected a blank line, got {_clip(lines[2])}")
    statement, at = (lines[3], 5) if lines[3] else (("", 5) if lines[4] == "" else (None, 4))
    if statement and lines[4] != "":
        raise InvalidInput(
            f"line 5: expected a blank line after the statement, got {_clip(lines[4])}"
        )
    found: dict[str, str] = {}
    for prefix in _FIELD_PREFIXES:
        line = lines[at]
        if line is not None and line.startswith(prefix):
            found[prefix], at = line[len(prefix) :], at + 1
        elif prefix in _REQUIRED_PREFIXES:
            raise InvalidInput(f"line {at + 1}: expected {prefix!r}, got {_clip(line)}")
    resources: tuple[str, ...] | None = None
    if lines[at] == "Resources:":
        resources, at = _resource_lines(real, at + 1), len(real)
    if at < len(real):
        raise InvalidInput(
            f"line {at + 1}: unexpected {_clip(lines[at])}; after Issued At only Expiration "
            "Time, Not Before, Request ID and Resources may follow, in that order"
        )
    chain_id = found["Chain ID: "]
    if _CHAIN_ID.fullmatch(chain_id) is None:
        raise InvalidInput(
            f"Chain ID must be a positive decimal, no 0s first, got {_clip(chain_id)}"
        )
    times = {p: _parse_time(found[p], p[:-2]) for p in _TIME_PREFIXES if p in found}
    return SiweMessage(
        scheme=match["scheme"],
        domain=match["domain"],
        address=lines[1] or "",
        statement=statement,
        uri=found["URI: "],
        version=found["Version: "],
        chain_id=int(chain_id),
        nonce=found["Nonce: "],
        issued_at=times["Issued At: "],
        expiration_time=times.get("Expiration Time: "),
        not_before=times.get("Not Before: "),
        request_id=found.get("Request ID: "),
        resources=resources,
    )


def render(message: SiweMessage) -> str:
    """Return the EIP-4361 text of `message`, byte for byte as npm siwe's prepareMessage()."""
    origin = f"{message.scheme}://{message.domain}" if message.scheme else message.domain
    lines = [origin + _HEADER_SUFFIX, message.address, ""]
    lines += [""] if message.statement is None else [message.statement, ""]
    lines += [
        f"URI: {message.uri}",
        f"Version: {message.version}",
        f"Chain ID: {message.chain_id}",
        f"Nonce: {message.nonce}",
        f"Issued At: {_format_time(message.issued_at)}",
    ]
    if message.expiration_time is not None:
        lines.append(f"Expiration Time: {_format_time(message.expiration_time)}")
    if message.not_before is not None:
        lines.append(f"Not Before: {_format_time(message.not_before)}")
    if message.request_id is not None:
        lines.append(f"Request ID: {message.request_id}")
    if message.resources is not None:
        lines += ["Resources:", *(f"- {resource}" for resource in message.resources)]
    return "\n".join(lines)


def verify(
    text: str,
    signature: bytes,
    *,
    domain: str,
    nonce: str,
    now: datetime,
    chain_id: int | None = None,
    uri_prefix: str | None = None,
    scheme: str | None = None,
) -> SiweMessage:
    """Return the message if `signature` signs `text` and the message is for us, now.

    Raise InvalidInput for a malformed message or signature, Unauthenticated for a
    well-formed one that is for another domain, nonce, chain, scheme or URI, outside its
    validity window, or signed by anyone but its address. `uri_prefix` matches whole path
    segments ("https://a.example/app" does not match "https://a.example/apple").
    """
    message = parse(text)
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise InvalidInput("now must be a timezone-aware datetime")
    if not isinstance(signature, bytes | bytearray) or len(signature) != SIGNATURE_LENGTH:
        raise InvalidInput(f"signature must be {SIGNATURE_LENGTH} bytes (r, s, v)")
    if message.domain != domain:
        raise Unauthenticated(f"message is for domain {message.domain!r}, expected {domain!r}")
    if scheme is not None and (message.scheme or "https") != scheme:
        raise Unauthenticated(f"message is for scheme {message.scheme!r}, expected {scheme!r}")
    if not hmac.compare_digest(message.nonce.encode(), nonce.encode()):
        raise Unauthenticated("message nonce is not the one issued for this sign-in")
    if chain_id is not None and message.chain_id != chain_id:
        raise Unauthenticated(f"message is for chain {message.chain_id}, expected {chain_id}")
    if uri_prefix is not None and not _under(message.uri, uri_prefix):
        raise Unauthenticated(f"message URI {message.uri!r} is not under {uri_prefix!r}")
    if message.expiration_time is not None and now >= message.expiration_time:
        raise Unauthenticated(f"message expired at {_format_time(message.expiration_time)}")
    if message.not_before is not None and now < message.not_before:
        raise Unauthenticated(f"message is not valid before {_format_time(message.not_before)}")
    if message.issued_at > now + CLOCK_SKEW:
        raise Unauthenticated(f"message is issued in the future: {_format_time(message.issued_at)}")
    signer = _recover(text, bytes(signature))
    if signer != message.address:
        raise Unauthenticated(f"signature is by {signer}, not by {message.address}")
    return message


def _resource_lines(lines: list[str], at: int) -> tuple[str, ...]:
    for number, line in enumerate(lines[at:], start=at + 1):
        if not line.startswith("- "):
            raise InvalidInput(
                f"line {number}: expected '- <uri>' after Resources:, got {_clip(line)}"
            )
    return tuple(line[2:] for line in lines[at:])


def _require_uri(value: object, name: str) -> None:
    match = _URI.fullmatch(value) if isinstance(value, str) else None
    authority = match["authority"] if match else None
    if match is None or (authority is not None and not _ip_literal_ok(authority)):
        raise InvalidInput(f"{name} must be an absolute RFC 3986 URI, got {_clip(value)}")


def _ip_literal_ok(authority: str) -> bool:
    """Check the one thing the regular expression leaves open: an IPv6 literal's address."""
    start = authority.find("[")
    if start < 0 or authority[start + 1 : start + 2] in ("v", "V"):
        return True
    try:
        ipaddress.IPv6Address(authority[start + 1 : authority.index("]")])
    except ValueError:
        return False
    return True


def _parse_time(value: str, name: str) -> datetime:
    """Parse an RFC 3339 date-time, keeping its spelling; refuse leap seconds and year 0."""
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        raise InvalidInput(f"{name} must be an RFC 3339 date-time, got {_clip(value)}")
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction, sign, offset_hours, offset_minutes = match.groups()[6:]
    if second == 60:
        raise InvalidInput(f"{name} is a leap second, which is not supported: {_clip(value)}")
    try:
        offset = timedelta(hours=int(offset_hours or 0), minutes=int(offset_minutes or 0))
        tz = timezone(-offset if sign == "-" else offset)
        micro = int((fraction or "0")[:6].ljust(6, "0"))
        parsed = _SpelledTime(year, month, day, hour, minute, second, micro, tzinfo=tz)
        parsed.astimezone(UTC)  # an instant Python can compare with others
    except (ValueError, OverflowError):
        raise InvalidInput(f"{name} is not a representable date-time: {_clip(value)}") from None
    parsed.spelling = value
    return parsed


def _check_time(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    offset = value.utcoffset() if isinstance(value, datetime) else None
    if not isinstance(value, datetime) or offset is None or offset % timedelta(minutes=1):
        raise InvalidInput(f"{name} must be a timezone-aware datetime, offset in whole minutes")
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name} is out of range in UTC") from None


def _format_time(value: datetime) -> str:
    spelling = getattr(value, "spelling", None)
    return spelling if isinstance(spelling, str) else value.isoformat().replace("+00:00", "Z")


def _under(uri: str, prefix: str) -> bool:
    rest = uri[len(prefix) :]
    return uri.startswith(prefix) and (not rest or prefix[-1:] in "/?#" or rest[0] in "/?#")


def _recover(text: str, signature: bytes) -> str:
    """Return the EIP-191 signer of `text`; refuse what OpenZeppelin ECDSA refuses."""
    try:
        require_canonical(signature)
        return str(Account.recover_message(encode_defunct(text=text), signature=signature))
    except SignatureError as exc:
        raise Unauthenticated(f"signature is not acceptable: {exc}") from None
    except (BadSignature, ValidationError, ValueError) as exc:
        raise Unauthenticated(f"signature cannot be recovered: {exc}") from None


def _clip(value: object) -> str:
    text = "the end of the message" if value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
