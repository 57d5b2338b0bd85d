"""Calling another MCP server's tools as a service.

Two clients with one surface (:class:`ToolCaller`): :class:`HttpServiceClient`, how our servers
reach each other over HTTP with their own client-credentials token, and :class:`ServiceClient`,
which wraps any FastMCP client (tests bind one in memory to a server). Both turn a remote
``CODE: message`` tool error back into a :class:`RemoteToolError` that carries the code.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

import aiohttp
from fastmcp import Client
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
)
from mcp_types.version import LATEST_MODERN_VERSION

from .auth import Principal, acting_as
from .errors import UNAVAILABLE, DomainError, split_code


class RemoteToolError(DomainError):
    """A tool of another server refused the call; ``code`` is its stable error code."""

    def __init__(self, tool: str, code: str, message: str):
        super().__init__(code, message)
        self.tool = tool


def parse_tool_error(tool: str, text: str) -> RemoteToolError:
    coded = split_code(text)
    if coded is None:
        return RemoteToolError(tool, "REMOTE_ERROR", text)
    return RemoteToolError(tool, *coded)


class ToolCaller(Protocol):
    """What the gateways of a server need of a client of another server."""

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The tool's structured result; a refused call raises :class:`RemoteToolError`."""
        ...


class ServiceClient:
    """A session with one MCP server through a FastMCP client (tests bind one in memory).

    Calls are made as ``caller`` (as a server's token would say over HTTP; an in-memory call
    carries no token). Use as an async context manager; calls may run concurrently over the one
    session, which opens on the first call.
    """

    def __init__(self, client: Client[Any], *, caller: Principal):
        self._client = client
        self.caller = caller
        self._session = AsyncExitStack()
        self._opened = False
        self._opening = asyncio.Lock()

    async def __aenter__(self) -> Self:
        return self

    async def _open(self) -> Client[Any]:
        if not self._opened:
            async with self._opening:
                if not self._opened:
                    await self._session.enter_async_context(self._client)
                    self._opened = True
        return self._client

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._session.__aexit__(exc_type, exc, tb)

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The tool's structured result; a refused call raises :class:`RemoteToolError`."""
        client = await self._open()
        with acting_as(self.caller):
            result = await client.call_tool(tool, arguments or {}, raise_on_error=False)
        if result.is_error:
            text = " ".join(getattr(block, "text", "") for block in result.content)
            raise parse_tool_error(tool, text)
        structured: dict[str, Any] = result.structured_content or {}
        return structured


KEEPALIVE_SECONDS = 4.0


class RemoteUnavailable(DomainError):
    """Another server could not be reached, or failed without answering: worth a retry (every
    write between our servers carries an idempotency key)."""

    def __init__(self, tool: str, what: str):
        super().__init__(
            UNAVAILABLE, f"a service this call needs is unavailable right now ({what}); try again"
        )
        self.tool = tool


class RemoteProtocolError(Exception):
    """An answer that is not what an MCP tool call answers; a bug, never the caller's fault."""


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes


