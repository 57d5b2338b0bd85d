"""The kit's HTTP app in-process: health, CORS allow-list, Origin checks, request ids."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Annotated

import fastmcp
import httpx
import mcp_types
import pytest
from fastmcp import Client
from mcp.shared.exceptions import MCPError
from opentelemetry import trace
from pydantic import BaseModel, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from servers.core.app import (
    READ_ONLY,
    HealthCheck,
    build_http_app,
    create_mcp,
    requires,
    serve,
    spans_without_tracing,
)
from servers.core.settings import ServerSettings
from ticketing.procs import free_port

ALLOWED = "http://localhost:6274"


class Echo(BaseModel):
    text: str


async def healthy() -> None:
    return None


async def broken() -> None:
    raise RuntimeError("database down")


async def app_client(*, health: HealthCheck = healthy) -> httpx.AsyncClient:
    mcp = create_mcp("test", instructions="test server")

    @mcp.tool(annotations=READ_ONLY, meta=requires("data/read"))
    async def echo(text: Annotated[str, Field(description="Text to echo.")]) -> Echo:
        """Echo the text."""
        return Echo(text=text)

    settings = ServerSettings(
        allowed_origins=[ALLOWED],
        auth_issuer="https://idp.test",
        auth_jwks_url="https://idp.test/.well-known/jwks.json",
        _env_file=None,
    )
    app = await build_http_app(
        mcp,
        settings,
        resource="data",
        scopes=["data/read"],
        health=health,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=settings.base_url)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with await app_client() as c:
        yield c


async def test_health_answers_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.json() == {"status": "ok", "service": "test"}
    assert len(response.headers["x-request-id"]) == 16


async def test_failing_health_is_503_without_details() -> None:
    async with await app_client(health=broken) as c:
        response = await c.get("/health")
    assert response.status_code == 503
    assert "database down" not in response.text


async def test_preflight_from_an_allowed_origin_allows_the_mcp_headers(
    client: httpx.AsyncClient,
) -> None:
    response = await client.options(
        "/mcp",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, mcp-method, mcp-param-text",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    allowed = response.headers["access-control-allow-headers"].lower()
    assert "mcp-param-text" in allowed
    assert "authorization" in allowed


async def test_other_origins_are_refused(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/mcp",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    post = await client.post(
        "/mcp",
        headers={"Origin": "http://evil.example", "Accept": "application/json"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert post.status_code == 403


async def test_a_well_formed_request_id_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abcdef1234567890"})
    assert response.headers["x-request-id"] == "abcdef1234567890"
    odd = await client.get("/health", headers={"X-Request-ID": "a b\r\nc"})
    assert odd.headers["x-request-id"] != "a b\r\nc"


# The client warns that logging is deprecated from protocol 2026-07-28; it is still asked here.
@pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
async def test_advertises_only_what_a_stateless_json_server_delivers() -> None:
    """No stream carries notifications, so neither listChanged nor logging is advertised, and
    logging/setLevel is not served."""
    mcp = create_mcp("test", instructions="test server")

    @mcp.tool(annotations=READ_ONLY)
    async def echo(text: str) -> Echo:
        return Echo(text=text)

    @mcp.resource("test://static")
    def static() -> str:
        return "static"

    @mcp.prompt
    def greet() -> str:
        return "hello"

    # The initialize handshake, as the conformance suite and the Inspector connect.
    async with Client(mcp, mode="legacy") as client:
        assert client.initialize_result is not None
        capabilities = client.initialize_result.capabilities
        with pytest.raises(MCPError) as refused:
            await client.set_logging_level("debug")
    assert capabilities.tools is not None
    assert not capabilities.tools.list_changed
    assert capabilities.resources is not None
    assert not capabilities.resources.list_changed
    assert not capabilities.resources.subscribe
    assert capabilities.prompts is not None
    assert not capabilities.prompts.list_changed
    assert capabilities.logging is None
    assert refused.value.code == mcp_types.METHOD_NOT_FOUND


def test_spans_are_dropped_without_a_tracing_sdk_and_kept_with_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fastmcp.settings, "telemetry_mode", "native")
    spans_without_tracing()
    assert str(fastmcp.settings.telemetry_mode) == "propagation_only"

    class Sdk(trace.TracerProvider):  # what opentelemetry-sdk or an auto-instrumenter installs
        def get_tracer(self, *args: object, **kwargs: object) -> trace.Tracer:
            return trace.NoOpTracer()

    monkeypatch.setattr(fastmcp.settings, "telemetry_mode", "native")
    monkeypatch.setattr(trace, "get_tracer_provider", Sdk)
    spans_without_tracing()
    assert fastmcp.settings.telemetry_mode == "native"


async def test_a_started_server_has_frozen_what_it_started_with() -> None:
    async def frozen(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(gc.get_freeze_count()))

    settings = ServerSettings(
        port=free_port(),
        auth_issuer="https://idp.test",
        auth_jwks_url="https://idp.test/.well-known/jwks.json",
        _env_file=None,
    )
    gc.unfreeze()
    running = asyncio.create_task(serve(Starlette(routes=[Route("/", frozen)]), settings))
    try:
        answer = await first_answer(f"http://127.0.0.1:{settings.port}/")
        assert int(answer.text) > 0
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        gc.unfreeze()


async def first_answer(url: str) -> httpx.Response:
    """The first answer of a server that is starting (connections refused until it listens)."""
    async with asyncio.timeout(30), httpx.AsyncClient() as http:
        while True:
            try:
                return await http.get(url)
            except httpx.ConnectError:
                await asyncio.sleep(0.05)
