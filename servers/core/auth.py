"""OAuth 2.1 resource-server side: validating Cognito-shaped access tokens, enforcing scopes.

FastMCP's :class:`JWTVerifier` does the JWKS work (RS256, cache, refresh on an unknown ``kid``)
and its :class:`RemoteAuthProvider` serves RFC 9728 metadata and the ``401`` challenge. What they
lack for Cognito is added here, once: ``token_use`` must be ``access``, ``client_id`` must be in an
allow-list, and (Cognito access tokens having no ``aud``) the token must carry a scope of this
server's own resource server. Per-tool scopes are enforced by :class:`ScopeGate` so that a missing
scope is an HTTP ``403 insufficient_scope`` naming the scope, as the MCP authorization spec asks.
"""

from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx2
from fastmcp.server.auth import AccessToken, RemoteAuthProvider
from fastmcp.server.auth.providers.jwt import JWTVerifier
from fastmcp.server.dependencies import get_access_token
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .scopes import resource_server

log = logging.getLogger(__name__)

ACCEPTED_TOKENS_CACHED = 4096


class CognitoAccessTokenVerifier(JWTVerifier):
    """Accepts only access tokens of allowed clients that carry a scope of ``resource``."""

    def __init__(
        self,
        *,
        issuer: str,
        jwks_uri: str,
        client_ids: Sequence[str],
        resource: str,
        jwks_refresh_interval: float = 30.0,
        http_client: httpx2.AsyncClient | None = None,
    ):
        super().__init__(
            jwks_uri=jwks_uri,
            issuer=issuer,
            algorithm="RS256",
            jwks_refresh_interval=jwks_refresh_interval,
            http_client=http_client,
        )
        self.client_ids = frozenset(client_ids)
        self.resource = resource
        # A client sends the same token on every call until it expires; checking its RS256
        # signature each time was ~8% of a call's CPU (py-spy, make bench). Only tokens that
        # passed every check are kept, and only until they expire.
        self._accepted: OrderedDict[str, AccessToken] = OrderedDict()

    async def verify_token(self, token: str) -> AccessToken | None:
        cached = self._accepted.get(token)
        if cached is not None:
            if cached.expires_at is not None and cached.expires_at > time.time():
                self._accepted.move_to_end(token)
                return cached
            del self._accepted[token]
        access = await self._verify(token)
        if access is not None:
            self._accepted[token] = access
            if len(self._accepted) > ACCEPTED_TOKENS_CACHED:
                self._accepted.popitem(last=False)
        return access

    async def _verify(self, token: str) -> AccessToken | None:
        access = await super().verify_token(token)
        if access is None:
            return None
        claims = access.claims
        reason = None
        if claims.get("token_use") != "access":
            reason = "not an access token (token_use must be 'access')"
        elif not isinstance(claims.get("exp"), int):
            reason = "no expiry"
        elif claims.get("client_id") not in self.client_ids:
            reason = f"client {claims.get('client_id')!r} is not allowed"
        elif not any(resource_server(s) == self.resource for s in access.scopes):
            reason = f"no scope of resource server {self.resource!r}"
        if reason:
            log.info("bearer token rejected: %s", reason)
            return None
        return access


def build_auth(
    *,
    issuer: str,
    jwks_uri: str,
    client_ids: Sequence[str],
    resource: str,
    scopes: Sequence[str],
    base_url: str,
    name: str,
) -> RemoteAuthProvider:
    """The auth provider of one MCP server: token validation plus RFC 9728 metadata."""
    verifier = CognitoAccessTokenVerifier(
        issuer=issuer, jwks_uri=jwks_uri, client_ids=client_ids, resource=resource
    )
    return RemoteAuthProvider(
        token_verifier=verifier,
        authorization_servers=[AnyHttpUrl(issuer)],
        base_url=base_url,
        scopes_supported=list(scopes),
        resource_name=name,
    )


PARSE_ERROR: dict[str, Any] = {
    "jsonrpc": "2.0",
    "id": None,
    "error": {"code": -32700, "message": "Parse error: the request body is not valid JSON"},
}
"""What the MCP transport answers for a body it cannot parse, answered here for the same."""

ToolScopes = Callable[[str], Awaitable[tuple[str, ...] | None]]


class ScopeGate:
    """ASGI middleware: refuses a ``tools/call`` whose token lacks the tool's scope with ``403``.

    ``tool_scopes(name)`` gives the scopes of a tool (any one suffices), or None for an unknown
    tool, which is left to the MCP layer to answer. Runs after authentication, so the token's
    scopes are in ``scope["auth"]``.
    """

    def __init__(
        self, app: ASGIApp, *, path: str, tool_scopes: ToolScopes, resource_metadata_url: str
    ):
        self.app = app
        self.path = path
        self.tool_scopes = tool_scopes
        self.resource_metadata_url = resource_metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"].rstrip("/") != self.path
            or not getattr(scope.get("user"), "is_authenticated", False)
        ):
            await self.app(scope, receive, send)
            return
        body, messages = await _read_body(receive)
        called = _called_tools(body)
        if called is None:
            await _send_json(send, 400, PARSE_ERROR)
            return
        granted = set(scope["auth"].scopes)
        for name in called:
            needed = await self.tool_scopes(name)
            if needed and granted.isdisjoint(needed):
                await self._forbid(send, needed)
                return
        await self.app(scope, _replay(messages, receive), send)

    async def _forbid(self, send: Send, needed: tuple[str, ...]) -> None:
        named = " ".join(needed)
        description = f"Required scope: {' or '.join(needed)}"
        challenge = (
            f'Bearer error="insufficient_scope", error_description="{description}", '
            f'scope="{named}", resource_metadata="{self.resource_metadata_url}"'
        )
        await _send_json(
            send,
            403,
            {"error": "insufficient_scope", "error_description": description},
            headers=[(b"www-authenticate", challenge.encode())],
        )


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The whole body, and the messages it came in to hand on. Its size is bounded in front of
    the gate, by the kit's :class:`~servers.core.limits.BodyLimit`."""
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay


def _called_tools(body: bytes) -> list[str] | None:
    """The tools a JSON-RPC body calls, or None when it is not JSON at all."""
    try:
        payload: Any = json.loads(body)
    except (ValueError, RecursionError):
        # RecursionError: nesting deeper than the interpreter's recursion limit ("[" * 1000).
        return None
    requests = payload if isinstance(payload, list) else [payload]
    names = []
    for request in requests:
        if isinstance(request, dict) and request.get("method") == "tools/call":
            params = request.get("params")
            if isinstance(params, dict) and isinstance(params.get("name"), str):
                names.append(params["name"])
    return names


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def calling_client() -> str:
    """The OAuth client behind the tool call under way, whose idempotency keys are its own;
    ``in-process`` for a call made without HTTP (tests, tools run by the host)."""
    token = get_access_token()
    return token.client_id if token is not None else "in-process"
