"""Calling another MCP server as a service, with this service's own client-credentials token.

FastMCP's ``ClientCredentialsOAuthProvider`` does the OAuth part: it discovers the token endpoint
from the server's RFC 9728 metadata, fetches a token, caches it until it expires and fetches a
new one then or on a ``401``. This module adds what every caller of our servers needs on top:
one long-lived session per server, and the remote ``CODE: message`` tool errors turned back into
exceptions that carry the code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Self

from fastmcp import Client
from fastmcp.client.auth import ClientCredentialsOAuthProvider

from .errors import DomainError, split_code


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


class ServiceClient:
    """A session with one MCP server, whose tools it calls and whose refusals it raises.

    Use as an async context manager for the lifetime of the calling server; calls may run
    concurrently over the one session. The session opens on the first call, so a server starts
    even while the servers it calls are still starting. :meth:`over_http` is how servers reach
    each other; tests may pass any FastMCP client, such as one bound in memory to a server.
    """

    def __init__(self, client: Client[Any]):
        self._client = client
        self._session = AsyncExitStack()
        self._opened = False
        self._opening = asyncio.Lock()

    @classmethod
    def over_http(
        cls,
        url: str,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str],
        timeout: float = 15.0,
    ) -> HttpServiceClient:
        """A client of ``url`` authenticated as a registered service client."""
        auth = ClientCredentialsOAuthProvider(
            mcp_url=url,
            client_id=client_id,
            client_secret=client_secret,
            scopes=list(scopes),
            # Credentials only ever go to the issuer we configured, never to whichever
            # authorization server a (possibly compromised) resource server names.
            issuer=issuer,
        )
        return HttpServiceClient(Client(url, auth=auth, timeout=timeout), auth)

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
        result = await client.call_tool(tool, arguments or {}, raise_on_error=False)
        if result.is_error:
            text = " ".join(getattr(block, "text", "") for block in result.content)
            raise parse_tool_error(tool, text)
        structured: dict[str, Any] = result.structured_content or {}
        return structured


class HttpServiceClient(ServiceClient):
    """A :class:`ServiceClient` over HTTP, with the OAuth provider that holds its token."""

    def __init__(self, client: Client[Any], auth: ClientCredentialsOAuthProvider):
        super().__init__(client)
        self.auth = auth
