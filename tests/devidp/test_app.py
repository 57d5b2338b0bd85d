from __future__ import annotations

import base64
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from servers.core.scopes import CUSTOMER_SCOPES, OPS_SCOPES
from servers.devidp.app import build_app
from servers.devidp.clients import ClientRegistry
from servers.devidp.settings import IdpSettings
from servers.devidp.users import UnconfiguredUserDirectory

from .support import (
    DEV_PASSWORD,
    ISSUER,
    JOHN,
    ORIGIN,
    FakeClock,
    FakeUsers,
    hidden_fields,
    pkce_pair,
    verify,
)

WEB_CALLBACK = "http://localhost:5173/callback"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def _basic(client_id: str, secret: str) -> dict[str, str]:
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"authorization": f"Basic {raw}"}


def _secret(registry: ClientRegistry, name: str) -> str:
    secret = registry.client_secret(name)
    assert secret is not None
    return secret


async def _jwks(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    jwks: dict[str, Any] = response.json()
    return jwks


def _authorize_params(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": WEB_CALLBACK,
        "scope": "openid email tickets/read tickets/write",
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return params


async def _login(
    client: httpx.AsyncClient,
    challenge: str,
    *,
    email: str = JOHN.email,
    password: str = DEV_PASSWORD,
    **overrides: str,
) -> httpx.Response:
    page = await client.get("/oauth2/authorize", params=_authorize_params(challenge, **overrides))
    assert page.status_code == 200, page.text
    form = {**hidden_fields(page.text), "email": email, "password": password}
    return await client.post("/oauth2/authorize", data=form, headers={"origin": ORIGIN})


def _redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == WEB_CALLBACK
    return {k: v[0] for k, v in parse_qs(location.query).items()}


async def _exchange(
    client: httpx.AsyncClient, code: str, verifier: str, **overrides: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": WEB_CALLBACK,
        "client_id": "web",
        "code_verifier": verifier,
        **overrides,
    }
    return await client.post("/oauth2/token", data=data)


# --- metadata ---------------------------------------------------------------------------


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    "path", ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"]
)
async def test_discovery_document(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    doc = response.json()
    assert doc["issuer"] == ISSUER
    assert doc["jwks_uri"] == f"{ORIGIN}/.well-known/jwks.json"
    assert doc["token_endpoint"] == f"{ORIGIN}/oauth2/token"
    assert doc["authorization_endpoint"] == f"{ORIGIN}/oauth2/authorize"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["token_endpoint_auth_methods_supported"] == [
        "client_secret_basic",
        "client_secret_post",
        "none",
    ]
    assert doc["response_types_supported"] == ["code"]
    assert set(doc["grant_types_supported"]) == {
        "client_credentials",
        "authorization_code",
        "refresh_token",
    }
    assert doc["registration_endpoint"] == f"{ORIGIN}/oauth2/register"
    assert doc["revocation_endpoint"] == f"{ORIGIN}/oauth2/revoke"
    assert doc["client_id_metadata_document_supported"] is True
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert {"openid", "tickets/read", "data/write", "concierge/chat"} <= set(
        doc["scopes_supported"]
    )


async def test_jwks_has_one_rs256_signing_key(client: httpx.AsyncClient) -> None:
    (key,) = (await _jwks(client))["keys"]
    assert key["kty"] == "RSA"
    assert key["alg"] == "RS256"
    assert key["use"] == "sig"
    assert "d" not in key


# --- client credentials -----------------------------------------------------------------


async def test_client_credentials_with_basic_auth(
    client: httpx.AsyncClient, registry: ClientRegistry
) -> None:
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=_basic("ops", _secret(registry, "ops")),
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert "id_token" not in body
    claims = verify(body["access_token"], await _jwks(client))
    assert claims["token_use"] == "access"
    assert claims["client_id"] == "ops"
    assert claims["sub"] == "ops"
    assert claims["scope"].split() == list(OPS_SCOPES)
    assert "aud" not in claims
    assert "username" not in claims
    assert claims["exp"] - claims["iat"] == 900


async def test_client_credentials_with_post_auth_and_narrowed_scope(
    client: httpx.AsyncClient, registry: ClientRegistry
) -> None:
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "ticket-server",
            "client_secret": _secret(registry, "ticket-server"),
            "scope": "payments/write data/read",
        },
    )
    assert response.status_code == 200, response.text
    claims = verify(response.json()["access_token"], await _jwks(client))
    assert claims["scope"] == "payments/write data/read"
    assert claims["client_id"] == "ticket-server"


