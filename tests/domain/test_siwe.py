"""Sign-In with Ethereum: strict parsing, exact rendering, and verification of signatures."""

from __future__ import annotations

import copy
import string
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from loantrace.domain.errors import InvalidInput, Unauthenticated
from loantrace.domain.siwe import MAX_CHAIN_ID, SiweMessage, parse, render, verify

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SIGNER = Account.from_key(b"\x07" * 32)
OTHER = Account.from_key(b"\x08" * 32)
ISSUED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
MESSAGE = SiweMessage(
    domain="app.example.com",
    address=SIGNER.address,
    statement="Sign in to loantrace.",
    uri="https://app.example.com/login",
    chain_id=31337,
    nonce="k2JDbX0b6ZpTQm1n",
    issued_at=ISSUED,
    not_before=ISSUED,
    expiration_time=ISSUED + timedelta(minutes=10),
    request_id="req-42",
    resources=("ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",),
)
TEXT = render(MESSAGE)

# ---- Strategies: every optional part present or absent, every RFC 3986 character class ----

_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PCT = st.sampled_from(["%20", "%2F", "%e2", "%7E"])


def _chars(alphabet: str, *, min_size: int = 0, max_size: int = 12) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(alphabet), _PCT)
    return st.lists(pieces, min_size=min_size, max_size=max_size).map("".join)


_segments = _chars(_UNRESERVED + _SUB_DELIMS + ":@")
_hosts = st.one_of(
    _chars(_UNRESERVED + _SUB_DELIMS, min_size=1),
    st.sampled_from(
        ["[::1]", "[2001:db8::7]", "[v1.fe80::a+en1]", "127.0.0.1", "[::ffff:1.2.3.4]"]
    ),
)
_authorities = st.builds(
    lambda userinfo, host, port: f"{userinfo}{host}{port}",
    st.one_of(st.just(""), _chars(_UNRESERVED + _SUB_DELIMS + ":").map(lambda u: u + "@")),
    _hosts,
    st.one_of(st.just(""), st.integers(0, 65535).map(lambda p: f":{p}"), st.just(":")),
)
_schemes = st.from_regex(r"[A-Za-z][A-Za-z0-9+.\-]{0,8}", fullmatch=True)


def _uri(scheme: str, form: int, authority: str, first: str, rest: list[str], tail: str) -> str:
    path = "".join("/" + segment for segment in rest)
    hier = (f"//{authority}{path}", f"/{first}{path}", f"{first}{path}", "")[form]
    return f"{scheme}:{hier}{tail}"


_tails = st.builds(
    lambda q, f: q + f,
    st.one_of(st.just(""), _chars(_UNRESERVED + _SUB_DELIMS + ":@/?").map(lambda q: "?" + q)),
    st.one_of(st.just(""), _chars(_UNRESERVED + _SUB_DELIMS + ":@/?").map(lambda f: "#" + f)),
)
uris = st.builds(
    _uri, _schemes, st.integers(0, 3), _authorities, _chars(_UNRESERVED + "@:", min_size=1),
    st.lists(_segments, max_size=3), _tails,
)  # fmt: skip
_offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))
times = st.datetimes(datetime(1000, 1, 2), datetime(9998, 12, 30), timezones=_offsets)
messages = st.builds(
    SiweMessage,
    scheme=st.none() | _schemes,
    domain=_authorities,
    address=st.binary(min_size=20, max_size=20).map(to_checksum_address),
    statement=st.none() | st.text(_UNRESERVED + ":/?#[]@" + _SUB_DELIMS + " ", max_size=60),
    uri=uris,
    chain_id=st.integers(1, MAX_CHAIN_ID),
    nonce=st.text(string.ascii_letters + string.digits, min_size=8, max_size=40),
    issued_at=times,
    expiration_time=st.none() | times,
    not_before=st.none() | times,
    request_id=st.none() | _chars(_UNRESERVED + _SUB_DELIMS + ":@", min_size=1),
    resources=st.none() | st.lists(uris, max_size=4).map(tuple),
)

# ---- Mutations that every parser of EIP-4361 must refuse (the oracle test reuses them) ----

_ROLES = ("URI: ", "Version: ", "Chain ID: ", "Nonce: ", "Issued At: ", "Expiration Time: ")
_ROLES += ("Not Before: ", "Request ID: ", "Resources:")
BAD_TIMESTAMPS = (
    "2026-02-30T00:00:00Z",
    "2026-03-01 12:00:00Z",
    "2026-03-01T12:00:00",
    "2026-03-01T24:00:00Z",
    "2026-3-01T12:00:00Z",
    "2026-03-01T12:00:00+24:00",
    "2026-03-01T12:00:00.Z",
    "2026-03-01T12:00Z",
)
# (field line, offset from the URI line, broken replacements of the whole line)
_BROKEN_FIELDS = (
    ("URI", 0, ("URI: /login", "URI: https://a pp.example", "URI: ", "URI:https://a.example")),
    ("Version", 1, ("Version: 2", "Version: 1 ", "version: 1")),
    ("Chain ID", 2, ("Chain ID: 0x1", "Chain ID: -1", "Chain ID: ", "Chain ID: 1.5")),
    ("Nonce", 3, ("Nonce: abc1234", "Nonce: abcd-efgh", "Nonce: ", "Nonce: abcdefgh ")),
    ("Issued At", 4, tuple(f"Issued At: {bad}" for bad in BAD_TIMESTAMPS)),
)


