"""The metadata the infrastructure serves in front of AgentCore is what the kit's server serves.

infra/ticketing_infra/mcp_domains.py writes :func:`protected_resource_metadata` into a mock
integration at synth (the infra environment has no FastMCP); here a kit server built as in AWS
(its public name, Cognito as issuer, the registration edge as authorization server) answers
the same bytes at the same path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
import pytest

from servers.core import scopes
from servers.core.app import build_http_app, create_mcp
from servers.core.resource_metadata import (
    MCP_PATH,
    protected_resource_metadata,
    resource_metadata_url,
)
from servers.core.settings import ServerSettings
from servers.payment import server as payment
from servers.ticket import server as ticket

COGNITO = "https://cognito-idp.us-west-2.amazonaws.com/us-west-2_EXAMPLE"
EDGE = "https://auth.tickets.example.com"


async def healthy() -> None:
    return None


@pytest.mark.parametrize(
    ("name", "resource", "server_scopes"),
    [("ticket", ticket.RESOURCE, ticket.SCOPES), ("payment", payment.RESOURCE, payment.SCOPES)],
)
async def test_a_server_in_aws_serves_exactly_the_metadata_function_s_document(
    name: str, resource: str, server_scopes: Sequence[str]
) -> None:
    base_url = f"https://{name}.mcp.tickets.example.com"
    settings = ServerSettings(
        public_url=base_url,
        auth_issuer=COGNITO,
        auth_jwks_url=f"{COGNITO}/.well-known/jwks.json",
        auth_authorization_servers=[EDGE],
        _env_file=None,
    )
    app = await build_http_app(
        create_mcp(name, instructions="test"),
        settings,
        resource=resource,
        scopes=server_scopes,
        health=healthy,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url) as http:
        served = await http.get(resource_metadata_url(base_url, MCP_PATH))

    expected = protected_resource_metadata(
        base_url=base_url,
        mcp_path=MCP_PATH,
        # What infra gives: the context's issuer as written, and every scope of the resource
        # server (infra/ticketing_infra/servers.py, McpServer.scopes).
        authorization_servers=[EDGE],
        scopes=[s for s in scopes.ALL_SCOPES if scopes.resource_server(s) == resource],
        name=name,
    )
    assert served.status_code == 200
    assert served.json() == expected
    assert served.content == json.dumps(expected, separators=(",", ":")).encode()
    assert expected["resource"] == f"{base_url}/mcp"
    assert expected["authorization_servers"] == [f"{EDGE}/"]
    assert expected["scopes_supported"] == [
        s for s in server_scopes if s not in scopes.SERVICE_ONLY_SCOPES
    ]


def test_a_server_with_service_scopes_only_advertises_them() -> None:
    document = protected_resource_metadata(
        base_url="https://data.mcp.tickets.example.com",
        mcp_path=MCP_PATH,
        authorization_servers=[EDGE],
        scopes=[scopes.DATA_READ, scopes.DATA_WRITE],
        name="data",
    )
    assert document["scopes_supported"] == [scopes.DATA_READ, scopes.DATA_WRITE]


def test_no_authorization_server_is_refused() -> None:
    with pytest.raises(ValueError, match="authorization server"):
        protected_resource_metadata(
            base_url="https://x.test",
            mcp_path=MCP_PATH,
            authorization_servers=[],
            scopes=[],
            name="x",
        )
