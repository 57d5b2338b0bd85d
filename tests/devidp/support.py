"""Helpers shared by the dev identity provider's tests."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import time
from typing import Any

import jwt

from servers.devidp.keys import b64url
from servers.devidp.users import Customer, normalize_email

ORIGIN = "http://127.0.0.1:9000"
# Canonical form of an origin-only issuer (servers.core.settings.canonical_issuer).
ISSUER = f"{ORIGIN}/"
DEV_PASSWORD = "Passw0rd!"

JOHN = Customer(customer_id="cus_john", email="john.doe@example.com", full_name="John Doe")
JANE = Customer(customer_id="cus_jane", email="jane.smith@example.com", full_name="Jane Smith")


class FakeUsers:
    """A :class:`UserDirectory` over a fixed list of customers."""

    def __init__(self, *customers: Customer) -> None:
        self._by_email = {c.email: c for c in customers}
        self.lookups: list[str] = []

    async def find(self, email: str) -> Customer | None:
        self.lookups.append(email)
        return self._by_email.get(normalize_email(email))


class FakeClock:
    """Starts at the real time (tokens must verify now) and moves only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, b64url(hashlib.sha256(verifier.encode("ascii")).digest())


_HIDDEN = re.compile(r'<input type="hidden" name="([^"]*)" value="([^"]*)">')


def hidden_fields(page: str) -> dict[str, str]:
    """The login form's hidden fields, unescaped as a browser would."""
    return {html.unescape(n): html.unescape(v) for n, v in _HIDDEN.findall(page)}


def verify(token: str, jwks: dict[str, Any], *, audience: str | None = None) -> dict[str, Any]:
    """Verify ``token`` against a JWKS document the way a resource server would."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    claims: dict[str, Any] = jwt.decode(
        token,
        jwt.PyJWK(jwk),
        algorithms=["RS256"],
        issuer=ISSUER,
        audience=audience,
        options={"verify_aud": audience is not None, "require": ["exp", "iat", "iss", "sub"]},
    )
    return claims
