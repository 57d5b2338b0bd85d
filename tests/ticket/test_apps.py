"""The ticket server's MCP Apps as a client sees them: the ``ui://`` resources (MIME type, the
declared CSP with no origin), the tools that link them through ``_meta.ui.resourceUri``, and the
same structured results for clients that show no apps. The apps running in a browser host:
web/e2e/mcp-apps.spec.ts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp.shared.exceptions import MCPError
from mcp_types import TextResourceContents

from host.toolbox import McpServer, Toolbox
from servers.core.auth import acting_as
from servers.core.scopes import CUSTOMER_SCOPES
from servers.ticket.server import build_server

from .conftest import Servers
from .support import JOHN
from .test_mcp import as_customer

CALENDAR = "ui://ticket/calendar.html"
SUMMARY = "ui://ticket/summary.html"
MCP_APP = "text/html;profile=mcp-app"
PAGE = "<!doctype html><title>calendar</title>"


@pytest.fixture
async def client(servers: Servers, tmp_path: Path) -> AsyncIterator[Client[FastMCPTransport]]:
    """The server over a build with only the calendar in it."""
    (tmp_path / "calendar.html").write_text(PAGE)
    journey = servers.journey
    server = build_server(
        journey.tickets, journey, operator_client_ids=frozenset({"ops"}), apps_dir=tmp_path
    )
    with acting_as(as_customer(JOHN)):
        async with Client(server) as c:
            yield c


async def test_apps_are_listed_as_mcp_app_html_with_no_origin_allowed(
    client: Client[FastMCPTransport],
) -> None:
    listed = {str(r.uri): r for r in await client.list_resources()}
    for uri in (CALENDAR, SUMMARY):
        resource = listed[uri]
        assert resource.mime_type == MCP_APP
        assert resource.description
        ui = (resource.meta or {})["ui"]
        assert ui["csp"] == {"connectDomains": [], "resourceDomains": []}
        assert "frameDomains" not in ui["csp"]  # no nested frames either


async def test_reading_an_app_gives_its_built_html_and_csp(
    client: Client[FastMCPTransport],
) -> None:
    [content] = await client.read_resource(CALENDAR)
    assert isinstance(content, TextResourceContents)
    assert content.text == PAGE
    assert content.mime_type == MCP_APP
    # Hosts read the CSP from the content they render (SEP-1865), not only from the listing.
    assert (content.meta or {})["ui"]["csp"] == {"connectDomains": [], "resourceDomains": []}


async def test_an_app_not_built_is_a_coded_error(client: Client[FastMCPTransport]) -> None:
    with pytest.raises(MCPError, match=r"APP_NOT_BUILT: ui://ticket/summary\.html"):
        await client.read_resource(SUMMARY)


async def test_the_calendar_and_the_quote_link_their_apps(
    client: Client[FastMCPTransport],
) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    links = {
        name: (tool.meta or {}).get("ui", {}).get("resourceUri") for name, tool in tools.items()
    }
    assert links["get_availability_calendar"] == CALENDAR
    assert links["quote_upgrade"] == SUMMARY
    # Only those two: every other tool's result is shown as text and structure, as before.
    assert {name for name, uri in links.items() if uri is not None} == {
        "get_availability_calendar",
        "quote_upgrade",
    }
    # Linking keeps the scopes the server filters tools/list by.
    assert (tools["quote_upgrade"].meta or {})["scopes"] == ["tickets/read"]


async def test_clients_without_apps_get_the_same_structured_results(
    servers: Servers, client: Client[FastMCPTransport]
) -> None:
    expected = await servers.journey.tickets.get_availability_calendar(
        JOHN, "TKT-JD0001", "standard", None, None
    )
    calendar = await client.call_tool(
        "get_availability_calendar", {"ticket_number": "TKT-JD0001", "tier": "standard"}
    )
    assert calendar.structured_content == expected.model_dump(mode="json")
    first = expected.days[0]
    quote = await client.call_tool(
        "quote_upgrade",
        {"ticket_number": "TKT-JD0001", "tier": "standard", "date": first.date.isoformat()},
    )
    assert quote.structured_content is not None
    assert quote.structured_content["total_cents"] == first.price_cents
    assert quote.content[0].type == "text"  # the text fallback is still there


async def test_the_concierge_reads_no_app_into_its_context(
    client: Client[FastMCPTransport],
) -> None:
    """The host's model gets the resources' text as context; an app's HTML is no text for it."""
    toolbox = Toolbox(
        [McpServer("ticket", "memory://ticket")],
        token="unused in memory",
        scopes=frozenset(CUSTOMER_SCOPES),
        timeout=10.0,
        connect=lambda server, token, timeout: client,
    )
    async with toolbox:
        assert toolbox.has("get_availability_calendar")
        context = "\n".join(toolbox.context)
    assert "tickets://tiers" in context
    assert "ui://" not in context
    assert PAGE not in context
