"""Dynamic Client Registration (RFC 7591) at the dev identity provider."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest

from servers.core.scopes import CUSTOMER_SCOPES
from servers.devidp.app import build_app
from servers.devidp.registration import (
    REGISTERED_CLIENTS_FILE,
    RegisteredClients,
    RegistrationError,
    parse_client_metadata,
)
from servers.devidp.settings import IdpSettings

from .support import ISSUER, JOHN, FakeClock, FakeUsers, exchange_code, sign_in, verify

CALLBACK = "http://127.0.0.1/callback"


@pytest.fixture
def settings(settings: IdpSettings) -> IdpSettings:
    return settings.model_copy(update={"registrations_per_hour": 3})


async def _register(http: httpx.AsyncClient, **metadata: Any) -> httpx.Response:
    body = {"redirect_uris": [CALLBACK], "client_name": "Desk Assistant", **metadata}
    return await http.post("/oauth2/register", json=body)


async def test_register_a_public_client(client: httpx.AsyncClient, settings: IdpSettings) -> None:
    response = await _register(client, token_endpoint_auth_method="none")
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["client_id"].startswith("dyn-")
    assert len(body["client_id"]) >= 4 + 22  # 128 bits, unguessable
    assert "client_secret" not in body
    assert body["redirect_uris"] == [CALLBACK]
    assert body["token_endpoint_auth_method"] == "none"
    assert body["grant_types"] == ["authorization_code", "refresh_token"]
    assert body["scope"].split() == [*CUSTOMER_SCOPES, "openid", "email", "profile"]
    assert body["client_name"] == "Desk Assistant"

    saved = settings.key_dir / REGISTERED_CLIENTS_FILE
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert [c["client_id"] for c in json.loads(saved.read_text())["clients"]] == [body["client_id"]]


async def test_null_members_count_as_absent(client: httpx.AsyncClient) -> None:
    response = await _register(
        client, token_endpoint_auth_method=None, grant_types=None, scope=None, client_name=None
    )
    assert response.status_code == 201, response.text
    assert response.json()["token_endpoint_auth_method"] == "none"
    assert "client_name" not in response.json()


async def test_registered_client_signs_in_on_any_loopback_port(
    client: httpx.AsyncClient,
) -> None:
    client_id = (await _register(client)).json()["client_id"]
    redirect_uri = "http://127.0.0.1:53682/callback"
    code, verifier = await sign_in(client, client_id=client_id, redirect_uri=redirect_uri)
    response = await exchange_code(
        client, client_id=client_id, redirect_uri=redirect_uri, code=code, verifier=verifier
    )
    assert response.status_code == 200, response.text
    jwks = (await client.get("/.well-known/jwks.json")).json()
    claims = verify(response.json()["access_token"], jwks)
    assert claims["client_id"] == client_id
    assert claims["sub"] == JOHN.customer_id
    assert claims["scope"].split() == [*CUSTOMER_SCOPES, "openid", "email", "profile"]


async def test_registered_clients_survive_a_restart(
    client: httpx.AsyncClient, settings: IdpSettings, users: FakeUsers, clock: FakeClock
) -> None:
    client_id = (await _register(client)).json()["client_id"]
    restarted = build_app(settings, users=users, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=restarted), base_url=ISSUER
    ) as http:
        code, _ = await sign_in(http, client_id=client_id, redirect_uri=CALLBACK)
    assert code


async def test_registered_client_gets_customer_scopes_only(client: httpx.AsyncClient) -> None:
    refused = await _register(client, scope="tickets/read data/read")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_client_metadata"
    assert "data/read" in refused.json()["error_description"]

    client_id = (await _register(client, scope="tickets/read")).json()["client_id"]
    page = await client.get(
        "/oauth2/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": CALLBACK,
            "scope": "tickets/read payments/refund",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 303
    assert "error=invalid_scope" in page.headers["location"]


@pytest.mark.parametrize(
    ("metadata", "error"),
    [
        ({"redirect_uris": []}, "invalid_redirect_uri"),
        ({"redirect_uris": ["http://example.com/cb"]}, "invalid_redirect_uri"),
        ({"redirect_uris": ["https://app.example/cb#x"]}, "invalid_redirect_uri"),
        ({"redirect_uris": [f"{CALLBACK}{i}" for i in range(11)]}, "invalid_redirect_uri"),
        ({"token_endpoint_auth_method": "client_secret_basic"}, "invalid_client_metadata"),
        ({"grant_types": ["client_credentials"]}, "invalid_client_metadata"),
        ({"grant_types": ["implicit"]}, "invalid_client_metadata"),
        ({"response_types": ["token"]}, "invalid_client_metadata"),
        ({"client_name": "x" * 101}, "invalid_client_metadata"),
        ({"client_name": "bad\nname"}, "invalid_client_metadata"),
    ],
)
async def test_refused_metadata(
    client: httpx.AsyncClient, metadata: dict[str, Any], error: str
) -> None:
    response = await _register(client, **metadata)
    assert response.status_code == 400
    assert response.json()["error"] == error


async def test_malformed_and_oversized_bodies(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    not_json = await client.post("/oauth2/register", content=b"{nope", headers=headers)
    assert (not_json.status_code, not_json.json()["error"]) == (400, "invalid_client_metadata")
    as_form = await client.post("/oauth2/register", data={"redirect_uris": CALLBACK})
    assert as_form.status_code == 400
    nested = await client.post(
        "/oauth2/register", content=b"[" * 5000 + b"]" * 5000, headers=headers
    )
    assert nested.status_code == 400
    huge = await _register(client, client_uri="https://a.example/" + "a" * 20_000)
    assert huge.status_code == 413


async def test_registrations_are_rate_limited_per_address(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    for _ in range(3):
        assert (await _register(client)).status_code == 201
    limited = await _register(client)
    assert limited.status_code == 429
    assert 0 < int(limited.headers["retry-after"]) <= 3600
    assert limited.json()["error"] == "too_many_requests"
    clock.now += 3601
    assert (await _register(client)).status_code == 201


def test_the_number_of_clients_is_bounded(tmp_path: Path) -> None:
    store = RegisteredClients(tmp_path / REGISTERED_CLIENTS_FILE, limit=2)
    metadata = parse_client_metadata({"redirect_uris": [CALLBACK]})
    store.register(metadata, 0)
    store.register(metadata, 0)
    with pytest.raises(RegistrationError, match="limit of 2"):
        store.register(metadata, 0)
    assert len(RegisteredClients(tmp_path / REGISTERED_CLIENTS_FILE)) == 2


def test_a_corrupt_clients_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / REGISTERED_CLIENTS_FILE
    path.write_text('{"clients": [{"client_id": "dyn-x", "redirect_uris": ["ftp://x"]}]}')
    with pytest.raises(ValueError, match="move it away"):
        RegisteredClients(path)
