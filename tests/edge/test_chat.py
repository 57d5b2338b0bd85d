"""The chat relay (servers/edge/chat.py) over real HTTP: the host's stream reaches the caller
piece by piece, before the host has finished; seed plan Properties 16 (authentication
integration), 18 (request routing) and 19 (error handling), with Hypothesis over bodies."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.client import HTTPConnection, HTTPResponse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.edge.chat import (
    CHAT_PATH,
    MAX_BODY_BYTES,
    READY_PATH,
    REQUEST_CONTEXT_HEADER,
    SESSION_HEADER,
    Refused,
    RelayConfig,
    check_chat,
    relay_server,
    runtime_session,
)

WEB = "https://tickets.example.com"
SUB = "8f1c2a4e-1b2c-4d3e-9f00-0123456789ab"
CONTEXT = {"requestId": "req-1", "authorizer": {"claims": {"sub": SUB, "scope": "concierge/chat"}}}
FIRST = b'data: {"type": "session", "session_id": "ses_1"}\n\n'
REST = b'data: {"type": "text", "delta": "Hello"}\n\ndata: {"type": "done"}\n\n'
WAIT_SECONDS = 10.0
"""A bound on waiting for the other side, never reached when the relay streams."""


@dataclass
class Host:
    """The host's stand-in: answers ``status`` with ``FIRST``, then holds the rest back until
    the test has read ``FIRST`` through the relay (``go``), or cuts the stream short."""

    status: int = 200
    body: bytes = b""
    cut_short: bool = False
    go: threading.Event = field(default_factory=threading.Event)
    released: bool = False
    received: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)


class _HostHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    host: ClassVar[Host]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received_headers = {k.lower(): v for k, v in self.headers.items()}
        self.host.received.append((self.path, self.received_headers, body))
        self.send_response(self.host.status)
        if self.host.status != 200:
            self.send_header("content-type", "text/plain")
            self.send_header("content-length", str(len(self.host.body)))
            self.end_headers()
            self.wfile.write(self.host.body)
            return
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self._chunk(FIRST)
        self.host.released = self.host.go.wait(WAIT_SECONDS)
        if self.host.cut_short:
            self.wfile.write(b"ff\r\npartial")  # a chunk that never completes
            self.close_connection = True
            return
        self._chunk(REST)
        self._chunk(b"")

    def _chunk(self, piece: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.flush()

    def log_message(self, *args: Any) -> None:
        return


def _serve(server: ThreadingHTTPServer) -> Iterator[int]:
    # A short poll, so that shutdown at teardown returns at once.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def host() -> Iterator[tuple[Host, int]]:
    state = Host()
    handler = type("Handler", (_HostHandler,), {"host": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    for port in _serve(server):
        yield state, port


@pytest.fixture
def relay(host: tuple[Host, int]) -> Iterator[int]:
    config = RelayConfig(
        host_url=f"http://127.0.0.1:{host[1]}/runtimes/arn%3Ahost/invocations?qualifier=DEFAULT",
        allowed_origins=frozenset({WEB}),
        idle_seconds=WAIT_SECONDS,
    )
    yield from _serve(relay_server(config, ("127.0.0.1", 0)))


def post(
    port: int,
    body: Any,
    *,
    context: dict[str, Any] | None = CONTEXT,
    token: str = "Bearer abc",  # noqa: S107
    origin: str = WEB,
    path: str = CHAT_PATH,
    method: str = "POST",
) -> HTTPResponse:
    connection = HTTPConnection("127.0.0.1", port, timeout=WAIT_SECONDS)
    headers = {"content-type": "application/json", "origin": origin}
    if token:
        headers["authorization"] = token
    if context is not None:
        headers[REQUEST_CONTEXT_HEADER] = json.dumps(context)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request(method, path, data, headers)
    return connection.getresponse()


def error_of(answer: HTTPResponse) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/json"
    body: dict[str, Any] = json.loads(answer.read())
    assert set(body) == {"error", "message", "request_id"}
    return body


def read_until(answer: HTTPResponse, wanted: bytes) -> bytes:
    seen = b""
    while wanted not in seen:
        piece = answer.read1(1024)
        assert piece, f"the stream ended before {wanted!r}; got {seen!r}"
        seen += piece
    return seen


# The stream -----------------------------------------------------------------------------------


def test_the_hosts_stream_reaches_the_caller_before_the_host_has_finished(
    host: tuple[Host, int], relay: int
) -> None:
    state, _ = host
    answer = post(relay, {"message": "Upgrade my ticket", "session_id": None, "context": None})
    assert answer.status == 200
    assert answer.headers["content-type"] == "text/event-stream"
    assert answer.headers["access-control-allow-origin"] == WEB
    assert answer.headers["cache-control"] == "no-store"
    # The host holds the rest of its answer until the first event has come out of the relay:
    # a buffering relay would wait for the host, the host for us, until WAIT_SECONDS.
    first = read_until(answer, FIRST)
    state.go.set()
    assert first + answer.read() == FIRST + REST
    assert state.released


def test_the_chat_goes_to_the_host_with_the_callers_own_token_and_a_session_per_conversation(
    host: tuple[Host, int], relay: int
) -> None:
    state, _ = host
    state.go.set()
    chats = [
        {"message": "hi", "session_id": None, "context": None},
        {"message": "and then?", "session_id": "ses_1", "context": {"ticket": "T-1"}},
    ]
    for chat in chats:
        assert post(relay, chat, token="Bearer abc").read() == FIRST + REST
    [(path, first, sent_first), (_, second, sent_second)] = state.received
    assert path == "/runtimes/arn%3Ahost/invocations?qualifier=DEFAULT"
    assert [json.loads(sent_first), json.loads(sent_second)] == chats
    assert first["authorization"] == second["authorization"] == "Bearer abc"
    # A first turn's session is the host's to make; later turns stay on one microVM.
    assert SESSION_HEADER.lower() not in first
    assert second[SESSION_HEADER.lower()] == runtime_session(SUB, "ses_1")


def test_a_stream_the_host_breaks_off_ends_with_the_chats_own_error_and_done(
    host: tuple[Host, int], relay: int
) -> None:
    state, _ = host
    state.cut_short = True
    answer = post(relay, {"message": "hi"})
    read_until(answer, FIRST)
    state.go.set()
    events = [
        json.loads(line.removeprefix(b"data: "))
        for line in answer.read().splitlines()
        if line.startswith(b"data: ")
    ]
    assert [e["type"] for e in events][-2:] == ["error", "done"]
    assert events[-2]["code"] == "UNAVAILABLE"
    assert "partial" not in json.dumps(events)


@given(
    subject=st.text(min_size=1, max_size=40),
    session=st.text(min_size=1, max_size=64),
    other=st.text(min_size=1, max_size=40),
)
def test_a_runtime_session_is_agentcores_shape_and_never_shared_by_two_customers(
    subject: str, session: str, other: str
) -> None:
    mine = runtime_session(subject, session)
    assert mine is not None
    assert 33 <= len(mine) <= 256  # AgentCore's runtimeSessionId bounds
    assert mine == runtime_session(subject, session)
    assert mine.isalnum()
    if other != subject:
        assert runtime_session(other, session) != mine
    assert runtime_session(subject, None) is None


# Property 16: authentication integration ------------------------------------------------------


@pytest.mark.parametrize(
    ("context", "token"),
    [
        (None, "Bearer abc"),
        ({"requestId": "req-1", "authorizer": {"claims": {}}}, "Bearer abc"),
        ({"requestId": "req-1", "authorizer": "sub"}, "Bearer abc"),
        (CONTEXT, ""),
    ],
    ids=["no request context", "claims without sub", "no claims", "no token to relay"],
)
def test_a_chat_without_the_authorizers_identity_is_refused_and_not_relayed(
    host: tuple[Host, int], relay: int, context: dict[str, Any] | None, token: str
) -> None:
    answer = post(relay, {"message": "hi"}, context=context, token=token)
    assert answer.status == 401
    assert error_of(answer)["error"] == "unauthorized"
    assert host[0].received == []


@pytest.mark.parametrize("status", [401, 403])
def test_the_hosts_refusal_of_the_token_is_passed_on_as_such(
    host: tuple[Host, int], relay: int, status: int
) -> None:
    host[0].status, host[0].body = status, b'{"detail": "insufficient_scope x"}'
    answer = post(relay, {"message": "hi"})
    assert answer.status == status
    body = error_of(answer)
    assert body == {"error": "unauthorized", "message": "sign in again", "request_id": "req-1"}


# Property 18: request routing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", CHAT_PATH, 405),
        ("PUT", CHAT_PATH, 405),
        ("DELETE", CHAT_PATH, 405),
        ("POST", "/webhooks/payment", 404),
        ("GET", "/", 404),
        ("POST", READY_PATH, 404),
    ],
)
def test_only_a_post_to_the_chat_is_relayed(
    host: tuple[Host, int], relay: int, method: str, path: str, status: int
) -> None:
    answer = post(relay, {"message": "hi"}, method=method, path=path)
    assert answer.status == status
    assert error_of(answer)["error"] == ("method_not_allowed" if status == 405 else "not_found")
    assert host[0].received == []


def test_the_adapters_readiness_check_is_answered(relay: int) -> None:
    answer = post(relay, b"", method="GET", path=READY_PATH, context=None)
    assert (answer.status, json.loads(answer.read())) == (200, {"status": "ok"})


# Property 19: error handling ------------------------------------------------------------------

bodies = st.one_of(
    st.text(max_size=50).map(str.encode),
    st.builds(dict, message=st.one_of(st.none(), st.integers(), st.just(""))).map(json.dumps),
    st.builds(dict, message=st.just("hi"), extra=st.text(max_size=5)).map(json.dumps),
    st.builds(dict, message=st.just("hi"), context=st.text(max_size=5)).map(json.dumps),
    st.builds(dict, message=st.just("hi"), session_id=st.integers()).map(json.dumps),
    st.just(json.dumps({"message": "x" * 4001})),
)


@given(body=bodies)
def test_a_malformed_chat_is_refused_naming_no_internals(body: str | bytes) -> None:
    data = body.encode() if isinstance(body, str) else body
    with pytest.raises(Refused) as refused:
        check_chat(CONTEXT, "Bearer abc", data)
    assert (refused.value.status, refused.value.code) == (400, "invalid_request")


def test_a_malformed_or_oversized_chat_over_http_is_refused_and_not_relayed(
    host: tuple[Host, int], relay: int
) -> None:
    malformed = post(relay, b'{"message": ')
    assert malformed.status == 400
    assert error_of(malformed) == {
        "error": "invalid_request",
        "message": "the body is not JSON",
        "request_id": "req-1",
    }
    oversized = post(relay, b"x" * (MAX_BODY_BYTES + 1))
    assert oversized.status == 413
    assert error_of(oversized)["error"] == "too_large"
    assert host[0].received == []


def test_a_failing_host_answers_a_code_and_request_id_only(
    host: tuple[Host, int], relay: int
) -> None:
    host[0].status, host[0].body = 500, b"Traceback: secret=abc at 10.0.3.7"
    answer = post(relay, {"message": "hi"})
    assert answer.status == 502
    raw = answer.read()
    assert json.loads(raw) == {
        "error": "upstream_error",
        "message": "the concierge failed",
        "request_id": "req-1",
    }


def test_an_unreachable_host_is_a_502_naming_no_address() -> None:
    config = RelayConfig(
        host_url="http://127.0.0.1:9/invocations", allowed_origins=frozenset({WEB})
    )
    for port in _serve(relay_server(config, ("127.0.0.1", 0))):
        answer = post(port, {"message": "hi"})
        assert answer.status == 502
        raw = answer.read()
        assert json.loads(raw)["error"] == "upstream_unavailable"
        assert b"127.0.0.1" not in raw


def test_cors_names_only_allowed_origins(host: tuple[Host, int], relay: int) -> None:
    host[0].go.set()
    answer = post(relay, {"message": "hi"}, origin="https://evil.example")
    assert answer.status == 200
    assert "access-control-allow-origin" not in answer.headers
    assert answer.headers["vary"] == "origin"
    answer.read()


def test_the_functions_handler_is_an_executable_script_starting_the_relay() -> None:
    script = Path(__file__).parents[2] / "servers/edge/chat.sh"
    assert os.access(script, os.X_OK)
    assert script.read_text().splitlines()[-1] == "exec python3 -m servers.edge.chat"
