"""Edge limits over real HTTP (issue 10, items 1, 3 and 11): bodies refused while streaming,
slow headers and bodies cut off, per-caller rate limits with ``Retry-After``, malformed bodies
answered as JSON-RPC errors, and clients that drop their connection logged as nothing worse.

The data server and the identity provider of ``http_stack`` run with the default limits; the
payment server runs with tight ones (``payment_env``) so that a test reaches them quickly.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest

from servers.core.client import tool_call_body, tool_call_headers
from servers.core.scopes import PAYMENTS_READ
from tests.http.raw import GIVE_UP_SECONDS, HOST, exchange, status_of

pytestmark = pytest.mark.http

RATE_BURST = 100
HEADER_TIMEOUT = 0.5
BODY_TIMEOUT = 0.5
LEAKS = ("Traceback", '"level": "ERROR"')


class Server(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def log(self) -> Path: ...


class HttpStack(Protocol):
    """What these tests use of the ``http_stack`` fixture (``tests/http/conftest.py``)."""

    @property
    def idp(self) -> Server: ...
    @property
    def data(self) -> Server: ...
    def token(
        self, scopes: Iterable[str] = ..., *, client_id: str = ..., sub: str | None = ...
    ) -> str: ...
    def ops_token(self) -> str: ...


@pytest.fixture(scope="module")
def payment_env() -> dict[str, str]:
    # Hardly any refill: once a caller's burst is spent, it stays spent for the module.
    return {
        "PAYMENT_RATE_LIMIT_BURST": str(RATE_BURST),
        "PAYMENT_RATE_LIMIT_PER_SECOND": "0.01",
        "PAYMENT_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
        "PAYMENT_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
    }


def body_of(answer: bytes) -> Any:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


def post(path: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return f"POST {path} HTTP/1.1\r\nHost: {HOST}\r\n{lines}\r\n".encode() + body


@pytest.mark.parametrize("path", ["/mcp", "/health", "/.well-known/oauth-protected-resource/mcp"])
async def test_a_huge_declared_body_is_refused_on_every_route_before_it_is_sent(
    http_stack: HttpStack, path: str
) -> None:
    # Ten bytes of a declared 400 MB: the answer must come without the rest.
    request = post(path, {"Content-Type": "application/json", "Content-Length": "400000000"})
    answer = await exchange(http_stack.data.port, request + b"0" * 10)
    assert status_of(answer) == 413


async def test_the_identity_providers_token_endpoint_refuses_a_huge_body(
    http_stack: HttpStack,
) -> None:
    request = post(
        "/oauth2/token",
        {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "400000000"},
    )
    answer = await exchange(http_stack.idp.port, request + b"grant_type=")
    assert status_of(answer) == 413


async def test_a_chunked_body_is_cut_off_once_past_the_limit(http_stack: HttpStack) -> None:
    # 17 chunks of 64 KiB pass 1 MiB and the body never ends: only counting while streaming
    # answers. Nothing is sent past the limit, whose unread bytes would make the close a reset.
    chunk = b"%x\r\n%s\r\n" % (65536, b"0" * 65536)
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    answer = await exchange(http_stack.data.port, post("/mcp", headers) + chunk * 17)
    assert status_of(answer) == 413


async def test_a_deeply_nested_body_with_a_valid_token_is_a_json_rpc_parse_error(
    http_stack: HttpStack,
) -> None:
    async with httpx.AsyncClient(timeout=GIVE_UP_SECONDS) as http:
        response = await http.post(
            f"{http_stack.data.url}/mcp",
            content=b"[" * 1000 + b"]" * 1000,
            headers={
                "Authorization": f"Bearer {http_stack.ops_token()}",
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 400
    error = response.json()
    assert error["jsonrpc"] == "2.0"
    assert error["error"]["code"] == -32700
    log = http_stack.data.log.read_text()
    assert not [leak for leak in LEAKS if leak in log]


async def test_connections_that_never_finish_their_headers_are_closed(
    http_stack: HttpStack, payment_server: Server
) -> None:
    half = f"POST /mcp HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: appl".encode()
    answers = await asyncio.gather(*(exchange(payment_server.port, half) for _ in range(200)))
    # Closed by the server with nothing said (a timeout here would raise instead).
    assert answers == [b""] * 200


async def test_a_body_that_stops_arriving_is_answered_408(
    http_stack: HttpStack, payment_server: Server
) -> None:
    request = post("/mcp", {"Content-Type": "application/json", "Content-Length": "1000"})
    answers = await asyncio.gather(
        *(exchange(payment_server.port, request + b"{" * 100) for _ in range(20))
    )
    assert {status_of(answer) for answer in answers} == {408}


def mcp_request(token: str) -> bytes:
    body = json.dumps(
        tool_call_body("get_payment_intent", {"intent_id": "pi_none"}, 1, client_name="test")
    ).encode()
    headers = {
        **tool_call_headers("get_payment_intent"),
        "Authorization": f"Bearer {token}",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    return post("/mcp", headers, body)


async def statuses(port: int, request: bytes, count: int) -> list[int]:
    return [status_of(await exchange(port, request)) for _ in range(count)]


async def test_a_customer_past_its_burst_gets_429_with_retry_after_and_others_do_not(
    http_stack: HttpStack, payment_server: Server
) -> None:
    def customer(sub: str) -> str:
        return http_stack.token([PAYMENTS_READ], client_id="web", sub=sub)

    port = payment_server.port
    first = await statuses(port, mcp_request(customer("cus_burst")), RATE_BURST)
    assert 429 not in first
    refused = await exchange(port, mcp_request(customer("cus_burst")))
    assert status_of(refused) == 429
    head = refused.split(b"\r\n\r\n", 1)[0].decode().lower()
    retry_after = next(line for line in head.splitlines() if line.startswith("retry-after:"))
    # 0.01 requests per second: up to 100 s for the next one (less what refilled meanwhile).
    assert 1 <= int(retry_after.split(":")[1]) <= 100
    assert body_of(refused)["error"] == "rate_limited"
    # Another customer of the same client has a bucket of its own; the operator is exempt.
    assert status_of(await exchange(port, mcp_request(customer("cus_other")))) != 429
    ops = http_stack.ops_token()
    assert 429 not in await statuses(port, mcp_request(ops), RATE_BURST + 5)


async def drop_mid_body(port: int, path: str, headers: dict[str, str], count: int) -> None:
    """``count`` clients that send half of a 1000-byte body and go away."""

    async def drop() -> None:
        _, writer = await asyncio.open_connection(HOST, port)
        writer.write(post(path, {**headers, "Content-Length": "1000"}, b"0" * 500))
        await writer.drain()
        writer.transport.abort()

    await asyncio.gather(*(drop() for _ in range(count)))


async def wait_for_log(server: Server, line: str, count: int) -> str:
    """The server's log once it holds ``count`` times ``line``, or a traceback."""
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while True:
        text = server.log.read_text()
        if text.count(line) >= count or "Traceback" in text:
            return text
        assert time.monotonic() < deadline, f"not {count} times {line!r} in the log"
        await asyncio.sleep(0.1)


GONE = "client went away while sending its request body"


async def test_a_client_that_drops_its_connection_mid_body_is_not_an_error(
    http_stack: HttpStack,
) -> None:
    # The identity provider's token endpoint reads its form itself: before the kit read bodies
    # at the edge, each dropped client was an "Exception in ASGI application" traceback.
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    await drop_mid_body(http_stack.idp.port, "/oauth2/token", headers, 20)
    log = await wait_for_log(http_stack.idp, GONE, 20)
    assert "Traceback" not in log
    assert " ERROR " not in log
