"""The REST edge's webhook function (the chat's: test_chat.py): seed plan Properties 16
(authentication integration), 18 (request routing) and 19 (error handling), with Hypothesis over
methods, paths, bodies and signatures. The hand-off itself: test_handoff.py; against the real
ticket server: tests/http/test_ticket_http.py."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.core.webhooks import SIGNATURE_HEADER, sign_webhook
from servers.edge.handoff import ClientToken, TicketEvents, Upstream
from servers.edge.rest import ROUTES, WEBHOOK_PATH, Edge

SECRET = "whsec_" + "k" * 32
NOW = 1_900_000_000.0
TOKEN_URL = "https://login.invalid/oauth2/token"
MCP_URL = "https://ticket.invalid/mcp"


def tool_answer(result: dict[str, Any]) -> Upstream:
    return Upstream(
        200, "application/json", json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()
    )


def received(receipt: dict[str, Any]) -> Upstream:
    text = json.dumps(receipt)
    return tool_answer({"content": [{"type": "text", "text": text}], "structuredContent": receipt})


def refused(text: str) -> Upstream:
    return tool_answer({"content": [{"type": "text", "text": text}], "isError": True})


RECEIPT = {"event_id": "evt_1", "duplicate": False, "order_id": None, "order_status": None}


class Upstreams:
    """The token endpoint and the ticket server as the edge's POSTs find them: records every
    request, answers the tool call as told (or fails to connect)."""

    def __init__(
        self,
        answer: Upstream | None = None,
        *,
        fail: Exception | None = None,
        token: Upstream | None = None,
    ) -> None:
        self.answer = answer or received(RECEIPT)
        self.fail = fail
        self.token = token or Upstream(
            200, "application/json", b'{"access_token": "tok-1", "expires_in": 3600}'
        )
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> Upstream:
        self.sent.append((url, body, headers))
        if url == TOKEN_URL:
            return self.token
        if self.fail is not None:
            raise self.fail
        return self.answer

    def tool_calls(self) -> list[tuple[dict[str, Any], dict[str, str]]]:
        return [(json.loads(body), headers) for url, body, headers in self.sent if url == MCP_URL]


def edge(upstreams: Upstreams) -> Edge:
    token = ClientToken(TOKEN_URL, "edge-client", "edge-secret", "tickets/webhooks", post=upstreams)
    return Edge(
        webhook_secret=SECRET,
        ticket=TicketEvents(MCP_URL, token, post=upstreams),
        clock=lambda: NOW,
    )


def webhook_event(body: bytes, signature: str) -> Any:
    return {
        "resource": WEBHOOK_PATH,
        "httpMethod": "POST",
        "headers": {SIGNATURE_HEADER: signature},
        "body": body.decode(),
        "requestContext": {"requestId": "req-2"},
    }


def signed(body: bytes) -> Any:
    return webhook_event(body, sign_webhook(body, SECRET, int(NOW)))


def error_of(response: dict[str, Any]) -> dict[str, Any]:
    assert response["headers"]["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(response["body"])
    assert set(body) == {"error", "message", "request_id"}
    return body


# Property 18: request routing -----------------------------------------------------------------

methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
paths = st.one_of(st.sampled_from(sorted(ROUTES)), st.text(max_size=40).map(lambda p: "/" + p))


@given(method=methods, path=paths)
def test_every_request_goes_to_its_route_or_gets_a_json_404_or_405(method: str, path: str) -> None:
    upstreams = Upstreams()
    event = {"resource": path, "httpMethod": method, "headers": {}, "body": ""}
    response = edge(upstreams).handle(event)
    if path not in ROUTES:
        assert response["statusCode"] == 404
        assert error_of(response)["error"] == "not_found"
    elif method != ROUTES[path]:
        assert response["statusCode"] == 405
        assert error_of(response)["error"] == "method_not_allowed"
    else:
        assert response["statusCode"] == 400  # no signature
    assert upstreams.sent == []


# Property 16: authentication integration ------------------------------------------------------

payloads = st.binary(max_size=200).map(lambda b: json.dumps({"event": b.hex()}).encode())


@given(payload=payloads, age=st.integers(min_value=-299, max_value=299))
def test_a_webhook_signed_recently_is_handed_on_with_its_signature_and_the_edges_token(
    payload: bytes, age: int
) -> None:
    upstreams = Upstreams()
    signature = sign_webhook(payload, SECRET, int(NOW) - age)
    response = edge(upstreams).handle(webhook_event(payload, signature))
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"received": True}
    [(call, headers)] = upstreams.tool_calls()
    assert call["method"] == "tools/call"
    assert call["params"]["name"] == "receive_payment_event"
    assert call["params"]["arguments"] == {"event": payload.decode(), "signature": signature}
    assert headers["authorization"] == "Bearer tok-1"


@given(
    payload=payloads,
    forgery=st.sampled_from(["tampered", "other secret", "stale", "garbage"]),
)
def test_a_bad_or_stale_signature_never_reaches_the_ticket_server(
    payload: bytes, forgery: str
) -> None:
    upstreams = Upstreams()
    if forgery == "tampered":
        signature = sign_webhook(payload + b" ", SECRET, int(NOW))
    elif forgery == "other secret":
        signature = sign_webhook(payload, "whsec_" + "x" * 32, int(NOW))
    elif forgery == "stale":
        signature = sign_webhook(payload, SECRET, int(NOW) - 301)
    else:
        signature = "v1=abc"
    response = edge(upstreams).handle(webhook_event(payload, signature))
    assert response["statusCode"] == 400
    assert error_of(response)["error"] == "invalid_signature"
    assert upstreams.sent == [], "not even a token is asked for"


def test_an_event_the_ticket_server_finds_invalid_is_a_400_the_gateway_does_not_retry() -> None:
    upstreams = Upstreams(refused("INVALID_WEBHOOK: invalid webhook"))
    response = edge(upstreams).handle(signed(b'{"id": "evt_1"}'))
    assert response["statusCode"] == 400
    assert error_of(response)["error"] == "invalid_webhook"


def test_a_signed_body_that_is_not_text_is_refused_without_a_hand_off() -> None:
    upstreams = Upstreams()
    body = b"\xff\xfe{}"
    event = {
        **webhook_event(b"", sign_webhook(body, SECRET, int(NOW))),
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
    response = edge(upstreams).handle(event)
    assert response["statusCode"] == 400
    assert error_of(response)["error"] == "invalid_webhook"
    assert upstreams.tool_calls() == []


# Property 19: error handling ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("upstreams", "status", "code"),
    [
        (
            Upstreams(fail=ConnectionRefusedError("10.0.3.7:8080 refused")),
            502,
            "upstream_unavailable",
        ),
        (Upstreams(fail=TimeoutError("timed out")), 502, "upstream_unavailable"),
        (Upstreams(Upstream(500, "text/plain", b"Traceback: secret=abc")), 502, "upstream_error"),
        (Upstreams(Upstream(403, "application/json", b"{}")), 502, "upstream_error"),
        (Upstreams(refused("UNAVAILABLE: not handled yet")), 502, "upstream_error"),
        (Upstreams(Upstream(200, "application/json", b"<html>")), 502, "upstream_error"),
        (
            Upstreams(Upstream(200, "application/json", b'{"jsonrpc": "2.0", "error": {}}')),
            502,
            "upstream_error",
        ),
        (Upstreams(token=Upstream(400, "application/json", b"{}")), 502, "upstream_error"),
        (Upstreams(token=Upstream(200, "application/json", b"{}")), 502, "upstream_error"),
        (Upstreams(fail=KeyError("EDGE_WEBHOOK_SECRET_ARN")), 500, "internal"),
    ],
    ids=[
        "refused",
        "timeout",
        "http-500",
        "http-403",
        "tool-unavailable",
        "not-json",
        "json-rpc-error",
        "token-refused",
        "token-missing",
        "bug",
    ],
)
def test_upstream_and_internal_failures_answer_a_code_and_request_id_only(
    upstreams: Upstreams, status: int, code: str
) -> None:
    response = edge(upstreams).handle(signed(b"{}"))
    assert response["statusCode"] == status
    body = error_of(response)
    assert body["error"] == code
    assert body["request_id"] == "req-2"
    for leak in ("10.0.3.7", "Traceback", "secret", "EDGE_", "tok-1"):
        assert leak not in response["body"]
