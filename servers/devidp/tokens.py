"""Minting Cognito-shaped access and ID tokens (RS256, ``kid`` in the header)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import jwt

from servers.devidp.keys import ALGORITHM, SigningKey

DEFAULT_TTL_SECONDS = 3600


def _epoch(now: datetime | None) -> int:
    moment = datetime.now(UTC) if now is None else now
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return int(moment.timestamp())


def _sign(key: SigningKey, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def mint_access_token(
    *,
    key: SigningKey,
    issuer: str,
    sub: str,
    client_id: str,
    scopes: Iterable[str],
    username: str | None = None,
    ttl: int = DEFAULT_TTL_SECONDS,
    auth_time: int | None = None,
    now: datetime | None = None,
) -> str:
    """An access token as Cognito issues it: no ``aud``; ``scope`` is space-separated.

    ``username`` is set for user tokens (the customer's e-mail) and left out for client tokens.
    """
    iat = _epoch(now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "client_id": client_id,
        "token_use": "access",
        "scope": " ".join(scopes),
        "auth_time": iat if auth_time is None else auth_time,
        "iat": iat,
        "exp": iat + ttl,
        "jti": str(uuid.uuid4()),
        "version": 2,
    }
    if username is not None:
        claims["username"] = username
    return _sign(key, claims)


def mint_id_token(
    *,
    key: SigningKey,
    issuer: str,
    sub: str,
    client_id: str,
    email: str,
    name: str | None = None,
    nonce: str | None = None,
    ttl: int = DEFAULT_TTL_SECONDS,
    auth_time: int | None = None,
    now: datetime | None = None,
) -> str:
    """An OpenID Connect ID token as Cognito issues it: ``aud`` is the client id."""
    iat = _epoch(now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": sub,
        "aud": client_id,
        "token_use": "id",
        "email": email,
        "email_verified": True,
        "cognito:username": email,
        "auth_time": iat if auth_time is None else auth_time,
        "iat": iat,
        "exp": iat + ttl,
        "jti": str(uuid.uuid4()),
    }
    if name is not None:
        claims["name"] = name
    if nonce is not None:
        claims["nonce"] = nonce
    return _sign(key, claims)
