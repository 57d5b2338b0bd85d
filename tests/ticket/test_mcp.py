"""The ticket server's tools through an in-memory MCP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp_types import TextContent, TextResourceContents

from servers.core.auth import Principal, acting_as
from servers.ticket.rules import pricing_rules_text
from servers.ticket.server import build_server

from .conftest import Servers
from .support import JANE, JOHN

OPS_CLIENT = Principal("ops")

READ_TOOLS = {
    "get_upgrade_order",
    "list_my_orders",
    "list_my_tickets",
    "get_ticket",
    "check_upgrade_eligibility",
    "get_upgrade_options",
    "get_availability_calendar",
    "quote_upgrade",
}


WRITE_TOOLS = {"select_upgrade", "pay_upgrade", "cancel_upgrade"}


@pytest.fixture
async def client(servers: Servers) -> AsyncIterator[Client[FastMCPTransport]]:
    journey = servers.journey
    server = build_server(journey.tickets, journey, operator_client_ids=frozenset({"ops"}))
    with acting_as(OPS_CLIENT):  # an operator, who names the customer
        async with Client(server) as c:
            yield c


async def call(client: Client[FastMCPTransport], tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args, raise_on_error=False)
    return result


async def test_every_tool_is_described_scoped_and_annotated(
    client: Client[FastMCPTransport],
) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) >= READ_TOOLS
    for name in READ_TOOLS:
        tool = tools[name]
        assert tool.description
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert (tool.meta or {}).get("scopes") == ["tickets/read"]
        for param, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), f"{name}.{param} has no description"


async def test_options_through_the_tool_are_structured(client: Client[FastMCPTransport]) -> None:
    result = await call(
        client, "get_upgrade_options", ticket_number="TKT-JD0001", customer_id=JOHN.customer_id
    )
    assert not result.is_error
    tiers = result.structured_content["tiers"]
    assert [t["tier"] for t in tiers] == ["standard", "non_stop", "double_fun"]


@pytest.mark.parametrize(
    ("tool", "args", "code"),
    [
        ("get_ticket", {"ticket_number": "TKT-NOPE0000"}, "TICKET_NOT_FOUND"),
        ("get_ticket", {"ticket_number": "nope"}, "INVALID_ARGUMENT"),
        (
            "quote_upgrade",
            {"ticket_number": "TKT-JD0001", "tier": "gold", "date": "2027-01-01"},
            "INVALID_ARGUMENT",
        ),
        (
            "get_availability_calendar",
            {"ticket_number": "TKT-JD0004", "tier": "standard"},
            "NO_UPGRADE_PATH",
        ),
    ],
)
async def test_refusals_carry_codes(
    client: Client[FastMCPTransport], tool: str, args: dict[str, Any], code: str
) -> None:
    result = await call(client, tool, customer_id=JOHN.customer_id, **args)
    assert result.is_error
    assert result.content[0].text.startswith(f"{code}: ")


async def test_the_journey_through_the_tools(client: Client[FastMCPTransport]) -> None:
    selected = await call(
        client,
        "select_upgrade",
        ticket_number="TKT-JD0002",
        tier="double_fun",
        date="2026-12-28",
        idempotency_key="select-mcp-01",
        customer_id=JOHN.customer_id,
    )
    assert not selected.is_error, selected.content
    order_id = selected.structured_content["order_id"]
    paid = await call(
        client,
        "pay_upgrade",
        order_id=order_id,
        payment_method="pm_card_chargeDeclined",
        idempotency_key="pay-mcp-0001",
        customer_id=JOHN.customer_id,
    )
    assert not paid.is_error, "a decline is an answer, not an error"
    assert paid.structured_content["payment_status"] == "declined"
    assert paid.structured_content["decline_code"] == "generic_decline"
    mine = await call(client, "list_my_orders", customer_id=JOHN.customer_id)
    assert [o["order_id"] for o in mine.structured_content["orders"]] == [order_id]


async def text_of(client: Client[FastMCPTransport], uri: str) -> str:
    [content] = await client.read_resource(uri)
    assert isinstance(content, TextResourceContents)
    return content.text


async def test_resources_and_the_upgrade_prompt(
    servers: Servers, client: Client[FastMCPTransport]
) -> None:
    resources = {str(r.uri) for r in await client.list_resources()}
    assert resources == {"tickets://tiers", "tickets://pricing-rules"}
    tiers = json.loads(await text_of(client, "tickets://tiers"))
    assert [t["tier"] for t in tiers] == ["standard", "non_stop", "double_fun"]
    assert tiers[2]["base_price_cents"] == {"general": 7500, "standard": 5000, "vip": 2500}
    rules_text = await text_of(client, "tickets://pricing-rules")
    assert rules_text == pricing_rules_text(hold_minutes=servers.journey.tickets.hold_minutes)
    prompt = await client.get_prompt("upgrade_ticket", {"ticket_number": "TKT-JD0001"})
    content = prompt.messages[0].content
    assert isinstance(content, TextContent)
    text = content.text
    assert "TKT-JD0001" in text
    assert "confirms" in text


async def test_a_call_without_a_caller_is_refused_not_trusted(servers: Servers) -> None:
    # Before: no token meant the most trusted caller, an operator.
    journey = servers.journey
    server = build_server(journey.tickets, journey, operator_client_ids=frozenset({"ops"}))
    async with Client(server) as anonymous:
        result = await call(
            anonymous, "get_ticket", ticket_number="TKT-JD0001", customer_id=JOHN.customer_id
        )
    assert result.is_error
    assert result.content[0].text == "NOT_ALLOWED: this call carries no access token"


async def test_a_customer_acts_for_themself_only(servers: Servers) -> None:
    journey = servers.journey
    server = build_server(journey.tickets, journey, operator_client_ids=frozenset({"ops"}))
    assert JOHN.customer_id is not None
    with acting_as(Principal("web", JOHN.customer_id)):
        async with Client(server) as customer:
            mine = await call(customer, "get_ticket", ticket_number="TKT-JD0001")
            theirs = await call(customer, "list_my_tickets", customer_id=JANE.customer_id)
    assert not mine.is_error, mine.content
    assert mine.structured_content["ticket_number"] == "TKT-JD0001"
    assert theirs.content[0].text.startswith("NOT_ALLOWED: ")


async def test_a_service_token_on_a_customer_tool_is_not_allowed(servers: Servers) -> None:
    # A client-credentials token's subject is its client id: before, that id was taken for a
    # customer's and refused as "INVALID_ARGUMENT: customer_id ...".
    journey = servers.journey
    server = build_server(journey.tickets, journey, operator_client_ids=frozenset({"ops"}))
    with acting_as(Principal("host-agent", "host-agent")):
        async with Client(server) as service:
            result = await call(service, "get_ticket", ticket_number="TKT-JD0001")
    assert result.is_error
    text = result.content[0].text
    assert text.startswith("NOT_ALLOWED: "), text
    assert "customer_id" not in text
