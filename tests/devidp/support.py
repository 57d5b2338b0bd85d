"""Helpers shared by the dev identity provider's tests."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
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


def callback_query(location: str) -> dict[str, str]:
    """The query of a redirect to a client's callback, one value per name."""
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


async def sign_in(
    http: httpx.AsyncClient,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str | None = None,
    email: str = JOHN.email,
) -> tuple[str, str]:
    """Open the login page, post it as a browser would; (code, code_verifier)."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    if scope is not None:
        params["scope"] = scope
    page = await http.get("/oauth2/authorize", params=params)
    assert page.status_code == 200, page.text
    form = {**hidden_fields(page.text), "email": email, "password": DEV_PASSWORD}
    response = await http.post("/oauth2/authorize", data=form)
    assert response.status_code == 303, response.text
    query = callback_query(response.headers["location"])
    assert query["state"] == "s-1"
    return query["code"], verifier


async def exchange_code(
    http: httpx.AsyncClient, *, client_id: str, redirect_uri: str, code: str, verifier: str
) -> httpx.Response:
    return await http.post(
        "/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code": code,
            "code_verifier": verifier,
        },
    )
