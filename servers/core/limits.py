"""Limits at the edge of every HTTP app: body size and read time, per-caller rates, header time.

Every route of every server sits behind :class:`BodyLimit` (a body larger than the limit is
refused with ``413`` as soon as the count passes it, or before reading when ``Content-Length``
says so, and a body that trickles in is cut off with ``408``), and behind :class:`RateLimit`
(``429`` with ``Retry-After``, per token bucket keyed by the token's client and subject, or by
the peer address when there is no token). :func:`http_protocol` gives uvicorn a protocol that
closes a connection whose request headers do not arrive in time, which uvicorn itself never does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Types only: the settings import this module for its defaults, and the CLI, which reads
    # settings, should not load Starlette.
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# Defaults of the kit's settings (servers/core/settings.py), and the limits of the dev identity
# provider, which has settings of its own.
MAX_BODY_BYTES = 1024 * 1024
BODY_TIMEOUT_SECONDS = 10.0
HEADER_TIMEOUT_SECONDS = 5.0
KEEP_ALIVE_SECONDS = 5
MAX_CONCURRENCY = 1000
RATE_PER_SECOND = 50.0
RATE_BURST = 200

KEYS_REMEMBERED = 100_000
"""Buckets kept at most; the least recently used go first (a full bucket forgets nothing)."""


async def send_error(
    send: Send,
    status: int,
    body: dict[str, Any],
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    close: bool = False,
) -> None:
    """A small JSON answer; ``close`` ends the connection, whose unread body is then discarded
    instead of being parsed as the next request."""
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *([(b"connection", b"close")] if close else []),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """ASGI middleware: reads the request body first, at most ``max_bytes`` of it within
    ``timeout_seconds``, then hands it to the app in one message.

    Every app of the project reads whole bodies anyway; reading them here, once, bounds the
    memory and time a request can take before any handler (or signature check) runs. A client
    that goes away while sending is simply dropped: there is no one to answer.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, timeout_seconds: float):
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._too_large(send)
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        # Not an error: handlers reading the body would raise ClientDisconnect,
                        # which uvicorn logs as an ERROR with a traceback.
                        log.info("client went away while sending its request body")
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.max_bytes:
                        await self._too_large(send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            log.info("request body not received within %s s; closing", self.timeout_seconds)
            await send_error(send, 408, {"error": "request body not received in time"}, close=True)
            return
        body: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return body
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        await send_error(
            send,
            413,
            {"error": f"request body larger than {self.max_bytes} bytes"},
            close=True,
        )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimit:
    """ASGI middleware: a token bucket per caller, ``per_second`` refilled up to ``burst``.

    Placed after authentication, the caller is the token's client and subject (so each customer
    of the web client, and each user of an agent, has a bucket of their own); without a token it
    is the peer address. ``exempt_clients`` are the project's own services, whose calls on
    behalf of many customers are already limited per customer where they come in.
    ``exempt_paths`` are answered whoever asks: ``/health``, which load balancers and the runner
    poll from one address, and which costs less than a refusal would.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        per_second: float,
        burst: int,
        exempt_clients: Collection[str] = (),
        exempt_paths: Collection[str] = (),
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.per_second = per_second
        self.burst = burst
        self.exempt_clients = frozenset(exempt_clients)
        self.exempt_paths = frozenset(exempt_paths)
        self.clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt_paths:
            await self.app(scope, receive, send)
            return
        key = self._key(scope)
        wait = self._take(key) if key is not None else 0.0
        if wait > 0:
            log.info("rate limit reached for %s", key)
            retry_after = max(1, math.ceil(wait))
            await send_error(
                send,
                429,
                {"error": "rate_limited", "error_description": "too many requests; slow down"},
                [(b"retry-after", str(retry_after).encode())],
            )
            return
        await self.app(scope, receive, send)

    def _key(self, scope: Scope) -> str | None:
        token = getattr(scope.get("user"), "access_token", None)
        if token is not None:
            client = str(token.client_id)
            if client in self.exempt_clients:
                return None
            claims = getattr(token, "claims", None) or {}
            return f"token:{client}:{claims.get('sub', '')}"
        peer = scope.get("client")
        return f"peer:{peer[0] if peer else 'unknown'}"

    def _take(self, key: str) -> float:
        """Takes one token from ``key``'s bucket: 0 when there was one, else the seconds until
        there will be."""
        now = self.clock()
        self._forget_refilled(now)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if len(self._buckets) > KEYS_REMEMBERED:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.per_second)
            bucket.at = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.per_second

    def _forget_refilled(self, now: float, at_most: int = 2) -> None:
        """Forget the least recently used buckets that have refilled by ``now``: a full bucket
        is what a caller without one gets, so forgetting it changes no answer, and the buckets
        kept are those of the last ``burst / per_second`` seconds' callers rather than of the
        last KEYS_REMEMBERED (in a soak of new customers, the ticket server's memory grew by
        one bucket per customer). Two at most per request: the work stays constant, and each
        request adds at most one bucket."""
        for _ in range(at_most):
            oldest = next(iter(self._buckets.values()), None)
            if oldest is None or oldest.tokens + (now - oldest.at) * self.per_second < self.burst:
                return
            self._buckets.popitem(last=False)


def http_protocol(header_timeout_seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, closing a connection whose request line and headers are not
    all in within ``header_timeout_seconds`` of its opening (or of a new request's first byte).

    uvicorn times out only idle keep-alive connections; a client that opens a connection and
    sends nothing, or sends headers a byte at a time, would hold it (and a file descriptor, and
    a place under ``limit_concurrency``) for as long as it likes.
    """
    # Imported here: the settings import this module, and the CLI should not load uvicorn.
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._header_timer is None:
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._header_timer = self.loop.call_later(header_timeout_seconds, self._expire)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expire(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                log.info(
                    "request headers not received within %s s; closing", header_timeout_seconds
                )
                self.transport.close()

    return HeaderTimeoutProtocol
