"""The REST edge's webhook function: one Lambda function behind an API Gateway REST API (proxy
integration, payload version 1.0), a relay with a check of its own first.

- ``POST /webhooks/payment`` — the payment gateway's signed webhooks. No token: the signature
  (``Webhook-Signature``, servers/core/webhooks.py) is checked here, and a bad or stale one
  never reaches the ticket server, which checks it again.

The chat is the other function of the edge (servers/edge/chat.py), since it streams. Anything
else is ``404`` (or ``405`` on a known path). Every error is JSON ``{"error", "message",
"request_id"}``: a stable code and plain words, never an upstream's body, a traceback or a
secret. Standard library only (boto3 is Lambda's own), so the function is a small zip.
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

WEBHOOK_PATH = "/webhooks/payment"
ROUTES = {WEBHOOK_PATH: "POST"}
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
    webhook_url: str
    """The ticket server's webhook route."""


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
            return self._error(404, "not_found", "no such route", request_id)
        if method != ROUTES[path]:
            return self._error(405, "method_not_allowed", f"use {ROUTES[path]}", request_id)
        try:
            return self._webhook(event, request_id)
        except OSError:
            log.warning("upstream unreachable (request id %s)", request_id, exc_info=True)
            return self._error(502, "upstream_unavailable", "try again shortly", request_id)
        except Exception:
            log.exception("edge failure (request id %s)", request_id)
            return self._error(500, "internal", "something went wrong", request_id)

    def _webhook(self, event: Event, request_id: str) -> Response:
        body = _body(event)
        signature = _headers(event).get(SIGNATURE_HEADER.lower(), "")
        try:
            verify_webhook(body, signature, self.webhook_secret, now=self.clock())
        except WebhookSignatureError as exc:
            log.info("webhook refused at the edge: %s (request id %s)", exc, request_id)
            return self._error(400, "invalid_signature", "invalid webhook", request_id)
        upstream = self.forward(
            self.config.webhook_url,
            body,
            {"content-type": "application/json", SIGNATURE_HEADER.lower(): signature},
        )
        if not 200 <= upstream.status < 300:
            log.warning("ticket server answered %s (request id %s)", upstream.status, request_id)
            # 502 makes the gateway deliver it again later, with backoff.
            return self._error(502, "upstream_error", "not delivered", request_id)
        return self._answer(200, json.dumps({"received": True}), "application/json")

    def _answer(self, status: int, body: str, content_type: str) -> Response:
        headers = {"content-type": content_type, "cache-control": "no-store"}
        return {"statusCode": status, "headers": headers, "body": body}

    def _error(self, status: int, code: str, message: str, request_id: str) -> Response:
        body = json.dumps({"error": code, "message": message, "request_id": request_id})
        return self._answer(status, body, "application/json")


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
    config = EdgeConfig(webhook_url=os.environ["EDGE_WEBHOOK_URL"])
    return Edge(
        config,
        webhook_secret=_secret(os.environ["EDGE_WEBHOOK_SECRET_ARN"]),
        forward=forward_https,
    )


def handler(event: Event, context: object) -> Response:
    """The Lambda entry point."""
    return _edge().handle(event)
