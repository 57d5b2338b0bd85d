"""The edge limits at the ASGI level: body size and read time, per-caller rates, readiness cache,
and malformed bodies on /mcp."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import anyio
import pytest
from fastmcp.server.auth import AccessToken
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from starlette.types import Message, Receive, Scope, Send

from servers.core.app import Readiness
from servers.core.auth import ScopeGate
from servers.core.limits import BodyLimit, RateLimit

LIMIT = 1000


class Recorder:
    """An ASGI app that reads the whole body and answers 200 with its size."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.called = True
        while True:
            message = await receive()
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(self.body)).encode()})


def http_scope(
    headers: Sequence[tuple[bytes, bytes]] = (), *, user: Any = None, path: str = "/"
) -> Scope:
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": list(headers),
        "client": ("10.0.0.7", 5000),
    }
    if user is not None:
        scope["user"] = user
        scope["auth"] = user
    return scope


class Chunks:
    """A client sending ``chunks``, then (if ``then_block``) nothing more, ever."""

    def __init__(self, chunks: list[bytes], *, then_block: bool = False) -> None:
        self.pending = list(chunks)
        self.then_block = then_block
        self.received = 0

    async def __call__(self) -> Message:
        if self.pending:
            self.received += 1
            chunk = self.pending.pop(0)
            more = bool(self.pending) or self.then_block
            return {"type": "http.request", "body": chunk, "more_body": more}
        if self.then_block:
            await anyio.sleep_forever()
        return {"type": "http.disconnect"}


class Sent:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def __call__(self, message: Message) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int | None:
        return self.messages[0]["status"] if self.messages else None

    def header(self, name: bytes) -> bytes | None:
        return dict(self.messages[0]["headers"]).get(name) if self.messages else None

    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.messages[1:]))


async def test_a_declared_length_over_the_limit_is_refused_before_reading() -> None:
    app, sent = Recorder(), Sent()
    client = Chunks([b"x" * 10], then_block=True)
    limit = BodyLimit(app, max_bytes=LIMIT, timeout_seconds=60)
    await limit(http_scope([(b"content-length", b"400000000")]), client, sent)
    assert sent.status == 413
    assert sent.header(b"connection") == b"close"
    assert client.received == 0
    assert not app.called


async def test_a_streamed_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    app, sent = Recorder(), Sent()
    # No Content-Length (chunked): 600 + 600 passes 1000 on the second chunk; 98 more would come.
    client = Chunks([b"x" * 600] * 100)
    await BodyLimit(app, max_bytes=LIMIT, timeout_seconds=60)(http_scope(), client, sent)
    assert sent.status == 413
    assert client.received == 2
    assert not app.called


async def test_a_body_within_the_limit_reaches_the_app_whole() -> None:
    app, sent = Recorder(), Sent()
    client = Chunks([b"a" * 400, b"b" * 600])
    await BodyLimit(app, max_bytes=LIMIT, timeout_seconds=60)(http_scope(), client, sent)
    assert sent.status == 200
    assert app.body == b"a" * 400 + b"b" * 600


async def test_a_body_that_stops_arriving_is_answered_408_and_the_connection_closed() -> None:
    app, sent = Recorder(), Sent()
    client = Chunks([b"x" * 10], then_block=True)
    await BodyLimit(app, max_bytes=LIMIT, timeout_seconds=0.05)(http_scope(), client, sent)
    assert sent.status == 408
    assert sent.header(b"connection") == b"close"
    assert not app.called


async def test_a_client_gone_while_sending_gets_no_answer_and_reaches_no_handler() -> None:
    app, sent = Recorder(), Sent()
    client = Chunks([b"x" * 10])  # then http.disconnect, with more_body still announced
    client.then_block = False

    async def receive() -> Message:
        message = await client()
        if message["type"] == "http.request":
            message["more_body"] = True
        return message

    await BodyLimit(app, max_bytes=LIMIT, timeout_seconds=60)(http_scope(), receive, sent)
    assert sent.messages == []
    assert not app.called


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def user(client_id: str, sub: str) -> AuthenticatedUser:
    token = AccessToken(
        token=f"{client_id}-{sub}",
        client_id=client_id,
        scopes=["tickets/read"],
        expires_at=None,
        claims={"sub": sub, "client_id": client_id},
    )
    return AuthenticatedUser(token)


async def call(limit: RateLimit, scope: Scope) -> Sent:
    sent = Sent()
    await limit(scope, Chunks([b""]), sent)
    return sent


