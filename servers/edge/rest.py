"""The REST edge: one Lambda function behind an API Gateway REST API (proxy integration, payload
version 1.0) with two routes, both relays with a check of their own first.

- ``POST /chat`` — the web app's chat, relayed to the concierge host's AgentCore Runtime. API
  Gateway's Cognito authorizer has checked the access token (scope ``concierge/chat``) and its
  request validator the body; the function checks again that the authorizer's claims are there
  and the body well-formed, then forwards the body with the caller's own ``Authorization``
  (the runtime's JWT authorizer and the host check it once more). The answer, the host's SSE
  stream, comes back whole: API Gateway buffers a proxy integration's response.
- ``POST /webhooks/payment`` — the payment gateway's signed webhooks. No token: the signature
  (``Webhook-Signature``, servers/core/webhooks.py) is checked here, and a bad or stale one
  never reaches the ticket server, which checks it again.

Anything else is ``404`` (or ``405`` on a known path). Every error is JSON
``{"error", "message", "request_id"}``: a stable code and plain words, never an upstream's body,
a traceback or a secret. Standard library only (boto3 is Lambda's own), so the function is a
small zip.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from servers.core.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_webhook

log = logging.getLogger(__name__)

CHAT_PATH = "/chat"
WEBHOOK_PATH = "/webhooks/payment"
ROUTES = {CHAT_PATH: "POST", WEBHOOK_PATH: "POST"}
MAX_MESSAGE_CHARS = 4000
UPSTREAM_TIMEOUT_SECONDS = 25.0
"""Below API Gateway's 29 s integration limit, so the caller gets our 502, not its 504."""

Event = Mapping[str, Any]
Response = dict[str, Any]


@dataclass(frozen=True)
class Upstream:
    """What a relayed request got back."""

    status: int
    content_type: str
    body: bytes


Forward = Callable[[str, bytes, dict[str, str]], Upstream]
"""POSTs a body with headers to a URL; raises OSError when the upstream cannot be reached."""


@dataclass(frozen=True)
class EdgeConfig:
    host_url: str
    """The host runtime's invocation URL (AgentCore, HTTP protocol)."""
    webhook_url: str
    """The ticket server's webhook route."""
    allowed_origins: frozenset[str]
    """Browser origins allowed to read the chat's answers (CORS allow-list)."""


def _headers(event: Event) -> dict[str, str]:
    raw = event.get("headers") or {}
    return {str(k).lower(): str(v) for k, v in raw.items() if v is not None}


def _body(event: Event) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body)
    return str(body).encode()