@pytest.mark.parametrize("method", ["basic", "post"])
async def test_wrong_secret_is_invalid_client(
    client: httpx.AsyncClient, registry: ClientRegistry, method: str
) -> None:
    wrong = _secret(registry, "ops") + "x"
    data = {"grant_type": "client_credentials"}
    headers = {}
    if method == "basic":
        headers = _basic("ops", wrong)
    else:
        data |= {"client_id": "ops", "client_secret": wrong}
    response = await client.post("/oauth2/token", data=data, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert ("www-authenticate" in response.headers) == (method == "basic")


async def test_confidential_client_without_secret_is_invalid_client(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": "ops"}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_disallowed_scope_is_invalid_scope(
    client: httpx.AsyncClient, registry: ClientRegistry
) -> None:
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "data/read concierge/chat"},
        headers=_basic("host-agent", _secret(registry, "host-agent")),
    )
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_scope"
    assert "data/read" in body["error_description"]
    assert "access_token" not in body


async def test_public_client_cannot_use_client_credentials(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/oauth2/token", data={"grant_type": "client_credentials", "client_id": "web"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


async def test_token_endpoint_request_errors(
    client: httpx.AsyncClient, registry: ClientRegistry
) -> None:
    auth = _basic("ops", _secret(registry, "ops"))
    unsupported = await client.post("/oauth2/token", data={"grant_type": "password"}, headers=auth)
    assert (unsupported.status_code, unsupported.json()["error"]) == (
        400,
        "unsupported_grant_type",
    )
    as_json = await client.post(
        "/oauth2/token", json={"grant_type": "client_credentials"}, headers=auth
    )
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    repeated = await client.post(
        "/oauth2/token",
        content="grant_type=client_credentials&scope=data/read&scope=data/write",
        headers={**auth, **FORM},
    )
    assert (repeated.status_code, repeated.json()["error"]) == (400, "invalid_request")


# --- authorization code + PKCE ----------------------------------------------------------


async def test_authorization_code_flow(client: httpx.AsyncClient, users: FakeUsers) -> None:
    verifier, challenge = pkce_pair()
    state = 'a&b=c "quoted" <tag>'
    query = _redirect_query(
        await _login(client, challenge, email="John.Doe@Example.com", state=state, nonce="n-42")
    )
    assert query["state"] == state
    assert query["iss"] == ISSUER  # RFC 9207
    assert users.lookups == ["John.Doe@Example.com"]

    response = await _exchange(client, query["code"], verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    jwks = await _jwks(client)
    access = verify(body["access_token"], jwks)
    assert access["sub"] == JOHN.customer_id
    assert access["username"] == JOHN.email
    assert access["client_id"] == "web"
    assert access["token_use"] == "access"
    assert access["scope"] == "openid email tickets/read tickets/write"
    assert "aud" not in access
    id_claims = verify(body["id_token"], jwks, audience="web")
    assert id_claims["token_use"] == "id"
    assert id_claims["sub"] == JOHN.customer_id
    assert id_claims["email"] == JOHN.email
    assert id_claims["nonce"] == "n-42"
    assert id_claims["auth_time"] == access["auth_time"]


async def test_no_openid_scope_means_no_id_token(client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    query = _redirect_query(await _login(client, challenge, scope="tickets/read"))
    body = (await _exchange(client, query["code"], verifier)).json()
    assert "id_token" not in body
    assert verify(body["access_token"], await _jwks(client))["scope"] == "tickets/read"


async def test_default_scope_is_everything_the_client_may_have(
    client: httpx.AsyncClient,
) -> None:
    verifier, challenge = pkce_pair()
    params = _authorize_params(challenge, client_id="mcp-inspector")
    params.pop("scope")
    params["redirect_uri"] = "http://localhost:6274/oauth/callback"
    page = await client.get("/oauth2/authorize", params=params)
    assert page.status_code == 200
    form = {**hidden_fields(page.text), "email": JOHN.email, "password": DEV_PASSWORD}
    redirect = await client.post("/oauth2/authorize", data=form, headers={"origin": ORIGIN})
    assert redirect.status_code == 303
    location = urlsplit(redirect.headers["location"])
    code = parse_qs(location.query)["code"][0]
    response = await _exchange(
        client,
        code,
        verifier,
        client_id="mcp-inspector",
        redirect_uri="http://localhost:6274/oauth/callback",
    )
    claims = verify(response.json()["access_token"], await _jwks(client))
    assert claims["scope"].split() == list(CUSTOMER_SCOPES)


async def test_wrong_verifier_is_invalid_grant(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    query = _redirect_query(await _login(client, challenge))
    response = await _exchange(client, query["code"], other_verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    assert "access_token" not in response.json()


async def test_code_is_single_use(client: httpx.AsyncClient) -> None:
    verifier, challenge = pkce_pair()
    code = _redirect_query(await _login(client, challenge))["code"]
    first = await _exchange(client, code, verifier)
    assert first.status_code == 200
    second = await _exchange(client, code, verifier)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"


async def test_code_expires_after_five_minutes(client: httpx.AsyncClient, clock: FakeClock) -> None:
    verifier, challenge = pkce_pair()
    code = _redirect_query(await _login(client, challenge))["code"]
    clock.now += 301
    response = await _exchange(client, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    "overrides",
    [{"redirect_uri": "http://127.0.0.1:8080/callback"}, {"client_id": "mcp-inspector"}],
)
async def test_code_is_bound_to_client_and_redirect_uri(
    client: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    verifier, challenge = pkce_pair()
    code = _redirect_query(await _login(client, challenge))["code"]
    response = await _exchange(client, code, verifier, **overrides)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("email", "password"),
    [(JOHN.email, "wrong"), ("nobody@example.com", DEV_PASSWORD), ("", DEV_PASSWORD)],
)
async def test_wrong_credentials_show_the_page_again(
    client: httpx.AsyncClient, email: str, password: str
) -> None:
    _, challenge = pkce_pair()
    response = await _login(client, challenge, email=email, password=password)
    assert response.status_code == 401
    assert "location" not in response.headers
    assert "Incorrect e-mail or password." in response.text
    assert hidden_fields(response.text)["code_challenge"] == challenge


async def test_unknown_redirect_uri_is_an_error_page(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    evil = "https://evil.example/callback"
    response = await client.get(
        "/oauth2/authorize", params=_authorize_params(challenge, redirect_uri=evil)
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Unknown redirect URI" in response.text
    assert "<form" not in response.text


async def test_unknown_client_is_an_error_page(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    response = await client.get(
        "/oauth2/authorize", params=_authorize_params(challenge, client_id="nope")
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Unknown client" in response.text


async def test_tampered_redirect_uri_in_post_is_refused(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    page = await client.get("/oauth2/authorize", params=_authorize_params(challenge))
    form = {
        **hidden_fields(page.text),
        "redirect_uri": "https://evil.example/cb",
        "email": JOHN.email,
        "password": DEV_PASSWORD,
    }
    response = await client.post("/oauth2/authorize", data=form, headers={"origin": ORIGIN})
    assert response.status_code == 400
    assert "location" not in response.headers


async def test_missing_pkce_is_reported_to_the_client(client: httpx.AsyncClient) -> None:
    params = _authorize_params("unused")
    del params["code_challenge"], params["code_challenge_method"]
    response = await client.get("/oauth2/authorize", params=params)
    query = _redirect_query(response)
    assert query["error"] == "invalid_request"
    assert query["state"] == "st-123"
    assert query["iss"] == ISSUER
    assert "code" not in query


async def test_plain_pkce_is_refused(client: httpx.AsyncClient) -> None:
    verifier, _ = pkce_pair()
    params = _authorize_params(verifier[:43], code_challenge_method="plain")
    query = _redirect_query(await client.get("/oauth2/authorize", params=params))
    assert query["error"] == "invalid_request"


async def test_disallowed_scope_is_reported_to_the_client(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    params = _authorize_params(challenge, scope="tickets/read data/write")
    query = _redirect_query(await client.get("/oauth2/authorize", params=params))
    assert query["error"] == "invalid_scope"


async def test_echoed_values_are_escaped(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    state = '"><script>alert(1)</script>'
    page = await client.get("/oauth2/authorize", params=_authorize_params(challenge, state=state))
    assert page.status_code == 200
    assert "<script>" not in page.text
    assert "&lt;script&gt;" in page.text
    assert hidden_fields(page.text)["state"] == state
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    form = {**hidden_fields(page.text), "email": '"><script>x</script>', "password": "x"}
    again = await client.post("/oauth2/authorize", data=form, headers={"origin": ORIGIN})
    assert again.status_code == 401
    assert "<script>" not in again.text


async def test_cross_origin_login_post_is_refused(
    client: httpx.AsyncClient, users: FakeUsers
) -> None:
    _, challenge = pkce_pair()
    page = await client.get("/oauth2/authorize", params=_authorize_params(challenge))
    form = {**hidden_fields(page.text), "email": JOHN.email, "password": DEV_PASSWORD}
    response = await client.post(
        "/oauth2/authorize", data=form, headers={"origin": "http://evil.example"}
    )
    assert response.status_code == 403
    assert "location" not in response.headers
    assert users.lookups == []


async def test_login_post_without_origin_is_accepted(client: httpx.AsyncClient) -> None:
    _, challenge = pkce_pair()
    page = await client.get("/oauth2/authorize", params=_authorize_params(challenge))
    form = {**hidden_fields(page.text), "email": JOHN.email, "password": DEV_PASSWORD}
    response = await client.post("/oauth2/authorize", data=form)
    assert "code" in _redirect_query(response)


async def test_directory_failure_is_explained(settings: IdpSettings, clock: FakeClock) -> None:
    app = build_app(settings, users=UnconfiguredUserDirectory(), clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ISSUER) as http:
        _, challenge = pkce_pair()
        response = await _login(http, challenge)
    assert response.status_code == 503
    assert "IDP_DATABASE_URL" in response.text


# --- browser-facing protections ---------------------------------------------------------


async def test_cors_allows_registered_browser_origins_only(client: httpx.AsyncClient) -> None:
    preflight = {"access-control-request-method": "POST"}
    allowed = await client.options(
        "/oauth2/token", headers={"origin": "http://localhost:5173", **preflight}
    )
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    refused = await client.options(
        "/oauth2/token", headers={"origin": "http://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers


async def test_loopback_server_refuses_foreign_host_header(client: httpx.AsyncClient) -> None:
    assert (await client.get("/health", headers={"host": "localhost:9000"})).status_code == 200
    response = await client.get("/health", headers={"host": "rebound.evil.example"})
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://127.0.0.1:51234", True),
        ("http://localhost:6275", True),
        ("http://[::1]:3000", True),
        ("http://127.0.0.1.evil.example", False),
        ("https://localhost.evil.example:443", False),
        ("http://evil.example", False),
    ],
)
async def test_cors_allows_any_loopback_browser_app(
    client: httpx.AsyncClient, origin: str, allowed: bool
) -> None:
    # A browser-based MCP client on this machine registers and redeems codes from its own
    # origin, whatever port it was started on.
    response = await client.options(
        "/oauth2/register",
        headers={"origin": origin, "access-control-request-method": "POST"},
    )
    assert (response.headers.get("access-control-allow-origin") == origin) is allowed
    assert "access-control-allow-credentials" not in response.headers
