"""Pins on FastMCP and the MCP SDK internals the kit relies on.

``servers/core/app.py`` sets ``mcp._mcp_server.get_tool_input_schema`` so that the SDK checks a
``tools/call``'s ``Mcp-Param-*`` headers against a fixed lookup instead of listing every tool
on each call (which tripled the CPU cost of a call). Neither FastMCP nor the SDK documents
that attribute: these tests fail if an upgrade renames it, stops reading it, or no longer
routes HTTP calls through that server object, rather than letting the cost come back silently.

``KitMCP.get_tool`` answers a built server's tools from a dict instead of FastMCP's providers,
transforms and visibility store (about 220 µs of a call): pinned here that FastMCP still finds
the tool to call through ``get_tool``, and that the dict answers what FastMCP itself would.

``DereferencedOnce`` (servers/core/listing.py) stands in for FastMCP's own
``DereferenceRefsMiddleware`` with its private ``_dereference_tool``: pinned here that a kit
server lists the very schemas plain FastMCP lists, and inlines each tool's once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any

import httpx
import pytest
from fastmcp import Client, FastMCP
from fastmcp.server.middleware.dereference import _dereference_tool
from fastmcp.tools.base import Tool
from mcp.server.lowlevel.server import Server
from pydantic import BaseModel, Field

from servers.core import listing
from servers.core.app import READ_ONLY, KitMCP, build_http_app, create_mcp, requires
from servers.core.client import tool_call_body, tool_call_headers
from servers.core.settings import ServerSettings


class Echo(BaseModel):
    text: str


def echo_server(name: str) -> KitMCP:
    mcp = create_mcp(name, instructions="pin")

    @mcp.tool(annotations=READ_ONLY, meta=requires("data/read"))
    async def echo(text: Annotated[str, Field(description="Text to echo.")]) -> Echo:
        """Echo the text."""
        return Echo(text=text)

    return mcp


async def test_the_kit_installs_a_lookup_of_every_tools_schema() -> None:
    mcp = await built_echo_server("pinned")
    server = mcp._mcp_server
    assert isinstance(server, Server), "FastMCP's low-level server moved"
    [tool] = await mcp.list_tools()
    assert server.get_tool_input_schema is not None
    assert server.get_tool_input_schema("echo") == tool.parameters
    assert server.get_tool_input_schema("no_such_tool") is None


async def test_the_sdk_checks_mcp_param_headers_with_the_installed_lookup() -> None:
    """The lookup below claims ``text`` travels in an ``Mcp-Param-Text`` header, which the
    tool's real schema does not say: a call without the header is refused only if the SDK
    asked the lookup rather than listing the tools."""
    mcp = echo_server("consulted")
    asked: list[str] = []

    def lookup(name: str) -> Mapping[str, Any] | None:
        asked.append(name)
        return {
            "type": "object",
            "properties": {"text": {"type": "string", "x-mcp-header": "Text"}},
            "required": ["text"],
        }

    mcp._mcp_server.get_tool_input_schema = lookup
    app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
        ) as http,
    ):

        async def call(headers: dict[str, str]) -> httpx.Response:
            return await http.post(
                "/mcp",
                content=json.dumps(
                    tool_call_body("echo", {"text": "hi"}, 1, client_name="pin-test")
                ),
                headers={**tool_call_headers("echo"), **headers},
            )

        refused = await call({})
        assert refused.status_code == 400, refused.text
        assert asked == ["echo"]
        accepted = await call({"Mcp-Param-Text": "hi"})
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["result"]["structuredContent"] == {"text": "hi"}


async def built_echo_server(name: str) -> KitMCP:
    mcp = echo_server(name)
    await build_http_app(
        mcp,
        ServerSettings(
            _env_file=None,
            auth_issuer="http://127.0.0.1:9000/",
            auth_jwks_url="http://127.0.0.1:9000/.well-known/jwks.json",
        ),
        resource="data",
        scopes=["data/read"],
        health=_healthy,
    )
    return mcp


async def test_a_built_server_finds_the_tool_fastmcp_itself_would() -> None:
    mcp = await built_echo_server("frozen")
    frozen = await mcp.get_tool("echo")
    assert frozen is not None
    assert frozen == await FastMCP.get_tool(mcp, "echo")
    assert await mcp.get_tool("no_such_tool") is None


async def test_fastmcp_calls_the_tool_get_tool_answers() -> None:
    """If FastMCP stopped resolving calls through ``get_tool``, the dict would be bypassed (the
    cost back) or, worse, disagree with what is called: a stand-in in the dict must be what
    runs."""
    mcp = await built_echo_server("routed")
    stand_in = echo_server("stand-in")

    @stand_in.tool(name="shout", meta=requires("data/read"))
    async def shout(text: str) -> Echo:
        return Echo(text=text.upper())

    tool = await stand_in.get_tool("shout")
    assert tool is not None
    mcp.freeze_tools([tool.model_copy(update={"name": "echo"})])
    result = await mcp.call_tool("echo", {"text": "hi"})
    assert result.structured_content == {"text": "HI"}


async def test_a_tool_added_after_the_server_is_built_is_still_found() -> None:
    mcp = await built_echo_server("late")

    @mcp.tool(meta=requires("data/read"))
    async def later(text: str) -> Echo:
        return Echo(text=text)

    result = await mcp.call_tool("later", {"text": "hi"})
    assert result.structured_content == {"text": "hi"}


class Seat(BaseModel):
    row: str
    number: int


class Booking(BaseModel):
    seats: list[Seat]
    note: Echo | None = None


def booking_tools(mcp: FastMCP) -> FastMCP:
    """Tools whose schemas hold ``$defs`` and ``$ref``s, in and out."""

    @mcp.tool(meta=requires("data/read"))
    async def book(seats: list[Seat], note: Echo | None = None) -> Booking:
        return Booking(seats=seats, note=note)

    @mcp.tool(meta=requires("data/read"))
    async def echo(text: str) -> Echo:
        return Echo(text=text)

    return mcp


async def listed(mcp: FastMCP) -> list[dict[str, Any]]:
    async with Client(mcp) as client:
        return [tool.model_dump(mode="json") for tool in await client.list_tools()]


async def test_a_kit_server_lists_the_schemas_plain_fastmcp_lists() -> None:
    kit = await listed(booking_tools(create_mcp("kit", instructions="pin")))
    plain = await listed(booking_tools(FastMCP("plain", instructions="pin")))
    assert kit == plain
    [book] = [tool for tool in kit if tool["name"] == "book"]
    assert "$ref" not in json.dumps(book), "FastMCP no longer inlines, or the kit skipped it"


async def test_each_tools_schemas_are_inlined_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    def counted(tool: Tool) -> Tool:
        made.append(tool.name)
        return _dereference_tool(tool)

    monkeypatch.setattr(listing, "_dereference_tool", counted)
    mcp = booking_tools(create_mcp("once", instructions="pin"))
    first = await listed(mcp)
    assert await listed(mcp) == first
    assert sorted(made) == ["book", "echo"]

    @mcp.tool(meta=requires("data/read"))
    async def later(seat: Seat) -> Seat:
        return seat

    assert "$ref" not in json.dumps([t for t in await listed(mcp) if t["name"] == "later"])
    assert sorted(made) == ["book", "echo", "later"]


async def _healthy() -> None:
    return None