def mutations(text: str) -> list[tuple[str, str]]:
    """Return (label, text) pairs, each a broken copy of the valid message `text`."""
    lines = text.split("\n")
    uri_at = next(
        i for i in range(4, len(lines)) if lines[i].startswith("URI: ") and not lines[i - 1]
    )
    roles = [0, 1, *(i for i in range(uri_at, len(lines)) if lines[i].startswith(_ROLES))]

    def swapped(i: int, j: int) -> list[str]:
        return [
            lines[j] if k == i else lines[i] if k == j else line for k, line in enumerate(lines)
        ]

    def edited(i: int, line: str) -> list[str]:
        return [*lines[:i], line, *lines[i + 1 :]]

    found = [
        *((f"drop line {i + 1}", lines[:i] + lines[i + 1 :]) for i in roles[:7]),
        *((f"swap lines {i + 1}, {j + 1}", swapped(i, j)) for i in roles for j in roles if i < j),
        *(
            (f"{name}: {line!r}", edited(uri_at + at, line))
            for name, at, bad in _BROKEN_FIELDS
            for line in bad
        ),
        ("lower-case address", edited(1, lines[1].lower())),
        ("upper-case address", edited(1, "0x" + lines[1][2:].upper())),
        ("0X prefix", edited(1, "0X" + lines[1][2:])),
        ("short address", edited(1, lines[1][:-1])),
        ("bad IPv6 domain", edited(0, "[::1::2]" + lines[0][lines[0].index(" wants") :])),
        ("empty domain", edited(0, lines[0][lines[0].index(" wants") :])),
        ("no header suffix", edited(0, lines[0].removesuffix(":"))),
        ("typo in header", edited(0, lines[0].replace(" sign in ", " sign into "))),
        ("duplicate Nonce", [*lines[: uri_at + 4], lines[uri_at + 3], *lines[uri_at + 4 :]]),
    ]
    if uri_at == 5:  # a statement, possibly empty: no blank line may be added
        found.append(("extra blank line", [*lines[:2], "", *lines[2:]]))
    if uri_at == 4 or lines[3]:  # no statement, or a non-empty one: none may be removed
        found.append(("missing blank line", [*lines[:2], *lines[3:]]))
    if uri_at == 5 and lines[3]:  # a statement: characters outside RFC 3986's sets
        found += [(f"statement with {c!r}", edited(3, lines[3] + c)) for c in '\u00e9\t"<%\\']
    texts = [(label, "\n".join(broken)) for label, broken in found]
    texts += [
        ("trailing LF", text + "\n"),
        ("trailing blank line", text + "\n\n"),
        ("trailing unknown field", text + "\nExtra: 1"),
        ("CRLF line ends", text.replace("\n", "\r\n")),
        ("trailing CR", text + "\r"),
        ("inline Resources", text + "\nResources: ipfs://x"),
        ("resource without space", text + "\nResources:\n-ipfs://x"),
        ("NUL byte", text + "\x00"),
    ]
    return [(label, broken) for label, broken in texts if broken != text]


def _parses(text: str) -> bool:
    try:
        parse(text)
    except InvalidInput:
        return False
    return True


def _sign(text: str, account: LocalAccount = SIGNER) -> bytes:
    return bytes(Account.sign_message(encode_defunct(text=text), account.key).signature)


def _verify(text: str = TEXT, signature: bytes | None = None, **overrides: object) -> SiweMessage:
    kwargs: dict[str, object] = {"domain": MESSAGE.domain, "nonce": MESSAGE.nonce}
    kwargs["now"] = ISSUED + timedelta(minutes=1)
    kwargs.update(overrides)
    return verify(text, _sign(text) if signature is None else signature, **kwargs)  # type: ignore[arg-type]


# ---- Parsing and rendering ----------------------------------------------------------------


def test_render_writes_the_spec_layout() -> None:
    assert TEXT.split("\n") == [
        "app.example.com wants you to sign in with your Ethereum account:",
        SIGNER.address,
        "",
        "Sign in to loantrace.",
        "",
        "URI: https://app.example.com/login",
        "Version: 1",
        "Chain ID: 31337",
        "Nonce: k2JDbX0b6ZpTQm1n",
        "Issued At: 2026-03-01T12:00:00Z",
        "Expiration Time: 2026-03-01T12:10:00Z",
        "Not Before: 2026-03-01T12:00:00Z",
        "Request ID: req-42",
        "Resources:",
        "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
    ]


