"""The lean HTTP service client against a scripted identity provider and MCP server
(``httpx.MockTransport``): tokens, refusals, failures. The real servers are in tests/http."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from servers.core.client import (
    ClientCredentials,
    HttpServiceClient,
    RemoteProtocolError,
    RemoteToolError,
    RemoteUnavailable,
)

ISSUER = "https://idp.example/"
MCP_URL = "https://data.example/mcp"


@dataclass
class Scripted:
    """An identity provider and an MCP server in one handler; ``answer`` decides tools/call."""

    issuer: str = ISSUER
    tokens_issued: list[str] = field(default_factory=list)
    refused_tokens: set[str] = field(default_factory=set)
    calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    result: dict[str, Any] = field(
        default_factory=lambda: {"content": [], "structuredContent": {"ok": True}}
    )
    error: dict[str, Any] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        if url == "https://idp.example/.well-known/openid-configuration":
            return httpx.Response(
                200, json={"issuer": self.issuer, "token_endpoint": "https://idp.example/token"}
            )
        if url == "https://idp.example/token":
            assert request.headers["Authorization"].startswith("Basic ")
            form = dict(x.split("=") for x in request.content.decode().split("&"))
            assert form == {"grant_type": "client_credentials", "scope": "data%2Fread"}
            token = f"token-{len(self.tokens_issued) + 1}"
            self.tokens_issued.append(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": 3600})
        assert url == MCP_URL
        token = request.headers["Authorization"].removeprefix("Bearer ")
        if token in self.refused_tokens:
            return httpx.Response(401)
        body = json.loads(request.content)
        self.calls.append({"token": token, "headers": request.headers, "body": body})
        if self.status != 200:
            return httpx.Response(self.status, text="nope")
        if self.error is not None:
            return httpx.Response(
                200, json={"jsonrpc": "2.0", "id": body["id"], "error": self.error}
            )
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": body["id"], "result": self.result})


def client_for(script: Scripted) -> HttpServiceClient:
    credentials = ClientCredentials(ISSUER, "ticket-server", "s3cret", ["data/read"])
    return HttpServiceClient(
        MCP_URL, credentials=credentials, transport=httpx.MockTransport(script.handle)
    )


async def test_a_call_is_one_stateless_tools_call_post() -> None:
    script = Scripted()
    async with client_for(script) as client:
        assert await client.call("get_ticket", {"ticket_number": "TKT-1"}) == {"ok": True}
    (call,) = script.calls
    assert call["token"] == "token-1"
    assert call["headers"]["Mcp-Method"] == "tools/call"
    assert call["headers"]["Mcp-Name"] == "get_ticket"
    params = call["body"]["params"]
    assert (params["name"], params["arguments"]) == ("get_ticket", {"ticket_number": "TKT-1"})
    assert "io.modelcontextprotocol/protocolVersion" in json.dumps(params["_meta"])


async def test_concurrent_calls_share_one_token() -> None:
    script = Scripted()
    async with client_for(script) as client:
        await asyncio.gather(*(client.call("check_integrity") for _ in range(20)))
    assert script.tokens_issued == ["token-1"]
    assert {c["token"] for c in script.calls} == {"token-1"}
    assert len({c["body"]["id"] for c in script.calls}) == 20


async def test_a_refused_token_is_replaced_once() -> None:
    script = Scripted(refused_tokens={"token-1"})
    async with client_for(script) as client:
        assert await client.call("check_integrity") == {"ok": True}
        assert await client.call("check_integrity") == {"ok": True}
    assert script.tokens_issued == ["token-1", "token-2"]
    assert [c["token"] for c in script.calls] == ["token-2", "token-2"]


async def test_a_token_refused_twice_is_not_retried_forever() -> None:
    script = Scripted(refused_tokens={"token-1", "token-2", "token-3"})
    async with client_for(script) as client:
        with pytest.raises(RemoteProtocolError, match="HTTP 401"):
            await client.call("check_integrity")
    assert script.tokens_issued == ["token-1", "token-2"]


async def test_the_secret_only_goes_to_the_configured_issuer() -> None:
    script = Scripted(issuer="https://evil.example/")
    async with client_for(script) as client:
        with pytest.raises(RemoteProtocolError, match="another issuer"):
            await client.call("check_integrity")
    assert script.tokens_issued == []


async def test_a_refusal_keeps_its_code() -> None:
    script = Scripted(
        result={"isError": True, "content": [{"type": "text", "text": "SOLD_OUT: none left"}]}
    )
    async with client_for(script) as client:
        with pytest.raises(RemoteToolError) as refused:
            await client.call("reserve_upgrade")
    assert (refused.value.code, refused.value.message, refused.value.tool) == (
        "SOLD_OUT",
        "none left",
        "reserve_upgrade",
    )


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_a_failing_server_is_unavailable(status: int) -> None:
    async with client_for(Scripted(status=status)) as client:
        with pytest.raises(RemoteUnavailable) as refused:
            await client.call("check_integrity")
    assert refused.value.code == "UNAVAILABLE"
    assert "nope" not in str(refused.value)


async def test_a_json_rpc_error_is_a_protocol_error_not_the_callers() -> None:
    script = Scripted(error={"code": -32602, "message": "Invalid params"})
    async with client_for(script) as client:
        with pytest.raises(RemoteProtocolError, match="JSON-RPC error"):
            await client.call("check_integrity")


async def test_a_connection_failure_is_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    credentials = ClientCredentials(ISSUER, "ticket-server", "s3cret", ["data/read"])
    client = HttpServiceClient(
        MCP_URL, credentials=credentials, transport=httpx.MockTransport(refuse)
    )
    async with client:
        with pytest.raises(RemoteUnavailable, match="ConnectError"):
            await client.call("check_integrity")
