"""The REST edge's webhook function (the chat's: test_chat.py): seed plan Properties 16
(authentication integration), 18 (request routing) and 19 (error handling), with Hypothesis over
methods, paths, bodies and signatures;
the relay itself over real HTTP to a local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.core.webhooks import SIGNATURE_HEADER, sign_webhook
from servers.edge.rest import (
    ROUTES,
    WEBHOOK_PATH,
    Edge,
    EdgeConfig,
    Upstream,
    forward_https,
)

SECRET = "whsec_" + "k" * 32
NOW = 1_900_000_000.0
CONFIG = EdgeConfig(webhook_url="https://ticket.invalid/webhooks/payment")
STREAM = b'data: {"type": "session", "session_id": "s1"}\n\ndata: {"type": "done"}\n\n'


class Relay:
    """Records what the edge relays and answers as told (or fails to connect)."""

    def __init__(self, answer: Upstream | None = None, fail: Exception | None = None) -> None:
        self.answer = answer or Upstream(200, "text/event-stream", STREAM)
        self.fail = fail
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> Upstream:
        self.sent.append((url, body, headers))
        if self.fail is not None:
            raise self.fail
        return self.answer


def edge(relay: Relay) -> Edge:
    return Edge(CONFIG, webhook_secret=SECRET, forward=relay, clock=lambda: NOW)


def webhook_event(body: bytes, signature: str) -> Any:
    return {
        "resource": WEBHOOK_PATH,
        "httpMethod": "POST",
        "headers": {SIGNATURE_HEADER: signature},
        "body": body.decode(),
        "requestContext": {"requestId": "req-2"},
    }


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
    relay = Relay()
    event = {"resource": path, "httpMethod": method, "headers": {}, "body": ""}
    response = edge(relay).handle(event)
    if path not in ROUTES:
        assert response["statusCode"] == 404
        assert error_of(response)["error"] == "not_found"
    elif method != ROUTES[path]:
        assert response["statusCode"] == 405
        assert error_of(response)["error"] == "method_not_allowed"
    else:
        assert response["statusCode"] == 400  # no signature
    if response["statusCode"] != 200:
        assert relay.sent == []


payloads = st.binary(max_size=200).map(lambda b: json.dumps({"event": b.hex()}).encode())


@given(payload=payloads, age=st.integers(min_value=-299, max_value=299))
def test_a_webhook_signed_recently_is_relayed_with_its_signature(payload: bytes, age: int) -> None:
    relay = Relay(Upstream(200, "application/json", b"{}"))
    signature = sign_webhook(payload, SECRET, int(NOW) - age)
    response = edge(relay).handle(webhook_event(payload, signature))
    assert response["statusCode"] == 200
    [(url, body, headers)] = relay.sent
    assert (url, body) == (CONFIG.webhook_url, payload)
    assert headers[SIGNATURE_HEADER.lower()] == signature


@given(
    payload=payloads,
    forgery=st.sampled_from(["tampered", "other secret", "stale", "garbage"]),
)
def test_a_bad_or_stale_signature_never_reaches_the_ticket_server(
    payload: bytes, forgery: str
) -> None:
    relay = Relay()
    if forgery == "tampered":
        signature = sign_webhook(payload + b" ", SECRET, int(NOW))
    elif forgery == "other secret":
        signature = sign_webhook(payload, "whsec_" + "x" * 32, int(NOW))
    elif forgery == "stale":
        signature = sign_webhook(payload, SECRET, int(NOW) - 301)
    else:
        signature = "v1=abc"
    response = edge(relay).handle(webhook_event(payload, signature))
    assert response["statusCode"] == 400
    assert error_of(response)["error"] == "invalid_signature"
    assert relay.sent == []


# Property 19: error handling ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("relay", "status", "code"),
    [
        (Relay(fail=ConnectionRefusedError("10.0.3.7:8080 refused")), 502, "upstream_unavailable"),
        (Relay(fail=TimeoutError("timed out")), 502, "upstream_unavailable"),
        (Relay(Upstream(500, "text/plain", b"Traceback: secret=abc")), 502, "upstream_error"),
        (Relay(fail=KeyError("EDGE_WEBHOOK_SECRET_ARN")), 500, "internal"),
    ],
)
def test_upstream_and_internal_failures_answer_a_code_and_request_id_only(
    relay: Relay, status: int, code: str
) -> None:
    response = edge(relay).handle(webhook_event(b"{}", sign_webhook(b"{}", SECRET, int(NOW))))
    assert response["statusCode"] == status
    body = error_of(response)
    assert body["error"] == code
    assert body["request_id"] == "req-2"
    for leak in ("10.0.3.7", "Traceback", "secret", "EDGE_"):
        assert leak not in response["body"]


# The relay over real HTTP ---------------------------------------------------------------------


class _Upstream(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, body, self.headers.get("authorization", "")))
        status = 503 if self.path == "/down" else 200
        self.send_response(status)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        self.wfile.write(STREAM)

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def upstream() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_forward_https_posts_the_body_and_headers_and_returns_the_answer(upstream: str) -> None:
    _Upstream.received.clear()
    answer = forward_https(f"{upstream}/invocations", b'{"message": "hi"}', {"authorization": "B"})
    assert answer == Upstream(200, "text/event-stream", STREAM)
    assert _Upstream.received == [("/invocations", b'{"message": "hi"}', "B")]
    down = forward_https(f"{upstream}/down", b"{}", {})
    assert down.status == 503


def test_forward_https_raises_oserror_when_nothing_listens() -> None:
    with pytest.raises(OSError, match=r"refused|Errno"):
        forward_https("http://127.0.0.1:9/nothing", b"{}", {})