def pooled_session(timeout_seconds: float, *, connections: int = 100) -> aiohttp.ClientSession:
    """A keep-alive aiohttp session, as our servers call each other (and the payment server its
    webhook endpoints); made inside the event loop that will use it. Without ``trust_env``: with
    it, aiohttp looks for proxies and a .netrc on a thread for every request, and costs as much
    CPU as httpx. Idle connections are dropped before uvicorn's 5 s keep-alive closes them."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        connector=aiohttp.TCPConnector(limit=connections, keepalive_timeout=KEEPALIVE_SECONDS),
        trust_env=False,
    )


async def _send(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    form: dict[str, str] | None = None,
    allow_redirects: bool = True,
) -> _Answer:
    async with http.request(
        method,
        url,
        headers=headers,
        data=body if form is None else form,
        allow_redirects=allow_redirects,
    ) as response:
        return _Answer(response.status, await response.read())


async def send_once_more_if_closed(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes,
    allow_redirects: bool = True,
) -> _Answer:
    """The request, sent again on a new connection when the server closed the pooled one as it
    went out (a restart, its keep-alive running out): only for a request safe to repeat."""
    try:
        return await _send(
            http, method, url, headers=headers, body=body, allow_redirects=allow_redirects
        )
    except aiohttp.ServerDisconnectedError:
        return await _send(
            http, method, url, headers=headers, body=body, allow_redirects=allow_redirects
        )


class ClientCredentials:
    """An OAuth 2.0 client-credentials access token (RFC 6749 §4.4) from a pinned issuer.

    The token endpoint comes from the issuer's own discovery document (Cognito and the dev IdP
    both publish ``/.well-known/openid-configuration``), never from whatever authorization server
    a resource server names, so the secret only ever goes to the issuer we configured. One token
    is shared by every concurrent call and fetched again ``leeway`` seconds before it expires, or
    when a server turns it down; the lock covers fetching only, never the calls themselves.
    """

    def __init__(
        self,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str],
        *,
        leeway: float = 60.0,
    ):
        self.issuer = issuer
        self._authorization = {"Authorization": aiohttp.encode_basic_auth(client_id, client_secret)}
        self._scope = " ".join(scopes)
        self._leeway = leeway
        self._endpoint: str | None = None
        self._token: str | None = None
        self._expires = 0.0
        self._fetching = asyncio.Lock()
        self.fetched = 0

    async def token(self, http: aiohttp.ClientSession, *, stale: str | None = None) -> str:
        """A valid access token; ``stale`` is one a server refused, so a new one is fetched."""
        if self._token is not None and self._token != stale and time.monotonic() < self._expires:
            return self._token
        async with self._fetching:
            # Another call may have fetched while this one waited.
            if self._token is None or self._token == stale or time.monotonic() >= self._expires:
                await self._fetch(http)
            assert self._token is not None
            return self._token

    async def _fetch(self, http: aiohttp.ClientSession) -> None:
        if self._endpoint is None:
            discovery = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
            metadata = _json_object(await _send(http, "GET", discovery), discovery)
            if str(metadata.get("issuer", "")).rstrip("/") != self.issuer.rstrip("/"):
                raise RemoteProtocolError(f"{discovery} names another issuer")
            self._endpoint = str(metadata["token_endpoint"])
        answer = await _send(
            http,
            "POST",
            self._endpoint,
            headers=self._authorization,
            form={"grant_type": "client_credentials", "scope": self._scope},
        )
        granted = _json_object(answer, "the token endpoint")
        self._token = str(granted["access_token"])
        lifetime = float(granted.get("expires_in", 3600))
        self._expires = time.monotonic() + max(lifetime - self._leeway, lifetime / 2)
        self.fetched += 1


class HttpServiceClient:
    """Tool calls to one of our MCP servers over HTTP, as a registered service client.

    Server-to-server calls are most of the calls of an upgrade journey, so each is one JSON-RPC
    ``tools/call`` POST on a pooled keep-alive connection, at the stateless protocol version our
    servers speak, answered with JSON: no session to initialise, no SSE, no output-schema
    validation (the gateways parse every answer into their own models). FastMCP's client cost
    the ticket server about twice the CPU of serving the call, and its OAuth provider holds one
    lock across every request of a session, so a server's concurrent calls went one at a time.
    aiohttp rather than httpx: measured against one local server, 100 us of client CPU per call
    against 430 us.
    """

    def __init__(
        self,
        url: str,
        *,
        credentials: ClientCredentials,
        name: str = "ticketing-service",
        timeout: float = 15.0,
        connections: int = 32,
    ):
        self.url = url
        self.credentials = credentials
        self._name = name
        self._timeout = timeout
        self._connections = connections
        self._ids = itertools.count(1)
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        # Made on first use, inside the event loop that will run every call.
        if self._session is None:
            self._session = pooled_session(self._timeout, connections=self._connections)
        return self._session

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        """The tool's structured result; a refused call raises :class:`RemoteToolError`, an
        unreachable or failing server :class:`RemoteUnavailable`."""
        http = self._http()
        body = json.dumps(
            tool_call_body(tool, arguments or {}, next(self._ids), client_name=self._name)
        ).encode()
        headers = tool_call_headers(tool)
        try:
            token = await self.credentials.token(http)
            answer = await self._post(http, headers, token, body)
            if answer.status == 401:
                # A token the server no longer accepts (its keys rotated, say): one new one.
                token = await self.credentials.token(http, stale=token)
                answer = await self._post(http, headers, token, body)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError) as exc:
            raise RemoteUnavailable(tool, type(exc).__name__) from exc
        if answer.status >= 500 or answer.status == 429:
            raise RemoteUnavailable(tool, f"HTTP {answer.status}")
        return read_tool_result(tool, answer)

    async def _post(
        self, http: aiohttp.ClientSession, headers: dict[str, str], token: str, body: bytes
    ) -> _Answer:
        headers = {**headers, "Authorization": f"Bearer {token}"}
        # Safe to send twice: every tool call between our servers is a read or carries an
        # idempotency key.
        return await send_once_more_if_closed(http, "POST", self.url, headers=headers, body=body)


def tool_call_body(
    tool: str, arguments: dict[str, Any], request_id: int, *, client_name: str
) -> dict[str, Any]:
    """A stateless ``tools/call`` request: the protocol version and client description travel
    in ``params._meta`` rather than in an initialised session."""
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                PROTOCOL_VERSION_META_KEY: LATEST_MODERN_VERSION,
                CLIENT_CAPABILITIES_META_KEY: {},
                CLIENT_INFO_META_KEY: {"name": client_name, "version": "1"},
            },
        },
    }


def tool_call_headers(tool: str) -> dict[str, str]:
    return {
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": LATEST_MODERN_VERSION,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }


def read_tool_result(tool: str, answer: _Answer) -> dict[str, Any]:
    """The structured result of a ``tools/call`` answer; its ``CODE: message`` refusal raised
    as :class:`RemoteToolError`; anything else as :class:`RemoteProtocolError`."""
    payload = _json_object(answer, tool)
    result = payload.get("result")
    if "error" in payload or not isinstance(result, dict):
        raise RemoteProtocolError(f"{tool}: JSON-RPC error {payload.get('error')!r}")
    if result.get("isError"):
        content = result.get("content") or []
        text = " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
        raise parse_tool_error(tool, text)
    structured = result.get("structuredContent")
    return structured if isinstance(structured, dict) else {}


def _json_object(answer: _Answer, what: str) -> dict[str, Any]:
    if answer.status != 200:
        raise RemoteProtocolError(f"{what}: HTTP {answer.status}")
    try:
        payload = json.loads(answer.body)
    except ValueError as exc:
        raise RemoteProtocolError(f"{what}: the answer is not JSON") from exc
    if not isinstance(payload, dict):
        raise RemoteProtocolError(f"{what}: the answer is not a JSON object")
    return payload
