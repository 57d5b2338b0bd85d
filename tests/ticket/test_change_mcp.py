"""quote_change and change_upgrade through an in-memory MCP client, as a customer calls them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport

from servers.core.auth import Principal, acting_as
from servers.ticket.server import build_server

from .conftest import Servers
from .support import JOHN
from .test_change import saved_card

MCPClient = Client[FastMCPTransport]
PEAK = date(2026, 12, 24)
PLAIN = "2026-12-01"


@pytest.fixture
async def customer(servers: Servers) -> AsyncIterator[MCPClient]:
    journey = servers.journey
    server = build_server(journey.tickets, journey, operator_client_ids=frozenset({"ops"}))
    assert JOHN.customer_id is not None
    with acting_as(Principal("web", JOHN.customer_id)):
        async with Client(server) as c:
            yield c


@pytest.fixture
async def order_id(servers: Servers) -> str:
    journey = servers.journey
    held = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", PEAK, "select-mcp-01")
    card = await saved_card(servers, "4242424242424242")
    paid = await journey.pay_upgrade(JOHN, held.order_id, card, "pay-mcp-0001")
    assert paid.payment_status == "succeeded"
    return held.order_id


async def call(client: MCPClient, tool: str, **args: Any) -> Any:
    return await client.call_tool(tool, args, raise_on_error=False)


async def test_the_change_tools_are_described_scoped_and_annotated(customer: MCPClient) -> None:
    tools = {t.name: t for t in await customer.list_tools()}
    quote, change = tools["quote_change"], tools["change_upgrade"]
    assert (quote.meta or {}).get("scopes") == ["tickets/read"]
    assert (change.meta or {}).get("scopes") == ["tickets/write"]
    assert quote.annotations is not None
    assert quote.annotations.read_only_hint is True
    assert change.annotations is not None
    assert change.annotations.read_only_hint is False
    assert change.annotations.open_world_hint is True, "it moves money through the processor"
    assert change.annotations.idempotent_hint is True
    for tool in (quote, change):
        properties = tool.input_schema["properties"]
        assert "customer_id" not in properties, "a customer tool takes no customer_id"
        for param, schema in properties.items():
            assert schema.get("description"), f"{tool.name}.{param} has no description"
    assert set(change.input_schema["required"]) == {"order_id", "date", "idempotency_key"}


async def test_quote_then_change_through_the_tools(customer: MCPClient, order_id: str) -> None:
    quote = await call(customer, "quote_change", order_id=order_id, date=PLAIN, tier="double_fun")
    assert not quote.is_error, quote.content
    assert quote.structured_content["difference_cents"] == 3750
    assert quote.structured_content["available"] is True

    changed = await call(
        customer,
        "change_upgrade",
        order_id=order_id,
        date=PLAIN,
        tier="double_fun",
        idempotency_key="change-mcp-0001",
    )
    assert not changed.is_error, changed.content
    answer = changed.structured_content
    assert answer["status"] == "changed"
    assert answer["charged_cents"] == 3750
    assert answer["order"]["visit_date"] == PLAIN

    reused = await call(
        customer,
        "change_upgrade",
        order_id=order_id,
        date="2026-12-02",
        idempotency_key="change-mcp-0001",
    )
    assert reused.is_error
    text = reused.content[0].text
    assert text.startswith("IDEMPOTENCY_MISMATCH: this idempotency_key was used for a different")
    assert "hold_change" not in text
    assert "change:" not in text, "no internal derived key"


async def test_a_sold_out_date_is_a_coded_error(
    customer: MCPClient, order_id: str, servers: Servers
) -> None:
    await servers.data.set_capacity(date.fromisoformat(PLAIN), "standard", 0)
    refused = await call(
        customer, "change_upgrade", order_id=order_id, date=PLAIN, idempotency_key="change-mcp-02"
    )
    assert refused.is_error
    assert refused.content[0].text.startswith("SOLD_OUT: no Standard seats left on 2026-12-01")


async def test_a_service_token_cannot_change_anyones_upgrade(
    servers: Servers, order_id: str
) -> None:
    journey = servers.journey
    server = build_server(journey.tickets, journey, operator_client_ids=frozenset({"ops"}))
    with acting_as(Principal("host-agent", "host-agent")):
        async with Client(server) as service:
            result = await call(service, "quote_change", order_id=order_id, date=PLAIN)
    assert result.is_error
    assert result.content[0].text.startswith("NOT_ALLOWED: ")
