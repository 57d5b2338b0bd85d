"""The chat relay: the web app's chat, streamed from the concierge host's AgentCore Runtime to
the browser piece by piece, as the host writes it.

Python's Lambda runtimes cannot stream a response, so this is a plain HTTP server (standard
library only) run in the REST edge's chat function behind the Lambda Web Adapter
(infra/README.md, "The chat streams"): API Gateway invokes the function with
InvokeWithResponseStream (the integration's response transfer mode is ``STREAM``), the adapter
hands the event to this server as an HTTP request and writes its answer, as it comes, in the
format API Gateway streams (the status and headers as JSON, eight NUL bytes, then the body).

``POST /chat``: API Gateway's Cognito authorizer has checked the access token (scope
``concierge/chat``) and its validator the body; the adapter passes the authorizer's claims in
``x-amzn-request-context``. The relay checks both again, then forwards the body with the
caller's own ``Authorization`` (the runtime's JWT authorizer and the host check it once more).
A refusal or failure before the host's first byte is JSON ``{"error", "message",
"request_id"}`` with a stable code and plain words, never an upstream's body; once the stream
has begun, a broken upstream ends it with the chat's own ``error`` and ``done`` events.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.client import HTTPConnection, HTTPException, HTTPResponse, HTTPSConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

CHAT_PATH = "/chat"
READY_PATH = "/ready"
"""The adapter's readiness check (``AWS_LWA_READINESS_CHECK_PATH``); API Gateway routes only
``/chat`` here."""
REQUEST_CONTEXT_HEADER = "x-amzn-request-context"
SESSION_HEADER = "X-Amzn-Bedrock-AgentCore-Runtime-Session-Id"
MAX_MESSAGE_CHARS = 4000
MAX_BODY_BYTES = 64 * 1024
UPSTREAM_IDLE_SECONDS = 75.0
"""Longest silence of the host before the relay gives up: above the host's 60 s wait for the
model's next piece, so a slow model ends the turn with the host's own error, not ours."""
CHUNK_BYTES = 16 * 1024
EVENT_END = b"\n\n"
BROKEN_STREAM = (
    b'data: {"type": "error", "code": "UNAVAILABLE", '
    b'"message": "The concierge stopped answering. Please try again."}\n\n'
    b'data: {"type": "done"}\n\n'
)


@dataclass(frozen=True)
class RelayConfig:
    host_url: str
    """The host runtime's invocation URL (AgentCore, HTTP protocol)."""
    allowed_origins: frozenset[str]
    """Browser origins allowed to read the chat's answers (CORS allow-list)."""
    idle_seconds: float = UPSTREAM_IDLE_SECONDS


@dataclass(frozen=True)
class Refused(Exception):
    status: int
    code: str
    message: str


@dataclass(frozen=True)
class Chat:
    """A checked chat request: what to relay, for whom."""

    body: dict[str, Any]
    subject: str
    authorization: str


def check_chat(context: Mapping[str, Any], authorization: str, body: bytes) -> Chat:
    """The chat to relay, or :class:`Refused` saying why not (nothing is relayed then)."""
    authorizer = context.get("authorizer")
    claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
    subject = claims.get("sub") if isinstance(claims, Mapping) else None
    if not isinstance(subject, str) or not subject or not authorization:
        # API Gateway's authorizer lets nothing through without a token; if it were ever
        # misconfigured, this refuses rather than relaying an anonymous call.
        raise Refused(401, "unauthorized", "sign in first")
    try:
        chat = json.loads(body)
    except ValueError:
        raise Refused(400, "invalid_request", "the body is not JSON") from None
    problem = chat_problem(chat)
    if problem:
        raise Refused(400, "invalid_request", problem)
    return Chat(chat, subject, authorization)


def chat_problem(chat: object) -> str:
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


def runtime_session(subject: str, session_id: str | None) -> str | None:
    """AgentCore's runtime session for a conversation, so its turns reach the same warm microVM
    (without one, every invocation starts another). Derived from the caller too, and hashed, so
    no caller's input goes into the header and two customers never share one; none for a first
    turn, whose session the host makes (a header there would name the host's session)."""
    if session_id is None:
        return None
    return hashlib.sha256(f"{subject}\0{session_id}".encode()).hexdigest()


def open_upstream(config: RelayConfig, chat: Chat) -> HTTPResponse:
    """POSTs the chat to the host and returns its answer as it begins (an error status is an
    answer too). Raises OSError when the host cannot be reached."""
    url = urlsplit(config.host_url)
    connection: HTTPConnection = (HTTPSConnection if url.scheme == "https" else HTTPConnection)(
        url.netloc, timeout=config.idle_seconds
    )
    headers = {
        "authorization": chat.authorization,
        "content-type": "application/json",
        "accept": "text/event-stream",
        # One request per connection: the answer then owns the socket, closed with it.
        "connection": "close",
    }
    session = runtime_session(chat.subject, chat.body.get("session_id"))
    if session is not None:
        headers[SESSION_HEADER] = session
    target = url.path + (f"?{url.query}" if url.query else "")
    try:
        connection.request("POST", target, json.dumps(chat.body).encode(), headers)
        return connection.getresponse()
    except BaseException:
        connection.close()
        raise


