"""The ticket server's edge over real HTTP, with the whole stack (issue 10, items 1, 3 and 11):
its unauthenticated payment webhook bounded while streaming and quiet about clients that go
away, and a deeply nested body from a customer answered as a JSON-RPC error."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Protocol

import httpx
import pytest

from servers.data.seed import seed_id
from tests.http.raw import GIVE_UP_SECONDS, HOST, exchange, status_of

pytestmark = pytest.mark.http

JOHN = seed_id("cus", "john.doe@example.com")


class ServerProcess(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def log(self) -> Path: ...


class FullStack(Protocol):
    """What these tests use of the ``full_stack`` fixture (``tests/http/conftest.py``)."""

    @property
    def ticket(self) -> ServerProcess: ...
    def customer_token(self, customer_id: str) -> str: ...


def webhook(headers: str) -> bytes:
    return (
        f"POST /webhooks/payment HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
        f"Webhook-Signature: t=1,v1=00\r\n{headers}\r\n"
    ).encode()


async def test_a_huge_webhook_body_is_refused_before_it_is_read(full_stack: FullStack) -> None:
    # The 400 MB body, announced; the server must answer after these ten bytes.
    answer = await exchange(
        full_stack.ticket.port, webhook("Content-Length: 400000000\r\n") + b"0" * 10
    )
    assert status_of(answer) == 413


async def test_a_chunked_webhook_body_is_cut_off_once_past_the_limit(
    full_stack: FullStack,
) -> None:
    # 17 chunks of 64 KiB pass 1 MiB; the body never ends, so only counting can answer.
    chunk = b"%x\r\n%s\r\n" % (65536, b"0" * 65536)
    answer = await exchange(
        full_stack.ticket.port, webhook("Transfer-Encoding: chunked\r\n") + chunk * 17
    )
    assert status_of(answer) == 413


async def test_a_deeply_nested_body_from_a_customer_is_a_json_rpc_parse_error(
    full_stack: FullStack,
) -> None:
    async with httpx.AsyncClient(timeout=GIVE_UP_SECONDS) as http:
        response = await http.post(
            f"{full_stack.ticket.url}/mcp",
            content=b"[" * 1000 + b"]" * 1000,
            headers={
                "Authorization": f"Bearer {full_stack.customer_token(JOHN)}",
                "Accept": "application/json, text/event-stream",
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 400
    assert json.loads(response.text)["error"]["code"] == -32700
    assert "Traceback" not in full_stack.ticket.log.read_text()


async def test_a_webhook_client_that_drops_its_connection_mid_body_is_not_an_error(
    full_stack: FullStack,
) -> None:
    ticket = full_stack.ticket
    ids = [f"dropped{n:09d}" for n in range(20)]

    async def drop(request_id: str) -> None:
        _, writer = await asyncio.open_connection(HOST, ticket.port)
        request = webhook(f"Content-Length: 1000\r\nX-Request-ID: {request_id}\r\n")
        writer.write(request + b"0" * 500)
        await writer.drain()
        writer.transport.abort()

    await asyncio.gather(*(drop(request_id) for request_id in ids))
    # One line per dropped request, with its id, once the server has seen the client go; before
    # the body was read at the edge, a traceback instead ("Exception in ASGI application").
    deadline = time.monotonic() + GIVE_UP_SECONDS
    while True:
        log = ticket.log.read_text()
        if "Traceback" in log or all(request_id in log for request_id in ids):
            break
        assert time.monotonic() < deadline, "no log line for the dropped requests"
        await asyncio.sleep(0.1)
    assert "Traceback" not in log
    lines = [json.loads(line) for line in log.splitlines() if "dropped" in line]
    assert {line["level"] for line in lines} == {"INFO"}
