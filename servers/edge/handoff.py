"""The REST edge's hand-off of a payment event to the ticket server: one MCP ``tools/call`` of
its service-only tool ``receive_payment_event`` with a client-credentials token of the edge's
own (scope ``tickets/webhooks``).

In AWS the ticket server runs in an AgentCore Runtime whose invocation URL reaches its ``/mcp``
and nothing else, so its webhook route cannot be posted to; the tool handles the event exactly
as the route does. Standard library only, like the rest of the function: the request is the
same stateless ``tools/call`` our servers send each other (servers/core/client.py; a test keeps
the two alike), answered with JSON or, through some front doors, one SSE event.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

log = logging.getLogger(__name__)

EVENT_TOOL = "receive_payment_event"
EVENT_SCOPE = "tickets/webhooks"
INVALID_WEBHOOK = "INVALID_WEBHOOK"
PROTOCOL_VERSION = "2026-07-28"
"""The stateless protocol version our servers speak (mcp_types' LATEST_MODERN_VERSION)."""
CLIENT_NAME = "payment-edge"
UPSTREAM_TIMEOUT_SECONDS = 8.0
"""Per request. A hand-off is a tool call and, now and then, a token first, within API Gateway's
29 s; past that the gateway answers 504 and the payment server sends the event again."""
TOKEN_MARGIN_SECONDS = 60.0
"""A cached token is renewed this long before it expires."""


@dataclass(frozen=True)
class Upstream:
    """What a POST got back."""

    status: int
    content_type: str
    body: bytes


Post = Callable[[str, bytes, dict[str, str]], Upstream]
"""POSTs a body with headers to a URL; raises OSError when the upstream cannot be reached."""


class Unavailable(Exception):
    """The ticket server or the token endpoint could not take the event now."""


class Outcome(Enum):
    RECEIVED = "received"
    """Handled, or needing nothing; the receipt is logged."""
    INVALID = "invalid"
    """The ticket server refused the event as not valid: sending it again cannot help."""


def post_https(url: str, body: bytes, headers: dict[str, str]) -> Upstream:
    """A POST over HTTPS (urllib): an upstream's error status is an answer, not a raise."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_SECONDS) as answer:  # noqa: S310
            return Upstream(answer.status, answer.headers.get("content-type", ""), answer.read())
    except urllib.error.HTTPError as error:
        return Upstream(error.code, error.headers.get("content-type", ""), error.read())


class ClientToken:
    """An OAuth client-credentials access token (Cognito's ``/oauth2/token``), kept until
    shortly before it expires."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str,
        *,
        post: Post = post_https,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.token_url = token_url
        self.scope = scope
        self._basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        self._post = post
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0

    def get(self, *, stale: str | None = None) -> str:
        """The current token; a new one when it is about to expire or when ``stale`` (one the
        server refused) is still the one kept."""
        if self._token is not None and self._token != stale and self._clock() < self._renew_at:
            return self._token
        form = urllib.parse.urlencode({"grant_type": "client_credentials", "scope": self.scope})
        answer = self._post(
            self.token_url,
            form.encode(),
            {
                "authorization": f"Basic {self._basic}",
                "content-type": "application/x-www-form-urlencoded",
                "accept": "application/json",
            },
        )
        if answer.status != 200:
            raise Unavailable(f"the token endpoint answered {answer.status}")
        try:
            payload = json.loads(answer.body)
            token, lifetime = str(payload["access_token"]), float(payload.get("expires_in", 300))
        except (ValueError, KeyError, TypeError):
            raise Unavailable("the token endpoint's answer has no access token") from None
        self._token = token
        self._renew_at = self._clock() + max(lifetime - TOKEN_MARGIN_SECONDS, 0.0)
        return token


class TicketEvents:
    """Hands checked payment events to the ticket server's ``receive_payment_event``."""

    def __init__(self, mcp_url: str, token: ClientToken, *, post: Post = post_https):
        self.mcp_url = mcp_url
        self.token = token
        self._post = post

    def hand_on(self, event: str, signature: str) -> tuple[Outcome, dict[str, Any]]:
        """The outcome and the ticket server's receipt (empty unless received). Raises
        :class:`Unavailable` when the event should be sent again later, and OSError when the
        server cannot be reached."""
        body = json.dumps(
            tool_call_body(EVENT_TOOL, {"event": event, "signature": signature})
        ).encode()
        token = self.token.get()
        answer = self._call(body, token)
        if answer.status == 401:
            # A token the server no longer accepts (keys rotated): one new one, once.
            answer = self._call(body, self.token.get(stale=token))
        if answer.status != 200:
            raise Unavailable(f"the ticket server answered HTTP {answer.status}")
        result = _result(answer)
        if result.get("isError"):
            text = " ".join(
                str(block.get("text", ""))
                for block in result.get("content") or []
                if isinstance(block, dict)
            )
            if text.startswith(f"{INVALID_WEBHOOK}:"):
                return Outcome.INVALID, {}
            raise Unavailable(f"the ticket server did not handle it: {text[:200]}")
        receipt = result.get("structuredContent")
        return Outcome.RECEIVED, receipt if isinstance(receipt, dict) else {}

    def _call(self, body: bytes, token: str) -> Upstream:
        headers = {**tool_call_headers(EVENT_TOOL), "authorization": f"Bearer {token}"}
        return self._post(self.mcp_url, body, headers)


def tool_call_body(tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """A stateless ``tools/call``: the protocol version and the client travel in ``_meta``."""
    return {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": arguments,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": PROTOCOL_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": CLIENT_NAME, "version": "1"},
            },
        },
    }


def tool_call_headers(tool: str) -> dict[str, str]:
    return {
        "accept": "application/json, text/event-stream",
        "content-type": "application/json",
        "mcp-protocol-version": PROTOCOL_VERSION,
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }


def _result(answer: Upstream) -> dict[str, Any]:
    """The JSON-RPC result of a ``tools/call`` answered as JSON or as a single SSE event."""
    body = answer.body
    if answer.content_type.startswith("text/event-stream"):
        data = [
            line.removeprefix(b"data:").strip()
            for line in body.splitlines()
            if line.startswith(b"data:")
        ]
        body = data[-1] if data else b""
    try:
        payload = json.loads(body)
    except ValueError:
        raise Unavailable("the ticket server's answer is not JSON") from None
    result = payload.get("result") if isinstance(payload, dict) else None
    if not isinstance(result, dict):
        error = payload.get("error") if isinstance(payload, dict) else None
        raise Unavailable(f"the ticket server answered a JSON-RPC error: {error!r:.200}")
    return result
