"""The REST edge's webhook function: one Lambda function behind an API Gateway REST API (proxy
integration, payload version 1.0), a relay with a check of its own first.

- ``POST /webhooks/payment`` — the payment gateway's signed webhooks. No token: the signature
  (``Webhook-Signature``, servers/core/webhooks.py) is checked here, and a bad or stale one
  never reaches the ticket server. A good one is handed on as a call of the ticket server's
  ``receive_payment_event`` tool with the edge's own token (servers/edge/handoff.py), where the
  signature is checked again. ``200`` once handed on, ``400`` for an event that is not valid
  (the gateway stops), ``502`` when it should be sent again later (the gateway retries).

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
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from servers.core.webhooks import SIGNATURE_HEADER, WebhookSignatureError, verify_webhook
from servers.edge.handoff import EVENT_SCOPE, ClientToken, Outcome, TicketEvents, Unavailable

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/payment"
ROUTES = {WEBHOOK_PATH: "POST"}

Event = Mapping[str, Any]
Response = dict[str, Any]


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
        *,
        webhook_secret: str,
        ticket: TicketEvents,
        clock: Callable[[], float] = time.time,
    ):
        self.webhook_secret = webhook_secret
        self.ticket = ticket
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
        except Unavailable as exc:
            log.warning("not handed on: %s (request id %s)", exc, request_id)
            # 502 makes the gateway deliver it again later, with backoff.
            return self._error(502, "upstream_error", "not delivered", request_id)
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
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return self._error(400, "invalid_webhook", "invalid webhook", request_id)
        outcome, receipt = self.ticket.hand_on(text, signature)
        if outcome is Outcome.INVALID:
            log.warning("the ticket server refused the event (request id %s)", request_id)
            return self._error(400, "invalid_webhook", "invalid webhook", request_id)
        log.info("event handed on: %s (request id %s)", json.dumps(receipt), request_id)
        return self._answer(200, json.dumps({"received": True}), "application/json")

    def _answer(self, status: int, body: str, content_type: str) -> Response:
        headers = {"content-type": content_type, "cache-control": "no-store"}
        return {"statusCode": status, "headers": headers, "body": body}

    def _error(self, status: int, code: str, message: str, request_id: str) -> Response:
        body = json.dumps({"error": code, "message": message, "request_id": request_id})
        return self._answer(status, body, "application/json")


def _secret(arn: str) -> str:
    import boto3  # Lambda's own; read once per instance

    client = boto3.client("secretsmanager", region_name=arn.split(":")[3])
    return str(client.get_secret_value(SecretId=arn)["SecretString"])


@cache
def _edge() -> Edge:
    token = ClientToken(
        os.environ["EDGE_TOKEN_URL"],
        os.environ["EDGE_CLIENT_ID"],
        _secret(os.environ["EDGE_CLIENT_SECRET_ARN"]),
        EVENT_SCOPE,
    )
    return Edge(
        webhook_secret=_secret(os.environ["EDGE_WEBHOOK_SECRET_ARN"]),
        ticket=TicketEvents(os.environ["EDGE_TICKET_MCP_URL"], token),
    )


def handler(event: Event, context: object) -> Response:
    """The Lambda entry point."""
    return _edge().handle(event)
