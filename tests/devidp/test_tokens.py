from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from servers.devidp.keys import SigningKey
from servers.devidp.tokens import mint_access_token, mint_id_token

from .support import ISSUER, verify


def test_client_access_token_shape(signing_key: SigningKey) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    token = mint_access_token(
        key=signing_key,
        issuer=ISSUER,
        sub="ops",
        client_id="ops",
        scopes=["data/read", "data/write"],
        ttl=600,
        now=now,
    )
    assert jwt.get_unverified_header(token) == {
        "alg": "RS256",
        "kid": signing_key.kid,
        "typ": "JWT",
    }
    claims = verify(token, signing_key.jwks())
    assert set(claims) == {
        "iss", "sub", "client_id", "token_use", "scope", "auth_time", "iat", "exp", "jti", "version"
    }  # fmt: skip
    assert claims["token_use"] == "access"
    assert claims["scope"] == "data/read data/write"
    assert claims["client_id"] == "ops"
    assert claims["version"] == 2
    assert claims["iat"] == claims["auth_time"] == int(now.timestamp())
    assert claims["exp"] == int(now.timestamp()) + 600


def test_user_access_token_carries_username(signing_key: SigningKey) -> None:
    token = mint_access_token(
        key=signing_key,
        issuer=ISSUER,
        sub="cus_1",
        client_id="web",
        scopes=["tickets/read"],
        username="john.doe@example.com",
    )
    claims = verify(token, signing_key.jwks())
    assert claims["username"] == "john.doe@example.com"
    assert claims["sub"] == "cus_1"
    assert "aud" not in claims


def test_jti_is_unique(signing_key: SigningKey) -> None:
    def mint() -> str:
        return mint_access_token(
            key=signing_key, issuer=ISSUER, sub="ops", client_id="ops", scopes=["data/read"]
        )

    assert verify(mint(), signing_key.jwks())["jti"] != verify(mint(), signing_key.jwks())["jti"]


def test_id_token_shape(signing_key: SigningKey) -> None:
    token = mint_id_token(
        key=signing_key,
        issuer=ISSUER,
        sub="cus_1",
        client_id="web",
        email="john.doe@example.com",
        nonce="n-1",
    )
    claims = verify(token, signing_key.jwks(), audience="web")
    assert claims["token_use"] == "id"
    assert claims["aud"] == "web"
    assert claims["email"] == "john.doe@example.com"
    assert claims["cognito:username"] == "john.doe@example.com"
    assert claims["nonce"] == "n-1"
    with pytest.raises(jwt.InvalidAudienceError):
        verify(token, signing_key.jwks(), audience="mcp-inspector")


def test_expired_token_is_rejected(signing_key: SigningKey) -> None:
    token = mint_access_token(
        key=signing_key,
        issuer=ISSUER,
        sub="ops",
        client_id="ops",
        scopes=["data/read"],
        ttl=60,
        now=datetime.now(UTC) - timedelta(hours=1),
    )
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(token, signing_key.jwks())


def test_naive_now_is_refused(signing_key: SigningKey) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        mint_access_token(
            key=signing_key,
            issuer=ISSUER,
            sub="ops",
            client_id="ops",
            scopes=[],
            now=datetime(2030, 1, 1),
        )