@pytest.mark.parametrize(
    ("changes", "between"),
    [({"statement": None}, "\n\n\nURI"), ({"statement": ""}, "\n\n\n\nURI")],
    ids=["no statement", "empty statement"],
)
def test_absent_and_empty_statements_are_told_apart(
    changes: dict[str, object], between: str
) -> None:
    text = render(replace(MESSAGE, **changes))  # type: ignore[arg-type]
    assert SIGNER.address + between in text
    assert parse(text) == replace(MESSAGE, **changes)  # type: ignore[arg-type]


def test_empty_resources_render_as_a_bare_resources_line() -> None:
    text = render(replace(MESSAGE, resources=()))
    assert text.endswith("\nResources:")
    assert parse(text).resources == ()
    assert parse(render(replace(MESSAGE, resources=None))).resources is None


def test_scheme_prefixes_the_domain() -> None:
    text = render(replace(MESSAGE, scheme="https"))
    assert text.startswith("https://app.example.com wants you")
    assert (parse(text).scheme, parse(text).domain) == ("https", "app.example.com")


@given(messages)
def test_render_then_parse_returns_the_same_message(message: SiweMessage) -> None:
    text = render(message)
    assert parse(text) == message
    assert render(parse(text)) == text


@pytest.mark.parametrize(
    "spelling",
    [
        "2026-03-01T12:00:00.000Z",
        "2026-03-01t12:00:00z",
        "2026-03-01T17:30:00+05:30",
        "2026-03-01T12:00:00.123456789-00:00",
        "2026-03-01T12:00:00+00:00",
    ],
)
def test_a_parsed_timestamp_keeps_its_spelling(spelling: str) -> None:
    text = TEXT.replace("Issued At: 2026-03-01T12:00:00Z", f"Issued At: {spelling}")
    parsed = parse(text)
    assert render(parsed) == text
    assert timedelta(0) <= parsed.issued_at - ISSUED < timedelta(seconds=1)
    assert render(copy.deepcopy(parsed)) == text  # as pickle, through __reduce_ex__
    assert render(replace(parsed, issued_at=ISSUED)) == TEXT  # a new value: canonical again


@given(messages)
def test_every_mutation_of_a_valid_message_is_refused(message: SiweMessage) -> None:
    accepted = [label for label, text in mutations(render(message)) if _parses(text)]
    assert accepted == []


