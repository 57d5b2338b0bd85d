"""Running the host in-process, with a scripted model, against the real servers of
``full_stack`` (tests/http/conftest.py), and reading its SSE answers."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import httpx
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from host.api import build_app
from host.loop import Concierge, Limits
from host.memory.postgres import PostgresMemory
from host.providers.base import ModelProvider, ModelRequest, ToolResultBlock
from host.settings import HostSettings
from host.toolbox import McpServer
from servers.core.backoff import Backoff
from servers.core.db.connect import ping
from servers.core.db.postgres import PostgresDatabase
from tests.http.conftest import FullStack

ORDER_ID = re.compile(r"ord_[a-z2-7]{26}")


@dataclass
class Host:
    http: httpx.AsyncClient
    full: FullStack

    async def chat(
        self,
        token: str,
        message: str,
        *,
        session_id: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """The events of one chat turn (the request must be answered 200)."""
        answer = await self.http.post(
            "/api/chat",
            json={"message": message, "session_id": session_id, "context": context},
            headers={"authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/event-stream")
        return sse_events(answer.text)


def sse_events(body: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def of_type(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == kind]


def settings_for(full: FullStack, **overrides: Any) -> HostSettings:
    return HostSettings(
        auth_issuer=full.base.issuer,
        auth_jwks_url=f"{full.base.issuer.rstrip('/')}/.well-known/jwks.json",
        database_url=full.database_url,
        ticket_url=full.mcp_url(full.ticket),
        payment_url=full.mcp_url(full.payment),
        **overrides,
    )


@asynccontextmanager
async def running_host(
    full: FullStack, model: ModelProvider | None, limits: Limits | None = None
) -> AsyncIterator[Host]:
    settings = settings_for(full)
    db = await PostgresDatabase(full.database_url, min_size=1, max_size=4).open()
    try:
        memory = PostgresMemory(db)
        concierge = None
        if model is not None:
            concierge = Concierge(
                model,
                memory,
                [
                    McpServer("ticket", settings.ticket_url),
                    McpServer("payment", settings.payment_url),
                ],
                limits or Limits(),
                backoff=Backoff(0.01, 0.05, jitter=0),
            )
        app = build_app(settings, memory=memory, concierge=concierge, health=lambda: ping(db))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1:8080", timeout=120
        ) as http:
            yield Host(http, full)
    finally:
        await db.close()


def mcp(full: FullStack, url: str, token: str) -> Client[StreamableHttpTransport]:
    return Client(StreamableHttpTransport(url, auth=token), timeout=60)


async def call(
    full: FullStack, url: str, token: str, tool: str, **arguments: Any
) -> tuple[bool, Any]:
    """A direct tool call, as any MCP client makes it: (ok, structured result or error text)."""
    async with mcp(full, url, token) as client:
        result = await client.call_tool(tool, arguments, raise_on_error=False)
    if result.is_error:
        return False, " ".join(getattr(b, "text", "") for b in result.content)
    return True, result.structured_content


async def new_customer(full: FullStack, *, days_ahead: int = 20) -> tuple[str, str]:
    """A fresh customer with one active general ticket: (customer id, ticket number)."""
    data = full.mcp_url(full.base.data)
    ok, customer = await call(
        full,
        data,
        full.ops_token(),
        "create_customer",
        email=f"host-{uuid.uuid4().hex[:12]}@example.com",
        full_name="Chat Buyer",
        idempotency_key=f"k-{uuid.uuid4().hex}",
    )
    assert ok, customer
    ok, ticket = await call(
        full,
        data,
        full.ops_token(),
        "issue_ticket",
        customer_id=customer["customer_id"],
        ticket_type="general",
        visit_date=(date.today() + timedelta(days=days_ahead)).isoformat(),
        price_cents=4900,
        idempotency_key=f"k-{uuid.uuid4().hex}",
    )
    assert ok, ticket
    return customer["customer_id"], ticket["ticket_number"]


def last_order_id(request: ModelRequest) -> str:
    """The order id in the latest tool result the model was given."""
    for message in reversed(request.messages):
        for block in message.blocks:
            if isinstance(block, ToolResultBlock):
                found = ORDER_ID.search(block.content)
                if found:
                    return found.group()
    raise AssertionError("no order id in any tool result")
