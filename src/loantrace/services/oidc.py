"""OIDC bearer tokens: a JWT from the organisation's identity provider, checked against its
issuer, audience and published keys (JWKS, fetched and cached by PyJWT), with the role (and a
lender's address) read from claims. Any failure is Unauthenticated; nothing is trusted from a
token that does not verify."""

from __future__ import annotations

import hashlib
from typing import Any

import jwt
from jwt import PyJWKClient

from loantrace.domain.access import KEY_ROLES, Principal, check_role
from loantrace.domain.errors import InvalidInput, Unauthenticated
from loantrace.domain.hexcodec import parse_address

ALGORITHMS = ("RS256", "ES256", "PS256", "EdDSA")


class OidcVerifier:
    """Turn an identity provider's JWT into a principal."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str,
        role_claim: str = "loantrace_role",
        lender_claim: str = "loantrace_lender",
        leeway_seconds: int = 30,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._keys = PyJWKClient(
            jwks_url, cache_jwk_set=True, lifespan=300, timeout=timeout_seconds
        )
        self._role_claim = role_claim
        self._lender_claim = lender_claim
        self._leeway = leeway_seconds

    def principal(self, token: str) -> Principal:
        """Verify `token` and return its principal, or raise Unauthenticated."""
        try:
            key = self._keys.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the identity token has expired") from None
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthenticated(
                f"the identity token does not verify: {type(exc).__name__}"
            ) from None
        try:
            role = check_role(str(claims.get(self._role_claim, "")), allowed=KEY_ROLES)
            lender = None
            if role == "lender":
                lender = parse_address(str(claims.get(self._lender_claim, "")), field="lender")
        except InvalidInput as exc:
            raise Unauthenticated(
                f"the identity token's claims do not name a role: {exc}"
            ) from None
        subject = str(claims["sub"])
        key_id = "oidc-" + hashlib.sha256(f"{self._issuer}|{subject}".encode()).hexdigest()[:16]
        return Principal(role=role, key_id=key_id, name=subject[:120], lender=lender)
