"""The REST edge's hand-off of a payment event to the ticket server's tool: the client-credentials
token it keeps, the request it sends (the one our servers send each other), the answers it reads;
and its HTTPS transport over real HTTP to a local server."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs

import pytest
from mcp_types.version import LATEST_MODERN_VERSION

from servers.core import client as service_client
from servers.core.scopes import TICKETS_WEBHOOKS
from servers.edge import handoff
from servers.edge.handoff import (
    ClientToken,
    Outcome,
    TicketEvents,
    Unavailable,
    Upstream,
    post_https,
)
from servers.ticket import webhooks

TOKEN_URL = "https://login.invalid/oauth2/token"
MCP_URL = "https://ticket.invalid/mcp"
RECEIPT = {"event_id": "evt_1", "duplicate": False, "order_id": None, "order_status": None}
OK = json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"structuredContent": RECEIPT}}).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Upstreams:
    """A token endpoint that numbers its tokens and a ticket server answering from a script."""

    def __init__(self, *answers: Upstream) -> None:
        self.answers = list(answers)
        self.tokens = 0
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def __call__(self, url: str, body: bytes, headers: dict[str, str]) -> Upstream:
        self.sent.append((url, body, headers))
        if url == TOKEN_URL:
            self.tokens += 1
            token = json.dumps({"access_token": f"tok-{self.tokens}", "expires_in": 3600})
            return Upstream(200, "application/json", token.encode())
        return self.answers.pop(0)

    def bearers(self) -> list[str]:
        return [h["authorization"] for url, _, h in self.sent if url == MCP_URL]


def events(upstreams: Upstreams, clock: Clock | None = None) -> TicketEvents:
    token = ClientToken(
        TOKEN_URL, "edge-client", "s3cret", TICKETS_WEBHOOKS, post=upstreams, clock=clock or Clock()
    )
    return TicketEvents(MCP_URL, token, post=upstreams)


def test_the_edge_speaks_the_ticket_servers_names_and_our_protocol_version() -> None:
    assert handoff.EVENT_TOOL == webhooks.EVENT_TOOL
    assert handoff.INVALID_WEBHOOK == webhooks.INVALID_WEBHOOK
    assert handoff.EVENT_SCOPE == TICKETS_WEBHOOKS
    assert handoff.PROTOCOL_VERSION == LATEST_MODERN_VERSION


def test_the_tool_call_is_the_one_our_servers_send_each_other() -> None:
    arguments = {"event": "{}", "signature": "t=1,v1=00"}
    ours = service_client.tool_call_body(
        handoff.EVENT_TOOL, arguments, 1, client_name=handoff.CLIENT_NAME
    )
    assert handoff.tool_call_body(handoff.EVENT_TOOL, arguments) == ours
    theirs = service_client.tool_call_headers(handoff.EVENT_TOOL)
    assert handoff.tool_call_headers(handoff.EVENT_TOOL) == {
        k.lower(): v for k, v in theirs.items()
    }


def test_the_token_is_asked_for_with_the_clients_credentials_and_kept_until_near_expiry() -> None:
    clock = Clock()
    upstreams = Upstreams(*[Upstream(200, "application/json", OK)] * 3)
    handing = events(upstreams, clock)
    assert handing.hand_on("{}", "sig") == (Outcome.RECEIVED, RECEIPT)
    clock.now += 3600 - handoff.TOKEN_MARGIN_SECONDS - 1
    handing.hand_on("{}", "sig")
    clock.now += 2
    handing.hand_on("{}", "sig")
    assert upstreams.bearers() == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    [(_, form, headers), *_] = upstreams.sent
    assert parse_qs(form.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": [TICKETS_WEBHOOKS],
    }
    assert headers["authorization"] == "Basic " + base64.b64encode(b"edge-client:s3cret").decode()


def test_a_refused_token_is_renewed_once_then_the_event_waits() -> None:
    unauthorized = Upstream(401, "application/json", b"{}")
    upstreams = Upstreams(unauthorized, Upstream(200, "application/json", OK))
    assert events(upstreams).hand_on("{}", "sig")[0] is Outcome.RECEIVED
    assert upstreams.bearers() == ["Bearer tok-1", "Bearer tok-2"]

    again = Upstreams(unauthorized, unauthorized)
    with pytest.raises(Unavailable, match="401"):
        events(again).hand_on("{}", "sig")
    assert again.tokens == 2


def test_an_answer_in_one_sse_event_is_read_like_json() -> None:
    sse = b"event: message\r\ndata: " + OK + b"\r\n\r\n"
    upstreams = Upstreams(Upstream(200, "text/event-stream", sse))
    assert events(upstreams).hand_on("{}", "sig") == (Outcome.RECEIVED, RECEIPT)


def test_invalid_is_told_apart_from_try_again_by_the_ticket_servers_code() -> None:
    def refusal(text: str) -> Upstream:
        result = {"content": [{"type": "text", "text": text}], "isError": True}
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result}).encode()
        return Upstream(200, "application/json", body)

    invalid = Upstreams(refusal("INVALID_WEBHOOK: invalid webhook"))
    assert events(invalid).hand_on("{}", "sig") == (Outcome.INVALID, {})
    later = Upstreams(refusal("UNAVAILABLE: not handled yet; send it again later"))
    with pytest.raises(Unavailable, match="UNAVAILABLE"):
        events(later).hand_on("{}", "sig")


# The transport over real HTTP -----------------------------------------------------------------


class _Upstream(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, body, self.headers.get("authorization", "")))
        status = 503 if self.path == "/down" else 200
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(OK)

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


def test_post_https_posts_the_body_and_headers_and_returns_the_answer(upstream: str) -> None:
    _Upstream.received.clear()
    answer = post_https(f"{upstream}/mcp", b'{"jsonrpc": "2.0"}', {"authorization": "B"})
    assert answer == Upstream(200, "application/json", OK)
    assert _Upstream.received == [("/mcp", b'{"jsonrpc": "2.0"}', "B")]
    down = post_https(f"{upstream}/down", b"{}", {})
    assert down.status == 503


def test_post_https_raises_oserror_when_nothing_listens() -> None:
    with pytest.raises(OSError, match=r"refused|Errno"):
        post_https("http://127.0.0.1:9/nothing", b"{}", {})
