"""The lean HTTP service client against a scripted identity provider and MCP server, served
over real HTTP on loopback by aiohttp's test server: tokens, refusals, failures. The real
servers are in tests/http."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from servers.core.client import (
    ClientCredentials,
    HttpServiceClient,
    RemoteProtocolError,
    RemoteToolError,
    RemoteUnavailable,
)


@dataclass
class Script:
    """What the scripted servers answer; what they saw."""

    issuer: str = ""
    tokens_issued: list[str] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    refused_tokens: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    result: dict[str, Any] = field(
        default_factory=lambda: {"content": [], "structuredContent": {"ok": True}}
    )
    error: dict[str, Any] | None = None


@dataclass
class Scripted:
    script: Script
    server: TestServer

    @property
    def issuer(self) -> str:
        return str(self.server.make_url("/"))

    @property
    def mcp_url(self) -> str:
        return str(self.server.make_url("/mcp"))

    def client(self, *, issuer: str | None = None) -> HttpServiceClient:
        credentials = ClientCredentials(
            issuer or self.issuer, "ticket-server", "s3cret", ["data/read"]
        )
        return HttpServiceClient(self.mcp_url, credentials=credentials)


def scripted_app(script: Script) -> web.Application:
    async def discovery(request: web.Request) -> web.Response:
        issuer = script.issuer or str(request.url.with_path("/"))
        token_endpoint = str(request.url.with_path("/token"))
        return web.json_response({"issuer": issuer, "token_endpoint": token_endpoint})

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        script.token_requests.append(
            {"authorization": request.headers.get("Authorization", "")}
            | {k: str(v) for k, v in form.items()}
        )
        issued = f"token-{len(script.tokens_issued) + 1}"
        script.tokens_issued.append(issued)
        return web.json_response({"access_token": issued, "expires_in": 3600})

    async def mcp(request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer in script.refused_tokens:
            return web.Response(status=401)
        body = json.loads(await request.read())
        script.calls.append({"token": bearer, "headers": dict(request.headers), "body": body})
        if script.status != 200:
            return web.Response(status=script.status, text="nope")
        if script.error is not None:
            return web.json_response({"jsonrpc": "2.0", "id": body["id"], "error": script.error})
        return web.json_response({"jsonrpc": "2.0", "id": body["id"], "result": script.result})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", discovery)
    app.router.add_post("/token", token)
    app.router.add_post("/mcp", mcp)
    return app


@pytest.fixture
async def scripted() -> AsyncIterator[Scripted]:
    script = Script()
    server = TestServer(scripted_app(script), host="127.0.0.1")
    await server.start_server()
    try:
        yield Scripted(script, server)
    finally:
        await server.close()


async def test_a_call_is_one_stateless_tools_call_post(scripted: Scripted) -> None:
    async with scripted.client() as client:
        assert await client.call("get_ticket", {"ticket_number": "TKT-1"}) == {"ok": True}
    (call,) = scripted.script.calls
    assert call["token"] == "token-1"
    assert call["headers"]["Mcp-Method"] == "tools/call"
    assert call["headers"]["Mcp-Name"] == "get_ticket"
    params = call["body"]["params"]
    assert (params["name"], params["arguments"]) == ("get_ticket", {"ticket_number": "TKT-1"})
    assert "io.modelcontextprotocol/protocolVersion" in json.dumps(params["_meta"])
    (asked,) = scripted.script.token_requests
    assert asked["authorization"].startswith("Basic ")
    assert (asked["grant_type"], asked["scope"]) == ("client_credentials", "data/read")


async def test_concurrent_calls_share_one_token(scripted: Scripted) -> None:
    async with scripted.client() as client:
        await asyncio.gather(*(client.call("check_integrity") for _ in range(20)))
    assert scripted.script.tokens_issued == ["token-1"]
    assert {c["token"] for c in scripted.script.calls} == {"token-1"}
    assert len({c["body"]["id"] for c in scripted.script.calls}) == 20


async def test_a_refused_token_is_replaced_once(scripted: Scripted) -> None:
    scripted.script.refused_tokens = {"token-1"}
    async with scripted.client() as client:
        assert await client.call("check_integrity") == {"ok": True}
        assert await client.call("check_integrity") == {"ok": True}
    assert scripted.script.tokens_issued == ["token-1", "token-2"]
    assert [c["token"] for c in scripted.script.calls] == ["token-2", "token-2"]


async def test_a_token_refused_twice_is_not_retried_forever(scripted: Scripted) -> None:
    scripted.script.refused_tokens = {"token-1", "token-2", "token-3"}
    async with scripted.client() as client:
        with pytest.raises(RemoteProtocolError, match="HTTP 401"):
            await client.call("check_integrity")
    assert scripted.script.tokens_issued == ["token-1", "token-2"]


async def test_the_secret_only_goes_to_the_configured_issuer(scripted: Scripted) -> None:
    scripted.script.issuer = "https://evil.example/"
    async with scripted.client() as client:
        with pytest.raises(RemoteProtocolError, match="another issuer"):
            await client.call("check_integrity")
    assert scripted.script.token_requests == []


async def test_a_refusal_keeps_its_code(scripted: Scripted) -> None:
    scripted.script.result = {
        "isError": True,
        "content": [{"type": "text", "text": "SOLD_OUT: none left"}],
    }
    async with scripted.client() as client:
        with pytest.raises(RemoteToolError) as refused:
            await client.call("reserve_upgrade")
    assert (refused.value.code, refused.value.message, refused.value.tool) == (
        "SOLD_OUT",
        "none left",
        "reserve_upgrade",
    )


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_failing_server_is_unavailable(scripted: Scripted, status: int) -> None:
    scripted.script.status = status
    async with scripted.client() as client:
        with pytest.raises(RemoteUnavailable) as refused:
            await client.call("check_integrity")
    assert refused.value.code == "UNAVAILABLE"
    assert "nope" not in str(refused.value)


async def test_a_json_rpc_error_is_a_protocol_error_not_the_callers(scripted: Scripted) -> None:
    scripted.script.error = {"code": -32602, "message": "Invalid params"}
    async with scripted.client() as client:
        with pytest.raises(RemoteProtocolError, match="JSON-RPC error"):
            await client.call("check_integrity")


async def test_a_server_that_is_gone_is_unavailable(scripted: Scripted) -> None:
    client = scripted.client()
    async with client:
        assert await client.call("check_integrity") == {"ok": True}
        await scripted.server.close()
        with pytest.raises(RemoteUnavailable) as refused:
            await client.call("check_integrity")
    assert refused.value.code == "UNAVAILABLE"


async def test_a_connection_the_server_drops_unanswered_is_retried_once_on_a_new_one(
    scripted: Scripted,
) -> None:
    """The keep-alive race: the server closes a pooled connection just as a request goes out
    on it. Each connection here answers one request and drops the next one unanswered."""
    answered: list[int] = []

    async def one_answer_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        connection = len(answered) + 1
        for turn in range(2):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            request = json.loads(await reader.readexactly(length))
            if turn == 1:
                break  # the second request on this connection: hang up without a word
            answered.append(connection)
            body = json.dumps(
                {"jsonrpc": "2.0", "id": request["id"], "result": {"structuredContent": {}}}
            ).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(one_answer_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    credentials = ClientCredentials(scripted.issuer, "ticket-server", "s3cret", ["data/read"])
    try:
        async with HttpServiceClient(
            f"http://127.0.0.1:{port}/mcp", credentials=credentials, connections=1
        ) as client:
            assert await client.call("check_integrity") == {}
            assert await client.call("check_integrity") == {}
    finally:
        server.close()
        await server.wait_closed()
    assert answered == [1, 2], "the second call was answered on a second connection"
