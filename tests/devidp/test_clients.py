from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from servers.core.scopes import CUSTOMER_SCOPES, OPS_SCOPES
from servers.devidp.clients import ClientRegistry, derive_client_secret, load_client_specs
from servers.devidp.keys import SigningKey


def test_default_clients(registry: ClientRegistry) -> None:
    assert registry.names() == [
        "host-agent",
        "mcp-inspector",
        "ops",
        "payment-edge",
        "ticket-server",
        "web",
    ]
    ops = registry.get("ops")
    assert ops is not None
    assert ops.client_id == "ops"
    assert ops.scopes == OPS_SCOPES
    assert ops.grant_types == ("client_credentials",)
    ticket_server = registry.get("ticket-server")
    assert ticket_server is not None
    assert set(ticket_server.scopes) == {
        "data/read",
        "data/write",
        "payments/read",
        "payments/write",
        "payments/refund",
        "notify/send",
        "notify/read",
    }
    host = registry.get("host-agent")
    assert host is not None
    assert set(host.scopes) == {"tickets/catalogue"}
    web = registry.get("web")
    assert web is not None
    assert web.client_secret is None
    assert web.grant_types == ("authorization_code", "refresh_token")
    assert set(web.scopes) == {*CUSTOMER_SCOPES, "openid", "email", "profile"}
    assert "http://localhost:5173/callback" in web.redirect_uris
    inspector = registry.get("mcp-inspector")
    assert inspector is not None
    assert inspector.client_secret is None
    assert inspector.scopes == CUSTOMER_SCOPES
    assert "http://localhost:6274/oauth/callback" in inspector.redirect_uris


def test_confidential_secrets_come_from_the_key(
    registry: ClientRegistry, signing_key: SigningKey
) -> None:
    secrets = {name: registry.client_secret(name) for name in ("ops", "ticket-server")}
    assert secrets["ops"] == derive_client_secret(signing_key, "ops")
    assert secrets["ops"] != secrets["ticket-server"]
    assert len(secrets["ops"] or "") >= 43
    assert registry.client_secret("web") is None
    with pytest.raises(KeyError):
        registry.client_secret("nobody")


def test_authenticate(registry: ClientRegistry) -> None:
    secret = registry.client_secret("ops")
    assert secret is not None
    authenticated = registry.authenticate("ops", secret)
    assert authenticated is not None
    assert authenticated.client_id == "ops"
    assert registry.authenticate("ops", secret + "x") is None
    assert registry.authenticate("ticket-server", secret) is None
    assert registry.authenticate("web", "") is None


def test_clients_file_adds_and_replaces(signing_key: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "clients.json"
    path.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "name": "ops",
                        "confidential": True,
                        "scopes": ["data/read"],
                        "grant_types": ["client_credentials"],
                    },
                    {
                        "name": "cli-app",
                        "confidential": False,
                        "scopes": ["tickets/read"],
                        "grant_types": ["authorization_code"],
                        "redirect_uris": ["http://127.0.0.1:7777/cb"],
                    },
                ]
            }
        )
    )
    registry = ClientRegistry.load(signing_key, path)
    ops = registry.get("ops")
    assert ops is not None
    assert ops.scopes == ("data/read",)
    assert "cli-app" in registry.names()
    assert "web" in registry.names()
    assert "http://127.0.0.1:7777" in registry.browser_origins()


@pytest.mark.parametrize(
    "client",
    [
        {
            "name": "x",
            "confidential": True,
            "scopes": ["nope/read"],
            "grant_types": ["client_credentials"],
        },
        {"name": "x", "confidential": False, "scopes": [], "grant_types": ["client_credentials"]},
        {"name": "x", "confidential": False, "scopes": [], "grant_types": ["authorization_code"]},
    ],
)
def test_clients_file_is_validated(tmp_path: Path, client: dict[str, object]) -> None:
    path = tmp_path / "clients.json"
    path.write_text(json.dumps({"clients": [client]}))
    with pytest.raises(ValidationError):
        load_client_specs(path)
