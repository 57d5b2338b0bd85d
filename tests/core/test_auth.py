"""The access-token rules Cognito needs beyond FastMCP's JWT verifier, and JWKS rotation."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from servers.core.auth import CognitoAccessTokenVerifier
from servers.devidp.keys import SigningKey
from servers.devidp.tokens import mint_access_token, mint_id_token

ISSUER = "https://idp.test"
JWKS_URI = f"{ISSUER}/.well-known/jwks.json"


def new_key() -> SigningKey:
    return SigningKey.from_private_key(
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )


class Jwks:
    """A JWKS endpoint whose published keys the test controls; counts fetches."""

    def __init__(self, *keys: SigningKey):
        self.keys = list(keys)
        self.fetches = 0

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.fetches += 1
        return httpx2.Response(200, json={"keys": [k.public_jwk() for k in self.keys]})


def verifier(jwks: Jwks, **overrides: Any) -> CognitoAccessTokenVerifier:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "jwks_uri": JWKS_URI,
        "client_ids": ["ops", "web"],
        "resource": "data",
        "jwks_refresh_interval": 0,
        "http_client": httpx2.AsyncClient(transport=httpx2.MockTransport(jwks.handler)),
    }
    options.update(overrides)
    return CognitoAccessTokenVerifier(**options)


def access(key: SigningKey, **overrides: Any) -> str:
    options: dict[str, Any] = {
        "key": key,
        "issuer": ISSUER,
        "sub": "ops",
        "client_id": "ops",
        "scopes": ["data/read"],
    }
    options.update(overrides)
    return mint_access_token(**options)


async def test_a_valid_access_token_is_accepted_with_its_scopes_and_subject() -> None:
    key = new_key()
    result = await verifier(Jwks(key)).verify_token(
        access(key, sub="cus_x", scopes=["data/read", "tickets/read"])
    )
    assert result is not None
    assert result.scopes == ["data/read", "tickets/read"]
    assert result.subject == "cus_x"
    assert result.client_id == "ops"


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("expired", lambda k: access(k, now=datetime.now(UTC) - timedelta(hours=2), ttl=60)),
        ("wrong issuer", lambda k: access(k, issuer="https://evil.test")),
        ("client not allowed", lambda k: access(k, client_id="stranger")),
        ("no scope of this resource server", lambda k: access(k, scopes=["tickets/read"])),
        ("forged signature", lambda k: access(_forged(k))),
        (
            "id token",
            lambda k: mint_id_token(
                key=k, issuer=ISSUER, sub="cus_x", client_id="web", email="a@example.com"
            ),
        ),
        ("not a jwt", lambda k: "not-a-token"),
    ],
)
async def test_tokens_that_must_be_refused(case: str, make: Any) -> None:
    key = new_key()
    assert await verifier(Jwks(key)).verify_token(make(key)) is None, case


def _forged(real: SigningKey) -> SigningKey:
    # Same kid as the published key, different private key: only the signature gives it away.
    forged = new_key()
    return SigningKey(private_key=forged.private_key, kid=real.kid)


async def test_a_token_without_token_use_is_refused() -> None:
    key = new_key()
    claims = jwt.decode(access(key), options={"verify_signature": False})
    del claims["token_use"]
    token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})
    assert await verifier(Jwks(key)).verify_token(token) is None


async def test_jwks_is_cached_and_refreshed_when_an_unknown_kid_appears() -> None:
    old, new = new_key(), new_key()
    jwks = Jwks(old)
    v = verifier(jwks)
    assert await v.verify_token(access(old)) is not None
    assert await v.verify_token(access(old)) is not None
    assert jwks.fetches == 1

    jwks.keys.append(new)  # the issuer rotates its signing key
    assert await v.verify_token(access(new)) is not None
    assert jwks.fetches == 2


async def test_an_accepted_token_is_not_verified_again_until_it_expires() -> None:
    key = new_key()
    v = verifier(Jwks(key))
    token = access(key, ttl=120)
    first = await v.verify_token(token)
    assert first is not None
    jwt_checks = 0
    original = v._verify

    async def counting(t: str) -> Any:
        nonlocal jwt_checks
        jwt_checks += 1
        return await original(t)

    v._verify = counting  # type: ignore[method-assign, assignment]
    assert await v.verify_token(token) is first
    assert jwt_checks == 0

    expired = access(key, now=datetime.now(UTC) - timedelta(hours=2), ttl=60)
    assert await v.verify_token(expired) is None
    assert await v.verify_token(expired) is None
    assert jwt_checks == 2, "a refused token is checked every time"


async def test_a_cached_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    v = verifier(Jwks(key))
    token = access(key, ttl=60)
    assert await v.verify_token(token) is not None
    later = time.time() + 3600
    monkeypatch.setattr("servers.core.auth.time.time", lambda: later)
    assert await v.verify_token(token) is None