async def test_a_caller_past_its_burst_gets_429_with_retry_after_until_it_refills() -> None:
    clock = Clock()
    limit = RateLimit(Recorder(), per_second=0.5, burst=3, clock=clock)
    customer = http_scope(user=user("web", "cus_a"))
    assert [(await call(limit, customer)).status for _ in range(3)] == [200, 200, 200]
    refused = await call(limit, customer)
    assert refused.status == 429
    assert refused.header(b"retry-after") == b"2"  # one request per 2 s
    assert refused.json()["error"] == "rate_limited"
    clock.now += 2
    assert (await call(limit, customer)).status == 200
    assert (await call(limit, customer)).status == 429


async def test_buckets_are_per_client_and_subject_then_per_peer() -> None:
    limit = RateLimit(Recorder(), per_second=0.1, burst=1, clock=Clock())
    assert (await call(limit, http_scope(user=user("web", "cus_a")))).status == 200
    assert (await call(limit, http_scope(user=user("web", "cus_a")))).status == 429
    # Another customer of the same client, the same customer through another client.
    assert (await call(limit, http_scope(user=user("web", "cus_b")))).status == 200
    assert (await call(limit, http_scope(user=user("host-agent", "cus_a")))).status == 200
    # No token: the peer address is the caller.
    assert (await call(limit, http_scope())).status == 200
    assert (await call(limit, http_scope())).status == 429


async def test_only_the_buckets_of_recent_callers_are_kept() -> None:
    """A bucket that has refilled is forgotten (a new one is the same), so memory follows the
    callers of the last burst / per_second seconds, not every caller ever seen."""
    clock = Clock()
    limit = RateLimit(Recorder(), per_second=1.0, burst=2, clock=clock)
    for n in range(50):
        assert (await call(limit, http_scope(user=user("web", f"cus_{n}")))).status == 200
        clock.now += 0.1
    # Each bucket refills 2 s after its one call: about the last 20 callers are kept.
    assert len(limit._buckets) <= 22
    # A caller forgotten meanwhile starts again with a full burst; one still kept does not.
    assert [
        (await call(limit, http_scope(user=user("web", "cus_0")))).status for _ in range(3)
    ] == [
        200,
        200,
        429,
    ]
    assert (await call(limit, http_scope(user=user("web", "cus_49")))).status == 200
    assert (await call(limit, http_scope(user=user("web", "cus_49")))).status == 429


async def test_exempt_clients_and_paths_are_never_limited() -> None:
    limit = RateLimit(
        Recorder(),
        per_second=0.1,
        burst=1,
        exempt_clients=["ticket-server"],
        exempt_paths=["/health"],
        clock=Clock(),
    )
    service = http_scope(user=user("ticket-server", "ticket-server"))
    assert [(await call(limit, service)).status for _ in range(5)] == [200] * 5
    health = http_scope(path="/health")
    assert [(await call(limit, health)).status for _ in range(5)] == [200] * 5
    assert (await call(limit, http_scope(path="/mcp"))).status == 200
    assert (await call(limit, http_scope(path="/mcp"))).status == 429


async def test_readiness_runs_the_check_once_per_ttl_and_shares_its_outcome() -> None:
    clock = Clock()
    runs = 0
    failing = False

    async def check() -> None:
        nonlocal runs
        runs += 1
        if failing:
            raise RuntimeError("data server down")

    readiness = Readiness(check, ttl_seconds=2.0, clock=clock)
    assert [await readiness.ready() for _ in range(50)] == [True] * 50
    assert runs == 1
    failing = True
    clock.now += 1.9
    assert await readiness.ready()
    clock.now += 0.2
    assert not await readiness.ready()
    assert runs == 2


async def test_readiness_checks_once_for_callers_arriving_together() -> None:
    runs = 0

    async def slow_check() -> None:
        nonlocal runs
        runs += 1
        await anyio.sleep(0.01)

    readiness = Readiness(slow_check, ttl_seconds=2.0)
    async with anyio.create_task_group() as tasks:
        for _ in range(20):
            tasks.start_soon(readiness.ready)
    assert runs == 1


async def scope_names(name: str) -> tuple[str, ...] | None:
    return ("tickets/read",)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 1000 + b"]" * 1000, id="nested 1000 deep"),
        pytest.param(b"{" * 5000, id="unclosed braces"),
        pytest.param(b'{"jsonrpc": "2.0", "method": ', id="truncated"),
        pytest.param(b"\xff\xfe not utf-8", id="not utf-8"),
    ],
)
async def test_a_body_that_is_not_json_is_a_json_rpc_parse_error(body: bytes) -> None:
    app = Recorder()
    gate = ScopeGate(
        app, path="/mcp", tool_scopes=scope_names, resource_metadata_url="http://x/.well-known"
    )
    sent = Sent()
    scope = http_scope(user=user("web", "cus_a"), path="/mcp")
    await gate(scope, Chunks([body]), sent)
    assert sent.status == 400
    error = sent.json()
    assert error["jsonrpc"] == "2.0"
    assert error["id"] is None
    assert error["error"]["code"] == -32700
    assert not app.called
