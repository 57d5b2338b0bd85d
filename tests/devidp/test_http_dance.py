"""The whole dance a desktop assistant does, over real HTTP against the provider alone, with
customers in real PostgreSQL: discover → register (or a metadata document) → login form →
code → token (PKCE) → refresh (rotation) → reuse detected → revoke."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from mcp.client.auth.utils import validate_authorization_response_iss
from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
)
from pydantic import AnyUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from servers.core.scopes import CUSTOMER_SCOPES

from .live import serve
from .support import DEV_PASSWORD, callback_query, hidden_fields, pkce_pair

JOHN_EMAIL = "john.doe@example.com"


def _verify(token: str, http: httpx.Client, metadata: dict[str, Any]) -> dict[str, Any]:
    """Check a token as a resource server does: JWKS from the advertised URI, iss, exp."""
    jwks = http.get(metadata["jwks_uri"]).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid))
    claims: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        issuer=metadata["issuer"],
        options={"verify_aud": False, "require": ["exp", "iat", "iss", "sub"]},
    )
    return claims


def _sign_in(
    http: httpx.Client, metadata: dict[str, Any], client_id: str, redirect_uri: str
) -> dict[str, Any]:
    """Authorize through the login form and redeem the code; the token response."""
    verifier, challenge = pkce_pair()
    page = http.get(
        metadata["authorization_endpoint"],
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": "tickets/read tickets/write payments/read payments/write",
            "state": "dance",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200, page.text
    posted = http.post(
        metadata["authorization_endpoint"],
        data={**hidden_fields(page.text), "email": JOHN_EMAIL, "password": DEV_PASSWORD},
    )
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"].startswith(redirect_uri + "?")
    query = callback_query(posted.headers["location"])
    assert query["state"] == "dance"
    tokens = http.post(
        metadata["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "code": query["code"],
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200, tokens.text
    body: dict[str, Any] = tokens.json()
    return body


def _refresh(
    http: httpx.Client, metadata: dict[str, Any], client_id: str, token: str
) -> httpx.Response:
    return http.post(
        metadata["token_endpoint"],
        data={"grant_type": "refresh_token", "client_id": client_id, "refresh_token": token},
    )


def test_register_sign_in_refresh_reuse_revoke(live_idp: str) -> None:
    with httpx.Client(base_url=live_idp, timeout=10) as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
        assert metadata["client_id_metadata_document_supported"] is True

        registered = http.post(
            metadata["registration_endpoint"],
            json={
                "client_name": "Dance Test",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
                "response_types": ["code"],
            },
        )
        assert registered.status_code == 201, registered.text
        client_id = registered.json()["client_id"]

        # The client listens on a port of its choosing (RFC 8252 §7.3).
        first = _sign_in(http, metadata, client_id, "http://127.0.0.1:47001/callback")
        claims = _verify(first["access_token"], http, metadata)
        assert claims["client_id"] == client_id
        assert claims["username"] == JOHN_EMAIL
        assert claims["token_use"] == "access"
        assert set(claims["scope"].split()) <= set(CUSTOMER_SCOPES)

        rotated = _refresh(http, metadata, client_id, first["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        second = rotated.json()
        assert second["refresh_token"] != first["refresh_token"]
        assert _verify(second["access_token"], http, metadata)["sub"] == claims["sub"]

        reused = _refresh(http, metadata, client_id, first["refresh_token"])
        assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
        family_gone = _refresh(http, metadata, client_id, second["refresh_token"])
        assert family_gone.status_code == 400

        again = _sign_in(http, metadata, client_id, "http://127.0.0.1:47002/callback")
        revoked = http.post(
            metadata["revocation_endpoint"],
            data={"token": again["refresh_token"], "client_id": client_id},
        )
        assert revoked.status_code == 200
        after = _refresh(http, metadata, client_id, again["refresh_token"])
        assert (after.status_code, after.json()["error"]) == (400, "invalid_grant")


@pytest.fixture
def metadata_document() -> Iterator[str]:
    """A client metadata document served over real HTTP on loopback (dev mode allows http)."""
    url: dict[str, str] = {}

    async def document(request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "client_id": url["self"],
                "client_name": "Document Client",
                "redirect_uris": ["http://127.0.0.1/callback"],
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            }
        )

    def build(base_url: str) -> Starlette:
        url["self"] = f"{base_url}/oauth/client.json"
        return Starlette(routes=[Route("/oauth/client.json", document)])

    with serve(build):
        yield url["self"]


def test_a_client_metadata_document_is_its_own_registration(
    live_idp: str, metadata_document: str
) -> None:
    with httpx.Client(base_url=live_idp, timeout=10) as http:
        metadata = http.get("/.well-known/oauth-authorization-server").json()
        page = http.get(
            metadata["authorization_endpoint"],
            params={
                "response_type": "code",
                "client_id": metadata_document,
                "redirect_uri": "http://127.0.0.1:47003/callback",
                "code_challenge": pkce_pair()[1],
                "code_challenge_method": "S256",
            },
        )
        assert page.status_code == 200, page.text
        assert "Document Client" in page.text

        tokens = _sign_in(http, metadata, metadata_document, "http://127.0.0.1:47004/callback")
        claims = _verify(tokens["access_token"], http, metadata)
        assert claims["client_id"] == metadata_document
        rotated = _refresh(http, metadata, metadata_document, tokens["refresh_token"])
        assert rotated.status_code == 200, rotated.text


def test_the_mcp_sdk_understands_every_answer(live_idp: str) -> None:
    """What the MCP Python SDK's OAuthClientProvider sends and parses, checked with its own
    models: metadata, a registration of its default shape, the RFC 9207 `iss`, tokens."""
    with httpx.Client(base_url=live_idp, timeout=10) as http:
        raw = http.get("/.well-known/oauth-authorization-server").json()
        metadata = OAuthMetadata.model_validate(raw)
        assert str(metadata.issuer) == raw["issuer"]
        assert metadata.registration_endpoint is not None

        request = OAuthClientMetadata(
            redirect_uris=[AnyUrl("http://localhost:3030/callback")],
            client_name="MCP SDK",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
            scope="tickets/read tickets/write",
        )
        registered = http.post(
            str(metadata.registration_endpoint),
            json=request.model_dump(by_alias=True, mode="json", exclude_none=True),
        )
        assert registered.status_code == 201, registered.text
        info = OAuthClientInformationFull.model_validate(registered.json())
        assert info.client_id is not None
        assert info.client_secret is None

        verifier, challenge = pkce_pair()
        page = http.get(
            str(metadata.authorization_endpoint),
            params={
                "response_type": "code",
                "client_id": info.client_id,
                "redirect_uri": "http://localhost:3030/callback",
                "scope": "tickets/read tickets/write",
                "state": "sdk",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        posted = http.post(
            str(metadata.authorization_endpoint),
            data={**hidden_fields(page.text), "email": JOHN_EMAIL, "password": DEV_PASSWORD},
        )
        query = callback_query(posted.headers["location"])
        validate_authorization_response_iss(query.get("iss"), metadata)

        response = http.post(
            str(metadata.token_endpoint),
            data={
                "grant_type": "authorization_code",
                "client_id": info.client_id,
                "redirect_uri": "http://localhost:3030/callback",
                "code": query["code"],
                "code_verifier": verifier,
            },
        )
        token = OAuthToken.model_validate(response.json())
        assert token.refresh_token is not None
        assert token.expires_in == 3600
        assert token.scope == "tickets/read tickets/write"
