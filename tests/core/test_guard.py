"""The remembered Host/Origin guard answers every request as FastMCP's own guard does, the first
time and every time after, and keeps a bounded number of verdicts."""

from __future__ import annotations

from typing import Any

import pytest
from fastmcp.server.http import HostOriginGuardMiddleware
from hypothesis import example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from servers.core.guard import RememberedGuard, remember_guard
from tests.core.test_app import app_client

HOSTS = [
    "127.0.0.1:8000",
    "localhost",
    "localhost:8000",
    "[::1]:8000",
    "0.0.0.0",
    "evil.example",
    "tickets.example.com",
    "LOCALHOST:8000",
    "",
    "a b",
]
ORIGINS = [
    "http://localhost:6274",
    "http://localhost:8000",
    "https://tickets.example.com",
    "http://evil.example",
    "null",
    "http://127.0.0.1:8000/",
    "HTTP://LOCALHOST:6274",
    "",
]
SERVERS = [("127.0.0.1", 8000), ("0.0.0.0", 8000), ("10.0.0.5", 8000), ("::1", 8000), None]


async def through(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-app", b"1")]})
    await send({"type": "http.response.body", "body": b"through"})


async def answer(app: Any, scope: Scope) -> list[Message]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(dict(scope), receive, send)
    return sent


options = st.fixed_dictionaries(
    {
        "mode": st.sampled_from(["auto", "strict"]),
        "allowed_hosts": st.none()
        | st.lists(st.sampled_from(["tickets.example.com", "*.example"])),
        "allowed_origins": st.none()
        | st.lists(st.sampled_from(["http://localhost:6274", "https://*.example.com"])),
    }
)
header = (
    st.sampled_from([(b"host", h.encode()) for h in HOSTS])
    | st.sampled_from([(b"origin", o.encode()) for o in ORIGINS])
    | st.just((b"accept", b"application/json"))
)
request = st.fixed_dictionaries(
    {
        "type": st.just("http"),
        "scheme": st.sampled_from(["http", "https"]),
        "server": st.sampled_from(SERVERS),
        "path": st.sampled_from(["/mcp", "/health"]),
        "headers": st.lists(header, max_size=4),
    }
)


@settings(max_examples=120, deadline=None, derandomize=True)
@given(options=options, requests=st.lists(request, min_size=1, max_size=6))
@example(
    options={"mode": "auto", "allowed_hosts": None, "allowed_origins": []},
    requests=[
        {
            "type": "http",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "path": "/mcp",
            "headers": [(b"host", b"evil.example"), (b"host", b"localhost")],
        },
    ],
)
@example(  # the same Host and Origin: the same origin over https only
    options={"mode": "strict", "allowed_hosts": ["tickets.example.com"], "allowed_origins": None},
    requests=[
        {
            "type": "http",
            "scheme": scheme,
            "server": ("10.0.0.5", 8000),
            "path": "/mcp",
            "headers": [
                (b"host", b"tickets.example.com"),
                (b"origin", b"https://tickets.example.com"),
            ],
        }
        for scheme in ("https", "http")
    ],
)
async def test_every_answer_is_fastmcps_own(
    options: dict[str, Any], requests: list[dict[str, Any]]
) -> None:
    fastmcp_guard = HostOriginGuardMiddleware(through, **options)
    remembered = RememberedGuard(through, options, remembered=3)
    # Each request twice, so that later ones meet remembered and forgotten verdicts alike.
    for scope in requests + requests:
        assert await answer(remembered, scope) == await answer(fastmcp_guard, scope)


async def test_the_verdicts_kept_are_bounded_and_the_newest() -> None:
    guard = RememberedGuard(through, {"allowed_origins": []}, remembered=3)
    for n in range(10):
        scope = {
            "type": "http",
            "scheme": "http",
            "server": ("127.0.0.1", 8000),
            "headers": [(b"host", f"h{n}.example".encode())],
        }
        refused = await answer(guard, scope)
        assert refused[0]["status"] == 421
    assert [key[2] for key in guard._verdicts] == [b"h7.example", b"h8.example", b"h9.example"]


async def test_a_kit_server_refuses_a_foreign_host_with_fastmcps_answer() -> None:
    async with await app_client() as client:
        for _ in range(2):
            refused = await client.get("/health", headers={"Host": "evil.example"})
            assert (refused.status_code, refused.text) == (421, "Misdirected Request")
            # The request id is added to each answer, not to the remembered one.
            assert len(refused.headers.get_list("x-request-id")) == 1
        assert (await client.get("/health")).status_code == 200


def test_an_app_without_fastmcps_guard_is_refused() -> None:
    with pytest.raises(RuntimeError, match="no Host/Origin guard"):
        remember_guard(Starlette())
