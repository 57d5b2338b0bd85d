"""The access-token rules Cognito needs beyond FastMCP's JWT verifier, what a refused client is
told, JWKS rotation, and the one notion of the caller that fails closed."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import httpx2
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastmcp import Client, FastMCP
from pydantic import AnyHttpUrl

from servers.core.auth import (
    CLIENT_NOT_ALLOWED,
    EXPIRED,
    MALFORMED,
    NOT_ACCESS,
    NOT_YET_VALID,
    UNKNOWN_ISSUER,
    UNVERIFIED,
    CognitoAccessTokenVerifier,
    Principal,
    ResourceServerAuth,
    TokenRefused,
    acting_as,
    build_auth,
    current_caller,
)
from servers.core.auth import NOT_FOR_THIS_RESOURCE as NOT_FOR
from servers.devidp.keys import SigningKey
from servers.devidp.tokens import mint_access_token, mint_id_token

ISSUER = "https://idp.test"
JWKS_URI = f"{ISSUER}/.well-known/jwks.json"
BASE_URL = "https://data.test"


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


class FlakyJwks(Jwks):
    """A JWKS endpoint whose first fetch fails, as when the issuer is not reachable yet."""

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        self.fetches += 1
        if self.fetches == 1:
            raise httpx2.ConnectError("connection refused", request=request)
        return httpx2.Response(200, json={"keys": [k.public_jwk() for k in self.keys]})


def verifier(jwks: Jwks, **overrides: Any) -> CognitoAccessTokenVerifier:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "jwks_uri": JWKS_URI,
        "resource": "data",
        "base_url": BASE_URL,
        "service_client_ids": ["ops", "ticket-server"],
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


def claims_of(key: SigningKey, **changes: Any) -> str:
    """An access token re-signed with some claims changed (None removes one)."""
    claims = jwt.decode(access(key), options={"verify_signature": False})
    for name, value in changes.items():
        if value is None:
            del claims[name]
        else:
            claims[name] = value
    return jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.kid})


def in_a_minute_and_a_half() -> int:
    return int(time.time()) + 90


# Each refused token, and the class of problem the client is told (never the internals).
REFUSED: list[tuple[str, Any, str]] = [
    ("expired", lambda k: access(k, now=datetime.now(UTC) - timedelta(hours=2), ttl=60), EXPIRED),
    ("wrong issuer", lambda k: access(k, issuer="https://evil.test"), UNKNOWN_ISSUER),
    (
        "service scope, not a service client",
        lambda k: access(k, client_id="stranger", sub="stranger"),
        CLIENT_NOT_ALLOWED,
    ),
    ("no scope of this resource server", lambda k: access(k, scopes=["tickets/read"]), NOT_FOR),
    ("forged signature", lambda k: access(_forged(k)), UNVERIFIED),
    (
        "id token",
        lambda k: mint_id_token(
            key=k, issuer=ISSUER, sub="cus_x", client_id="web", email="a@example.com"
        ),
        NOT_ACCESS,
    ),
    ("not a jwt", lambda k: "not-a-token", MALFORMED),
    ("no token_use", lambda k: claims_of(k, token_use=None), NOT_ACCESS),
    ("nbf in the future", lambda k: claims_of(k, nbf=in_a_minute_and_a_half()), NOT_YET_VALID),
    ("iat in the future", lambda k: claims_of(k, iat=in_a_minute_and_a_half()), NOT_YET_VALID),
    ("foreign aud", lambda k: claims_of(k, aud="https://payment.test/mcp"), NOT_FOR),
    ("aud of another path", lambda k: claims_of(k, aud=f"{BASE_URL}/other"), NOT_FOR),
    ("aud list without us", lambda k: claims_of(k, aud=["https://x.test", "web"]), NOT_FOR),
]


@pytest.mark.parametrize(
    ("make", "told"), [(m, t) for _, m, t in REFUSED], ids=[n for n, *_ in REFUSED]
)
async def test_tokens_that_must_be_refused_say_why(make: Any, told: str) -> None:
    key = new_key()
    v = verifier(Jwks(key))
    token = make(key)
    assert await v.verify_token(token) is None
    with pytest.raises(TokenRefused) as refused:
        await v.check(token)
    assert refused.value.description == told
    assert "re-register" not in told


@pytest.mark.parametrize(
    "aud",
    [BASE_URL, f"{BASE_URL}/", f"{BASE_URL}/mcp", f"{BASE_URL}/mcp/", ["web", f"{BASE_URL}/mcp"]],
)
async def test_an_aud_naming_this_server_is_accepted_with_or_without_mcp_and_slash(
    aud: object,
) -> None:
    key = new_key()
    assert await verifier(Jwks(key)).verify_token(claims_of(key, aud=aud)) is not None


async def test_clock_skew_of_less_than_a_minute_is_tolerated() -> None:
    key = new_key()
    soon = int(time.time()) + 30
    token = claims_of(key, nbf=soon, iat=soon)
    assert await verifier(Jwks(key)).verify_token(token) is not None


async def test_any_client_of_the_issuer_may_use_customer_scopes() -> None:
    key = new_key()
    v = verifier(Jwks(key), resource="tickets")
    token = access(key, client_id="dcr-7f3a", sub="cus_x", scopes=["tickets/read"])
    result = await v.verify_token(token)
    assert result is not None
    assert result.client_id == "dcr-7f3a"


async def test_service_only_scopes_are_dropped_from_other_clients_tokens() -> None:
    # payments/write is a customer's scope, payments/refund a service's: a stranger keeps the
    # first only, so a refund is then refused as a missing scope (403), not let through.
    key = new_key()
    v = verifier(Jwks(key), resource="payments")
    token = access(
        key, client_id="dcr-7f3a", sub="cus_x", scopes=["payments/write", "payments/refund"]
    )
    result = await v.verify_token(token)
    assert result is not None
    assert result.scopes == ["payments/write"]
    ours = access(key, client_id="ticket-server", sub="ticket-server", scopes=["payments/refund"])
    service = await v.verify_token(ours)
    assert service is not None
    assert service.scopes == ["payments/refund"]


async def test_an_operator_allow_list_refuses_every_other_client() -> None:
    key = new_key()
    v = verifier(Jwks(key), client_ids=["ops"])
    assert await v.verify_token(access(key)) is not None
    with pytest.raises(TokenRefused) as refused:
        await v.check(access(key, client_id="ticket-server", sub="ticket-server"))
    assert refused.value.description == CLIENT_NOT_ALLOWED


def _forged(real: SigningKey) -> SigningKey:
    # Same kid as the published key, different private key: only the signature gives it away.
    forged = new_key()
    return SigningKey(private_key=forged.private_key, kid=real.kid)


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


# The one notion of the caller -----------------------------------------------------------------


def who_server() -> FastMCP:
    mcp = FastMCP("who")

    @mcp.tool
    async def who() -> dict[str, str | None]:
        caller = current_caller()
        return {"client": caller.client_id, "customer": caller.customer_id}

    return mcp


async def test_a_tool_call_without_a_token_fails_closed() -> None:
    async with Client(who_server()) as client:
        result = await client.call_tool("who", {}, raise_on_error=False)
    assert result.is_error
    assert "NOT_ALLOWED: this call carries no access token" in str(result.content[0])


async def test_an_in_process_caller_is_explicit_and_scoped_to_its_block() -> None:
    async with Client(who_server()) as client:
        with acting_as(Principal("web", "cus_x")):
            customer = await client.call_tool("who", {})
        with acting_as(Principal("ticket-server", "ticket-server")):
            service = await client.call_tool("who", {})
        after = await client.call_tool("who", {}, raise_on_error=False)
    assert customer.structured_content == {"client": "web", "customer": "cus_x"}
    assert service.structured_content == {"client": "ticket-server", "customer": None}
    assert after.is_error


# The 401 a refused token gets, over the ASGI app --------------------------------------------


async def test_a_refused_token_gets_a_json_401_naming_the_class_of_problem() -> None:
    key = new_key()
    mcp = FastMCP("data")

    @mcp.tool
    async def ping() -> str:
        return "pong"

    mcp.auth = ResourceServerAuth(
        verifier=verifier(Jwks(key)),
        protected_path="/mcp",
        resource_metadata_url=f"{BASE_URL}/.well-known/oauth-protected-resource/mcp",
        authorization_servers=[AnyHttpUrl(ISSUER)],
        base_url=BASE_URL,
        scopes_supported=["data/read"],
    )
    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    expired = access(key, now=datetime.now(UTC) - timedelta(hours=2), ttl=60)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http,
    ):
        refused = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {expired}", "Accept": "application/json"},
        )
        metadata = await http.get(
            "/.well-known/oauth-protected-resource/mcp",
            headers={"Authorization": f"Bearer {expired}"},
        )
        missing = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json"},
        )
    assert refused.status_code == 401
    assert refused.json() == {"error": "invalid_token", "error_description": EXPIRED}
    # With no token at all: discovery starts here, so no error attribute in the challenge
    # (RFC 6750 §3.1), but the body is JSON like every other refusal.
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthorized"
    assert "/.well-known/oauth-protected-resource/mcp" in missing.json()["error_description"]
    assert "error=" not in missing.headers["www-authenticate"]
    assert "resource_metadata=" in missing.headers["www-authenticate"]
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith('Bearer error="invalid_token", ')
    assert f'error_description="{EXPIRED}"' in challenge
    assert f'resource_metadata="{BASE_URL}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert "re-register" not in refused.text
    # Discovery still works for a client holding a stale token.
    assert metadata.status_code == 200


async def test_the_metadata_names_the_authorization_server_given_not_the_issuer() -> None:
    edge = "https://auth.tickets.example.com/"
    mcp = FastMCP("data")
    mcp.auth = build_auth(
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}/.well-known/jwks.json",
        resource="data",
        scopes=["data/read"],
        base_url=BASE_URL,
        mcp_path="/mcp",
        name="data",
        service_client_ids=["ticket-server"],
        authorization_servers=[edge],
    )
    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as http,
    ):
        metadata = await http.get("/.well-known/oauth-protected-resource/mcp")
    assert metadata.status_code == 200
    assert metadata.json()["authorization_servers"] == [edge]


async def test_a_failed_jwks_fetch_is_retried_soon_not_after_the_refresh_interval() -> None:
    # Before, FastMCP's 30 s between refresh attempts also followed a fetch that never reached
    # the issuer: every token, valid ones included, was refused for 30 s (a flaky CI failure).
    key = new_key()
    jwks = FlakyJwks(key)
    checker = verifier(jwks, jwks_refresh_interval=30, jwks_retry_seconds=0)
    token = access(key)
    with pytest.raises(TokenRefused):
        await checker.check(token)
    accepted = await checker.check(token)
    assert accepted.client_id == "ops"
    assert jwks.fetches == 2


async def test_a_successful_fetch_keeps_the_refresh_interval_for_unknown_keys() -> None:
    known, unknown = new_key(), new_key()
    jwks = Jwks(known)
    checker = verifier(jwks, jwks_refresh_interval=30, jwks_retry_seconds=0)
    await checker.check(access(known))
    for _ in range(3):
        with pytest.raises(TokenRefused):
            await checker.check(access(unknown))
    # One fetch for the known key and at most one for the unknown kid, not one per token.
    assert jwks.fetches <= 2


@pytest.mark.parametrize(
    ("scopes", "advertised"),
    [
        (
            ["tickets/read", "tickets/write", "tickets/catalogue", "tickets/operate"],
            ["tickets/read", "tickets/write", "tickets/catalogue"],
        ),
        (
            ["payments/read", "payments/write", "payments/refund"],
            ["payments/read", "payments/write"],
        ),
        (["data/read", "data/write"], ["data/read", "data/write"]),
    ],
)
def test_the_metadata_advertises_what_a_registered_client_may_request(
    scopes: list[str], advertised: list[str]
) -> None:
    """MCP clients ask for every advertised scope, and registration refuses service-only ones:
    a resource with customer scopes advertises only those."""
    auth = build_auth(
        issuer=ISSUER,
        jwks_uri=f"{ISSUER}/.well-known/jwks.json",
        resource=scopes[0].split("/")[0],
        scopes=scopes,
        base_url=BASE_URL,
        mcp_path="/mcp",
        name="server",
        service_client_ids=["ops"],
    )
    assert auth.scopes_supported == advertised
