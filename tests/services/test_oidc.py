"""OIDC bearer tokens from a local issuer: its JWKS over real HTTP, RS256-signed JWTs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from loantrace.api.app import create_app
from loantrace.chain.node import connect
from loantrace.domain.errors import Unauthenticated
from loantrace.services.oidc import OidcVerifier
from tests.conftest import start_runtime

ISSUER = "https://idp.lender.example"
LENDER = "0x" + "4d" * 20


@dataclass
class Issuer:
    """A local identity provider: one signing key, its JWKS served on loopback."""

    key: rsa.RSAPrivateKey
    kid: str
    jwks_url: str

    def token(self, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": ISSUER, "aud": "loantrace", "sub": "alice", "iat": now, "exp": now + 300}
        body |= claims
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": self.kid})


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "k1", "use": "sig"}
    body = json.dumps({"keys": [jwk]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield Issuer(key, "k1", f"http://127.0.0.1:{server.server_address[1]}/jwks.json")
    server.shutdown()


def _verifier(issuer: Issuer) -> OidcVerifier:
    return OidcVerifier(issuer=ISSUER, audience="loantrace", jwks_url=issuer.jwks_url)


def test_a_valid_token_names_its_role_and_lender(issuer: Issuer) -> None:
    token = issuer.token(loantrace_role="lender", loantrace_lender=LENDER)
    principal = _verifier(issuer).principal(token)
    assert (principal.role, principal.name) == ("lender", "alice")
    assert principal.lender is not None
    assert principal.lender.lower() == LENDER
    assert principal.key_id.startswith("oidc-")
    assert len(principal.key_id) <= 32
    regulator = _verifier(issuer).principal(issuer.token(loantrace_role="regulator"))
    assert (regulator.role, regulator.lender) == ("regulator", None)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": int(time.time()) - 120, "loantrace_role": "auditor"}, "expired"),
        ({"aud": "someone-else", "loantrace_role": "auditor"}, "InvalidAudience"),
        ({"iss": "https://evil.example", "loantrace_role": "auditor"}, "InvalidIssuer"),
        ({"sub": None, "loantrace_role": "auditor"}, "MissingRequiredClaim"),
        ({}, "name a role"),
        ({"loantrace_role": "root"}, "name a role"),
        ({"loantrace_role": "borrower"}, "name a role"),  # borrowers sign in with SIWE
        ({"loantrace_role": "lender"}, "name a role"),  # a lender needs its address
    ],
)
def test_bad_tokens_are_unauthenticated(
    issuer: Issuer, claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(Unauthenticated, match=reason):
        _verifier(issuer).principal(issuer.token(**claims))


def test_a_token_signed_by_another_key_or_unsigned_is_refused(issuer: Issuer) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = issuer.token(key=stranger, loantrace_role="admin")
    with pytest.raises(Unauthenticated, match="does not verify"):
        _verifier(issuer).principal(forged)
    unsigned = jwt.encode(
        {"iss": ISSUER, "aud": "loantrace", "sub": "x", "loantrace_role": "admin"},
        key=None,
        algorithm="none",
        headers={"kid": "k1"},
    )
    with pytest.raises(Unauthenticated, match="does not verify"):
        _verifier(issuer).principal(unsigned)


def test_the_api_accepts_the_identity_providers_token(issuer: Issuer) -> None:
    rt = start_runtime(connect(None), oidc_issuer=ISSUER, oidc_jwks_url=issuer.jwks_url)
    try:
        with TestClient(create_app(rt)) as client:
            token = issuer.token(loantrace_role="regulator")
            answer = client.get("/v1/audit-log", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200, answer.text
            lender = issuer.token(loantrace_role="lender", loantrace_lender=LENDER)
            denied = client.get("/v1/audit-log", headers={"Authorization": f"Bearer {lender}"})
            assert denied.status_code == 403
    finally:
        rt.close()