class ChatRelay(BaseHTTPRequestHandler):
    """One request to the relay (``ThreadingHTTPServer`` runs one per thread)."""

    protocol_version = "HTTP/1.1"  # chunked transfer: each piece goes out as it comes
    config: RelayConfig  # set on the server's subclass by :func:`relay_server`

    def do_GET(self) -> None:
        if self.path == READY_PATH:
            self._json(200, {"status": "ok"})
        else:
            self._not_allowed()

    def do_POST(self) -> None:
        request_id = self._request_id()
        if self.path != CHAT_PATH:
            self._refuse(request_id, Refused(404, "not_found", "no such route"))
            return
        try:
            chat = check_chat(self._context(), self.headers.get("authorization", ""), self._body())
            upstream = open_upstream(self.config, chat)
        except Refused as refused:
            self._refuse(request_id, refused)
            return
        except OSError:
            log.warning("host unreachable (request id %s)", request_id, exc_info=True)
            self._refuse(request_id, Refused(502, "upstream_unavailable", "try again shortly"))
            return
        with upstream:
            if upstream.status in (401, 403):
                self._refuse(request_id, Refused(upstream.status, "unauthorized", "sign in again"))
            elif not 200 <= upstream.status < 300:
                log.warning("host answered %s (request id %s)", upstream.status, request_id)
                self._refuse(request_id, Refused(502, "upstream_error", "the concierge failed"))
            else:
                self._stream(upstream, request_id)

    def do_PUT(self) -> None:
        self._not_allowed()

    do_PATCH = do_DELETE = do_PUT

    def _stream(self, upstream: HTTPResponse, request_id: str) -> None:
        self.send_response(200)
        self._headers(upstream.headers.get("content-type") or "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        # Whole events only: a stream the host breaks off then ends with an event of ours,
        # never glued to half of one of the host's.
        pending = b""
        try:
            while piece := upstream.read1(CHUNK_BYTES):
                pending += piece
                end = pending.rfind(EVENT_END) + len(EVENT_END)
                if end >= len(EVENT_END):
                    self._chunk(pending[:end])
                    pending = pending[end:]
        except (OSError, HTTPException):  # a timeout, a reset, a body cut short
            log.warning("host stream broke (request id %s)", request_id, exc_info=True)
            pending = BROKEN_STREAM
        if pending:
            self._chunk(pending)
        self._chunk(b"")

    def _chunk(self, piece: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.flush()

    def _context(self) -> Mapping[str, Any]:
        try:
            context = json.loads(self.headers.get(REQUEST_CONTEXT_HEADER) or "{}")
        except ValueError:
            return {}
        return context if isinstance(context, dict) else {}

    def _request_id(self) -> str:
        return str(self._context().get("requestId") or uuid.uuid4().hex[:16])

    def _body(self) -> bytes:
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            raise Refused(400, "invalid_request", "a body of known length is needed") from None
        if not 0 <= length <= MAX_BODY_BYTES:
            raise Refused(413, "too_large", f"the body may have {MAX_BODY_BYTES} bytes at most")
        return self.rfile.read(length)

    def _not_allowed(self) -> None:
        code = 405 if self.path == CHAT_PATH else 404
        words = "use POST" if code == 405 else "no such route"
        self._refuse(self._request_id(), Refused(code, HTTPStatus(code).name.lower(), words))

    def _refuse(self, request_id: str, refused: Refused) -> None:
        body = {"error": refused.code, "message": refused.message, "request_id": request_id}
        self._json(refused.status, body)

    def _json(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self._headers("application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _headers(self, content_type: str) -> None:
        # One request per connection (the adapter opens one per invocation anyway), so a body
        # left unread by a refusal is never taken for the next request.
        self.close_connection = True
        self.send_header("connection", "close")
        self.send_header("content-type", content_type)
        self.send_header("cache-control", "no-store")
        self.send_header("vary", "origin")
        origin = self.headers.get("origin", "")
        if origin in self.config.allowed_origins:
            self.send_header("access-control-allow-origin", origin)

    def log_message(self, format: str, *args: Any) -> None:
        # Request lines go to the access log API Gateway keeps; nothing here echoes a token.
        return


def relay_server(config: RelayConfig, address: tuple[str, int]) -> ThreadingHTTPServer:
    """The relay's HTTP server on ``address``, not yet serving."""
    handler = type("ConfiguredChatRelay", (ChatRelay,), {"config": config})
    server = ThreadingHTTPServer(address, handler)
    server.daemon_threads = True
    return server


def main() -> None:
    """The function's process (started by ``chat.sh``): the relay on the adapter's port."""
    logging.basicConfig(level=logging.INFO)
    config = RelayConfig(
        host_url=os.environ["EDGE_HOST_URL"],
        allowed_origins=frozenset(
            o.strip() for o in os.environ.get("EDGE_ALLOWED_ORIGINS", "").split(",") if o.strip()
        ),
    )
    relay_server(config, ("127.0.0.1", int(os.environ.get("AWS_LWA_PORT", "8080")))).serve_forever()


if __name__ == "__main__":
    main()
