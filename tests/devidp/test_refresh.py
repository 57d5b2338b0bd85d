"""Refresh tokens: issued with every sign-in of a client allowed them, rotated on each use;
reusing a rotated one revokes the whole sign-in; RFC 7009 revocation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from servers.devidp.clients import ClientRegistry
from servers.devidp.refresh import RefreshError, RefreshGrant, RefreshTokenStore

from .support import JOHN, FakeClock, exchange_code, sign_in, verify

INSPECTOR = "mcp-inspector"
CALLBACK = "http://localhost:6274/oauth/callback"


async def _signed_in(http: httpx.AsyncClient, scope: str | None = None) -> dict[str, Any]:
    code, verifier = await sign_in(http, client_id=INSPECTOR, redirect_uri=CALLBACK, scope=scope)
    response = await exchange_code(
        http, client_id=INSPECTOR, redirect_uri=CALLBACK, code=code, verifier=verifier
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _refresh(
    http: httpx.AsyncClient, token: str, client_id: str = INSPECTOR, **extra: str
) -> httpx.Response:
    return await http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
        | extra,
    )


async def test_refresh_rotates_and_mints_a_new_access_token(client: httpx.AsyncClient) -> None:
    first = await _signed_in(client)
    assert first["refresh_token"]
    response = await _refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["expires_in"] == 900
    jwks = (await client.get("/.well-known/jwks.json")).json()
    old, new = verify(first["access_token"], jwks), verify(second["access_token"], jwks)
    assert new["sub"] == JOHN.customer_id
    assert new["username"] == JOHN.email
    assert new["client_id"] == INSPECTOR
    assert new["scope"] == old["scope"]
    assert new["auth_time"] == old["auth_time"]
    assert new["jti"] != old["jti"]
    # The new refresh token works in turn.
    assert (await _refresh(client, second["refresh_token"])).status_code == 200


async def test_reusing_a_rotated_token_revokes_the_whole_sign_in(
    client: httpx.AsyncClient,
) -> None:
    first = await _signed_in(client)
    second = (await _refresh(client, first["refresh_token"])).json()
    reused = await _refresh(client, first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert "already used" in reused.json()["error_description"]
    # The thief (or the client) holding the newest token is signed out too.
    after = await _refresh(client, second["refresh_token"])
    assert after.status_code == 400
    assert after.json()["error"] == "invalid_grant"


async def test_another_sign_in_is_not_affected_by_reuse(client: httpx.AsyncClient) -> None:
    one, other = await _signed_in(client), await _signed_in(client)
    await _refresh(client, one["refresh_token"])
    await _refresh(client, one["refresh_token"])
    assert (await _refresh(client, other["refresh_token"])).status_code == 200


async def test_refresh_token_is_bound_to_its_client(client: httpx.AsyncClient) -> None:
    tokens = await _signed_in(client, scope="tickets/read")
    response = await _refresh(client, tokens["refresh_token"], client_id="web")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
    # Not revoked by someone else's attempt.
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 200


async def test_refresh_may_narrow_but_not_widen_the_scope(client: httpx.AsyncClient) -> None:
    tokens = await _signed_in(client, scope="tickets/read tickets/write")
    wider = await _refresh(client, tokens["refresh_token"], scope="tickets/read payments/write")
    assert (wider.status_code, wider.json()["error"]) == (400, "invalid_scope")
    narrowed = await _refresh(client, tokens["refresh_token"], scope="tickets/read")
    assert narrowed.status_code == 200, narrowed.text
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert verify(narrowed.json()["access_token"], jwks)["scope"] == "tickets/read"


async def test_refresh_tokens_expire_unused(client: httpx.AsyncClient, clock: FakeClock) -> None:
    tokens = await _signed_in(client)
    clock.now += 14 * 86400 + 1
    response = await _refresh(client, tokens["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


async def test_revocation_ends_the_sign_in(client: httpx.AsyncClient) -> None:
    first = await _signed_in(client)
    second = (await _refresh(client, first["refresh_token"])).json()
    revoked = await client.post(
        "/oauth2/revoke",
        data={
            "token": second["refresh_token"],
            "token_type_hint": "refresh_token",
            "client_id": INSPECTOR,
        },
    )
    assert revoked.status_code == 200
    assert revoked.content == b""
    response = await _refresh(client, second["refresh_token"])
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


async def test_revocation_answers_alike_for_unknown_and_foreign_tokens(
    client: httpx.AsyncClient,
) -> None:
    tokens = await _signed_in(client)
    unknown = await client.post(
        "/oauth2/revoke", data={"token": "not-a-token", "client_id": INSPECTOR}
    )
    foreign = await client.post(
        "/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": "web"}
    )
    assert unknown.status_code == foreign.status_code == 200
    # Another client cannot revoke this one's tokens.
    assert (await _refresh(client, tokens["refresh_token"])).status_code == 200
    no_client = await client.post("/oauth2/revoke", data={"token": tokens["refresh_token"]})
    assert (no_client.status_code, no_client.json()["error"]) == (401, "invalid_client")


async def test_service_clients_cannot_use_the_refresh_grant(
    client: httpx.AsyncClient, registry: ClientRegistry
) -> None:
    secret = registry.client_secret("ops")
    assert secret is not None
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": "anything",
            "client_id": "ops",
            "client_secret": secret,
        },
    )
    assert (response.status_code, response.json()["error"]) == (400, "unauthorized_client")


def test_the_store_is_bounded() -> None:
    clock = FakeClock()
    store = RefreshTokenStore(clock, 3600, max_families=2)
    grant = RefreshGrant(client_id="c", customer=JOHN, scopes=("tickets/read",), auth_time=0)
    oldest = store.issue(grant)
    store.issue(grant)
    store.issue(grant)
    with pytest.raises(RefreshError, match="unknown"):
        store.rotate(oldest, "c")