@pytest.mark.parametrize(("label", "text"), mutations(TEXT), ids=lambda v: str(v)[:40])
def test_each_mutation_of_the_sample_is_refused(label: str, text: str) -> None:
    with pytest.raises(InvalidInput):
        parse(text)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("\nVersion: 1", ""), r"line 7: expected 'Version: ', got 'Chain ID"),
        (lambda t: t + "\nNot Before: x", r"line 16: expected '- <uri>'"),
        (lambda t: t.split("\nResources:")[0] + "\nNot", "line 14: unexpected 'Not'"),
        (lambda t: t.replace("\r", "").replace("\nNonce", "\r\nNonce"), r"line 8: character '\\r'"),
        (lambda t: t.replace("\n\nURI", "\nURI"), "line 5: expected a blank line after the stat"),
        (lambda t: t.split("\n", 1)[0], "line 3: expected a blank line, got the end of the"),
        (lambda t: t.replace("Z\nExp", ".Z\nExp"), "Issued At must be an RFC 3339 date-time"),
        (lambda t: t.replace("12:10:00Z", "23:59:60Z"), "Expiration Time is a leap second"),
        (lambda t: t.replace("Issued At: 2026", "Issued At: 0000"), "not a representable"),
        (lambda t: t.replace("ID: 31337", "ID: 031337"), "Chain ID must be a positive decimal"),
        (lambda t: t.replace("ID: 31337", "ID: 9007199254740992"), "chain_id must be between"),
        (lambda t: t.replace("ID: req-42", "ID: "), "request_id must be one or more"),
        (lambda t: t.replace("Sign in", "Sign in" + "!" * 8200), "longer than 8192 characters"),
        (lambda t: t.replace(SIGNER.address, SIGNER.address.lower()), "not EIP-55 checksummed"),
    ],
)
def test_refusals_say_where_and_why(edit: Callable[[str], str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse(edit(TEXT))


def test_parse_is_fast_on_the_worst_inputs_it_accepts_to_read() -> None:
    started = time.perf_counter()
    for uri in ("https://" + "a" * 8000 + " ", "https://" + "a@" * 4000, "a:" + "/a" * 4000 + "%"):
        with pytest.raises(InvalidInput):
            parse(TEXT.replace("https://app.example.com/login", uri))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"issued_at": datetime(2026, 3, 1)}, "issued_at must be a timezone-aware datetime"),
        ({"not_before": datetime(2026, 3, 1, tzinfo=timezone(timedelta(seconds=30)))}, "whole"),
        ({"chain_id": True}, "chain_id must be an integer"),
        ({"chain_id": 0}, "chain_id must be between 1 and"),
        ({"address": SIGNER.address.lower()}, "not EIP-55 checksummed"),
        ({"resources": "https://a.example"}, "resources must be a tuple"),
        ({"resources": ("not a uri",)}, r"resources\[0\] must be an absolute RFC 3986 URI"),
        ({"statement": "two\nlines"}, "statement must be RFC 3986 characters"),
        ({"version": "2"}, "version must be '1'"),
        ({"domain": ""}, "domain must be a non-empty"),
        ({"domain": "[1.2.3.4]"}, "domain must be a non-empty"),
    ],
)
def test_building_a_message_checks_every_field(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        replace(MESSAGE, **changes)  # type: ignore[arg-type]


def test_resources_given_as_a_list_are_kept_as_a_tuple() -> None:
    assert replace(MESSAGE, resources=["urn:a", "urn:b"]).resources == ("urn:a", "urn:b")  # type: ignore[arg-type]


# ---- Verification -------------------------------------------------------------------------


def test_verify_accepts_a_real_signature_and_returns_the_message() -> None:
    assert _verify(chain_id=31337, uri_prefix="https://app.example.com/", scheme="https") == MESSAGE
    assert _verify(uri_prefix="https://app.example.com/login") == MESSAGE
    assert _verify(signature=bytearray(_sign(TEXT))) == MESSAGE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"domain": "evil.example.com"}, "message is for domain 'app.example.com'"),
        ({"nonce": "k2JDbX0b6ZpTQm1N"}, "nonce is not the one issued"),
        ({"chain_id": 1}, "message is for chain 31337, expected 1"),
        ({"uri_prefix": "https://app.example.com/log"}, "is not under"),
        ({"uri_prefix": "https://app.example.co"}, "is not under"),
        ({"scheme": "http"}, "message is for scheme None, expected 'http'"),
        ({"now": ISSUED + timedelta(minutes=10)}, "message expired at 2026-03-01T12:10:00Z"),
        ({"now": ISSUED - timedelta(microseconds=1)}, "not valid before 2026-03-01T12:00:00Z"),
        ({"signature": _sign(TEXT, OTHER)}, f"signature is by {OTHER.address}, not by"),
        ({"signature": _sign(TEXT + " ")}, "signature is by 0x"),
    ],
)
def test_verify_refuses_a_message_that_is_not_for_us_now(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(Unauthenticated, match=message):
        _verify(**overrides)  # type: ignore[arg-type]


def test_verify_allows_five_minutes_of_clock_skew_on_issued_at() -> None:
    text = render(replace(MESSAGE, not_before=None))
    assert _verify(text, now=ISSUED - timedelta(minutes=5))
    with pytest.raises(Unauthenticated, match="issued in the future"):
        _verify(text, now=ISSUED - timedelta(minutes=5, seconds=1))


def test_verify_refuses_the_malleated_high_s_twin_that_eth_account_accepts() -> None:
    signature = _sign(TEXT)
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    assert Account.recover_message(encode_defunct(text=TEXT), signature=twin) == SIGNER.address
    with pytest.raises(Unauthenticated, match="lower half of the curve order"):
        _verify(signature=twin)


@pytest.mark.parametrize("v", [0, 1, 29])
def test_verify_refuses_v_other_than_27_or_28(v: int) -> None:
    signature = _sign(TEXT)[:64] + bytes([v])
    with pytest.raises(Unauthenticated, match="v must be 27 or 28"):
        _verify(signature=signature)


def test_verify_refuses_r_that_is_not_a_curve_point() -> None:
    with pytest.raises(Unauthenticated, match="cannot be recovered"):
        _verify(signature=(5).to_bytes(32, "big") + (1).to_bytes(32, "big") + b"\x1b")


@pytest.mark.parametrize(
    ("text", "signature", "overrides", "message"),
    [
        (TEXT, b"\x00" * 64, {}, "signature must be 65 bytes"),
        (TEXT, "0x" + "00" * 65, {}, "signature must be 65 bytes"),
        (TEXT + "\n", None, {}, "expected '- <uri>'"),
        (TEXT, None, {"now": datetime(2026, 3, 1, 12, 1)}, "now must be a timezone-aware"),
    ],
    ids=["short signature", "hex signature", "malformed message", "naive now"],
)
def test_verify_reports_malformed_input_as_invalid(
    text: str, signature: object, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        _verify(text, signature, **overrides)  # type: ignore[arg-type]
