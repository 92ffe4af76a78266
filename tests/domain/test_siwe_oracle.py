"""npm siwe 3 (with ethers 6) as the oracle: its messages parse, render back and verify here;
ours parse, render back and verify there; and what we refuse, it refuses too (or we say why not).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount

from loantrace.domain.errors import InvalidInput, Unauthenticated
from loantrace.domain.siwe import SiweMessage, parse, render, verify
from tests.domain.test_siwe import ISSUED, MESSAGE, OTHER, SECP256K1_N, SIGNER, TEXT, mutations

REPO_ROOT = Path(__file__).resolve().parents[2]
ORACLE = REPO_ROOT / "scripts" / "siwe_oracle.mjs"
FROM_NPM = 96  # messages npm siwe makes and signs
FROM_US = 48  # messages we render and sign
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OPTIONAL = ("scheme", "statement", "expirationTime", "notBefore", "requestId", "resources")
TIMES = (("issuedAt", "issued_at"), ("expirationTime", "expiration_time"))
TIMES += (("notBefore", "not_before"),)

SCHEMES = (None, None, "https", "http", "wc+ws")
DOMAINS = ("example.com", "login.example.org:8443", "[2001:db8::1]:443", "u:p@h.example", "lo:")
STATEMENTS = (None, "", "I accept the Terms: https://x.example/tos", "#1 (v2) it's [ok]; a=b & c+d")
URIS = (
    "https://example.com/login",
    "urn:ietf:params:oauth:token-type:jwt",
    "https://[::1]:8080/a%20b;c?d=e/f?#g/h?",
    "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
    "a+b.c-d:",
    "ipfs:/bafy/x",
)
REQUEST_IDS = (None, None, "0f6b0c1e", "%41:@!$&'()*+,;=-._~")
RESOURCES: tuple[tuple[str, ...] | None, ...] = (
    None,
    (),
    ("ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",),
    ("https://example.com/a", "urn:x", "mailto:a@b.example"),
)
OFFSETS = (0, 0, 330, -480, 60, -150, 24 * 60 - 1, -(24 * 60 - 1))


def _node_or_skip() -> str:
    node = shutil.which("node")
    modules = REPO_ROOT / "node_modules"
    if node is None:
        missing = "`node` is not on PATH"
    elif not all((modules / name / "package.json").is_file() for name in ("siwe", "ethers")):
        missing = "node_modules/siwe or node_modules/ethers is missing (run `make test`)"
    else:
        return node
    if os.environ.get("LOANTRACE_TEST_REQUIRE_NODE") == "1":
        pytest.fail(f"LOANTRACE_TEST_REQUIRE_NODE=1 but {missing}")
    pytest.skip(f"JavaScript oracle unavailable: {missing}")


@pytest.fixture(scope="module")
def node() -> str:
    return _node_or_skip()


def _oracle(node: str, *args: str, cases: list[dict[str, str]] | None = None) -> Any:
    done = subprocess.run(
        [node, str(ORACLE), *args],
        input=json.dumps(cases or []),
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _js_fields(message: SiweMessage) -> dict[str, object]:
    """Return the fields as npm siwe holds them, timestamps left out."""
    resources = None if message.resources is None else list(message.resources)
    return {
        "scheme": message.scheme,
        "domain": message.domain,
        "address": message.address,
        "statement": message.statement,
        "uri": message.uri,
        "version": message.version,
        "chainId": message.chain_id,
        "nonce": message.nonce,
        "requestId": message.request_id,
        "resources": resources,
    }


def _kinds(all_fields: list[dict[str, Any]]) -> set[tuple[str, str]]:
    def kind(value: object) -> str:
        return "absent" if value is None else "empty" if value in ("", []) else "present"

    return {(name, kind(fields[name])) for fields in all_fields for name in OPTIONAL}


EVERY_KIND = {(name, kind) for name in OPTIONAL for kind in ("absent", "present")}
EVERY_KIND |= {("statement", "empty"), ("resources", "empty")}


def _millis(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(milliseconds=1)


def _sign(text: str, account: LocalAccount) -> str:
    return (
        "0x" + bytes(Account.sign_message(encode_defunct(text=text), account.key).signature).hex()
    )


def _our_message(rng: random.Random) -> tuple[SiweMessage, LocalAccount, datetime]:
    """Return a message, its signer, and an instant at which it is valid."""
    account = Account.from_key(rng.randbytes(32))
    tz = timezone(timedelta(minutes=rng.choice(OFFSETS)))
    issued = datetime(2001, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(2_500_000_000))
    issued = issued.replace(microsecond=rng.choice([0, 0, 123_000, 654_321])).astimezone(tz)
    not_before = rng.choice([None, issued + timedelta(minutes=rng.randrange(30))])
    expires = rng.choice([None, issued + timedelta(hours=1 + rng.randrange(720))])
    message = SiweMessage(
        scheme=rng.choice(SCHEMES),
        domain=rng.choice(DOMAINS),
        address=account.address,
        statement=rng.choice(STATEMENTS),
        uri=rng.choice(URIS),
        chain_id=rng.choice([1, 10, 8453, 31337, 2**53 - 1]),
        nonce="".join(rng.choices("abcdefghXYZ0123456789", k=rng.randrange(8, 33))),
        issued_at=issued,
        expiration_time=expires,
        not_before=not_before,
        request_id=rng.choice(REQUEST_IDS),
        resources=rng.choice(RESOURCES),
    )
    return message, account, (not_before or issued) + timedelta(seconds=1)


def test_messages_made_by_npm_siwe_parse_to_its_fields_render_back_and_verify(node: str) -> None:
    cases = _oracle(node, "generate", str(FROM_NPM), "4361")
    assert len(cases) == FROM_NPM
    assert _kinds([case["fields"] for case in cases]) >= EVERY_KIND
    for case in cases:
        text = case["message"]
        message = parse(text)
        assert render(message) == text
        assert _js_fields(message).items() <= case["fields"].items(), text
        for js_name, name in TIMES:
            moment = getattr(message, name)
            assert (moment and _millis(moment)) == case["times"].get(js_name), (js_name, text)
        signature = bytes.fromhex(case["signature"].removeprefix("0x"))
        valid_at = EPOCH + timedelta(milliseconds=case["validAt"])
        assert message == verify(
            text,
            signature,
            domain=message.domain,
            nonce=message.nonce,
            now=valid_at,
            chain_id=message.chain_id,
            uri_prefix=message.uri,
        )


def test_messages_we_render_are_parsed_rendered_and_verified_by_npm_siwe(node: str) -> None:
    rng = random.Random(4361)
    made = [_our_message(rng) for _ in range(FROM_US)]
    cases = [
        {
            "message": render(message),
            "signature": _sign(render(message), account),
            "domain": message.domain,
            "nonce": message.nonce,
            "time": valid_at.isoformat(),
        }
        for message, account, valid_at in made
    ]
    results = _oracle(node, "check", cases=cases)
    assert _kinds([r.get("fields", {}) for r in results]) >= EVERY_KIND
    for (message, _, _), case, result in zip(made, cases, results, strict=True):
        assert result["parsed"], (result["error"], case["message"])
        assert result["rendered"] == case["message"]
        assert _js_fields(message).items() <= result["fields"].items()
        assert f"\nIssued At: {result['fields']['issuedAt']}" in case["message"]
        assert result["verified"], (result.get("error"), case["message"])


def test_npm_siwe_refuses_signatures_by_others_and_for_other_domains_as_we_do(node: str) -> None:
    good = {"message": TEXT, "domain": MESSAGE.domain, "nonce": MESSAGE.nonce}
    good |= {"time": (ISSUED + timedelta(minutes=1)).isoformat(), "signature": _sign(TEXT, SIGNER)}
    cases = [
        good,
        {**good, "signature": _sign(TEXT, OTHER)},
        {**good, "domain": "evil.example.com"},
        {**good, "nonce": "k2JDbX0b6ZpTQm1N"},
        {**good, "time": (ISSUED + timedelta(minutes=10)).isoformat()},
    ]
    verdicts = [result["verified"] for result in _oracle(node, "check", cases=cases)]
    assert verdicts == [True, False, False, False, False]


def test_high_s_twins_are_refused_on_both_sides_but_only_npm_accepts_v_0_or_1(node: str) -> None:
    signature = bytes.fromhex(_sign(TEXT, SIGNER)[2:])
    s = int.from_bytes(signature[32:64], "big")
    twin = signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])
    v_0_or_1 = signature[:64] + bytes([signature[64] - 27])
    now = ISSUED + timedelta(minutes=1)
    good = {"message": TEXT, "domain": MESSAGE.domain, "nonce": MESSAGE.nonce}
    good["time"] = now.isoformat()
    cases = [{**good, "signature": "0x" + sig.hex()} for sig in (twin, v_0_or_1)]
    assert [r["verified"] for r in _oracle(node, "check", cases=cases)] == [False, True]
    for sig in (twin, v_0_or_1):  # OpenZeppelin's ECDSA, and so this module, refuse both
        with pytest.raises(Unauthenticated):
            verify(TEXT, sig, domain=MESSAGE.domain, nonce=MESSAGE.nonce, now=now)


def test_npm_siwe_refuses_every_mutation_we_refuse(node: str) -> None:
    bases = [TEXT, render(replace(MESSAGE, statement=None, resources=None, scheme="https"))]
    bases.append(render(replace(MESSAGE, statement="", resources=(), request_id=None)))
    broken = [(label, text) for base in bases for label, text in mutations(base)]
    results = _oracle(node, "check", cases=[{"message": text} for _, text in broken])
    assert [label for (label, _), r in zip(broken, results, strict=True) if r["parsed"]] == []


# Valid by the ABNF and accepted by npm siwe, refused here on purpose: each either cannot
# round-trip through npm siwe (it would re-render other text, so no signature could verify
# there) or has no instant Python or JavaScript can compare (npm siwe then never expires it).
STRICTER_THAN_NPM = (
    (
        "leap second",
        "Expiration Time: 2026-03-01T12:10:00Z",
        "Expiration Time: 2026-03-01T23:59:60Z",
    ),
    ("year 0", "Issued At: 2026", "Issued At: 0000"),
    ("chain id with a leading 0", "Chain ID: 31337", "Chain ID: 031337"),
    ("chain id 0", "Chain ID: 31337", "Chain ID: 0"),
    ("chain id beyond 2**53 - 1", "Chain ID: 31337", "Chain ID: 9007199254740993"),
    ("empty Request ID", "Request ID: req-42", "Request ID: "),
    ("more than 8 KiB", "Sign in to", "Sign in to" + " " * 8200),
)


def test_what_we_refuse_beyond_npm_siwe_is_what_it_cannot_handle(node: str) -> None:
    texts = [TEXT.replace(old, new) for _, old, new in STRICTER_THAN_NPM]
    far_later = (ISSUED + timedelta(days=3650)).isoformat()
    cases = [{"message": t, "signature": _sign(t, SIGNER), "time": far_later} for t in texts]
    results = _oracle(node, "check", cases=cases)
    for (label, _, _), text, result in zip(STRICTER_THAN_NPM, texts, results, strict=True):
        assert result["parsed"], label
        with pytest.raises(InvalidInput):
            parse(text)
    changed = [
        label
        for (label, _, _), t, r in zip(STRICTER_THAN_NPM, texts, results, strict=True)
        if r["rendered"] != t
    ]
    assert changed == [
        "chain id with a leading 0",
        "chain id beyond 2**53 - 1",
        "empty Request ID",
    ]
    assert results[0]["verified"], (
        "npm siwe: a leap-second expiry never expires (NaN compares false)"
    )