class Edge:
    def __init__(
        self,
        config: EdgeConfig,
        *,
        webhook_secret: str,
        forward: Forward,
        clock: Callable[[], float] = time.time,
    ):
        self.config = config
        self.webhook_secret = webhook_secret
        self.forward = forward
        self.clock = clock

    def handle(self, event: Event) -> Response:
        request_id = str(
            (event.get("requestContext") or {}).get("requestId") or uuid.uuid4().hex[:16]
        )
        path = str(event.get("resource") or event.get("path") or "")
        method = str(event.get("httpMethod") or "").upper()
        if path not in ROUTES:
            return self._error(404, "not_found", "no such route", request_id, event)
        if method != ROUTES[path]:
            return self._error(405, "method_not_allowed", f"use {ROUTES[path]}", request_id, event)
        try:
            if path == CHAT_PATH:
                return self._chat(event, request_id)
            return self._webhook(event, request_id)
        except OSError:
            log.warning("upstream unreachable (request id %s)", request_id, exc_info=True)
            return self._error(502, "upstream_unavailable", "try again shortly", request_id, event)
        except Exception:
            log.exception("edge failure (request id %s)", request_id)
            return self._error(500, "internal", "something went wrong", request_id, event)

    def _chat(self, event: Event, request_id: str) -> Response:
        claims = ((event.get("requestContext") or {}).get("authorizer") or {}).get("claims")
        authorization = _headers(event).get("authorization", "")
        if not isinstance(claims, Mapping) or not claims.get("sub") or not authorization:
            # API Gateway's authorizer lets nothing through without a token; if it were ever
            # misconfigured, this refuses rather than relaying an anonymous call.
            return self._error(401, "unauthorized", "sign in first", request_id, event)
        try:
            chat = json.loads(_body(event))
        except ValueError:
            return self._error(400, "invalid_request", "the body is not JSON", request_id, event)
        problem = _chat_problem(chat)
        if problem:
            return self._error(400, "invalid_request", problem, request_id, event)
        upstream = self.forward(
            self.config.host_url,
            json.dumps(chat).encode(),
            {
                "authorization": authorization,
                "content-type": "application/json",
                "accept": "text/event-stream",
            },
        )
        if upstream.status in (401, 403):
            return self._error(upstream.status, "unauthorized", "sign in again", request_id, event)
        if not 200 <= upstream.status < 300:
            log.warning("host answered %s (request id %s)", upstream.status, request_id)
            return self._error(502, "upstream_error", "the concierge failed", request_id, event)
        return self._answer(
            200, upstream.body.decode(), upstream.content_type or "text/event-stream", event
        )

    def _webhook(self, event: Event, request_id: str) -> Response:
        body = _body(event)
        signature = _headers(event).get(SIGNATURE_HEADER.lower(), "")
        try:
            verify_webhook(body, signature, self.webhook_secret, now=self.clock())
        except WebhookSignatureError as exc:
            log.info("webhook refused at the edge: %s (request id %s)", exc, request_id)
            return self._error(400, "invalid_signature", "invalid webhook", request_id, event)
        upstream = self.forward(
            self.config.webhook_url,
            body,
            {"content-type": "application/json", SIGNATURE_HEADER.lower(): signature},
        )
        if not 200 <= upstream.status < 300:
            log.warning("ticket server answered %s (request id %s)", upstream.status, request_id)
            # 502 makes the gateway deliver it again later, with backoff.
            return self._error(502, "upstream_error", "not delivered", request_id, event)
        return self._answer(200, json.dumps({"received": True}), "application/json", event)

    def _cors(self, event: Event) -> dict[str, str]:
        origin = _headers(event).get("origin", "")
        if origin in self.config.allowed_origins:
            return {"access-control-allow-origin": origin, "vary": "origin"}
        return {"vary": "origin"}

    def _answer(self, status: int, body: str, content_type: str, event: Event) -> Response:
        headers = {"content-type": content_type, "cache-control": "no-store"}
        return {"statusCode": status, "headers": headers | self._cors(event), "body": body}

    def _error(
        self, status: int, code: str, message: str, request_id: str, event: Event
    ) -> Response:
        body = json.dumps({"error": code, "message": message, "request_id": request_id})
        return self._answer(status, body, "application/json", event)


def _chat_problem(chat: object) -> str:
    """What is wrong with a chat request body (docs/ARCHITECTURE.md), or ''."""
    if not isinstance(chat, dict) or set(chat) - {"message", "session_id", "context"}:
        return "expected an object with message, session_id and context"
    message = chat.get("message")
    if not isinstance(message, str) or not 1 <= len(message) <= MAX_MESSAGE_CHARS:
        return f"message must be text of 1 to {MAX_MESSAGE_CHARS} characters"
    if chat.get("session_id") is not None and not isinstance(chat["session_id"], str):
        return "session_id must be text or null"
    if chat.get("context") is not None and not isinstance(chat["context"], dict):
        return "context must be an object or null"
    return ""


def forward_https(url: str, body: bytes, headers: dict[str, str]) -> Upstream:
    """The relay over HTTPS (urllib): an upstream's error status is an answer, not a raise."""
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=UPSTREAM_TIMEOUT_SECONDS) as answer:  # noqa: S310
            return Upstream(answer.status, answer.headers.get("content-type", ""), answer.read())
    except urllib.error.HTTPError as error:
        return Upstream(error.code, error.headers.get("content-type", ""), error.read())


def _secret(arn: str) -> str:
    import boto3  # Lambda's own; read once per instance

    client = boto3.client("secretsmanager", region_name=arn.split(":")[3])
    return str(client.get_secret_value(SecretId=arn)["SecretString"])


@cache
def _edge() -> Edge:
    config = EdgeConfig(
        host_url=os.environ["EDGE_HOST_URL"],
        webhook_url=os.environ["EDGE_WEBHOOK_URL"],
        allowed_origins=frozenset(
            o.strip() for o in os.environ.get("EDGE_ALLOWED_ORIGINS", "").split(",") if o.strip()
        ),
    )
    return Edge(
        config,
        webhook_secret=_secret(os.environ["EDGE_WEBHOOK_SECRET_ARN"]),
        forward=forward_https,
    )


def handler(event: Event, context: object) -> Response:
    """The Lambda entry point."""
    return _edge().handle(event)
