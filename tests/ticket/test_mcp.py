"""The ticket server's tools through an in-memory MCP client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from datetime import date
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.client.transports import FastMCPTransport
from mcp.shared.exceptions import MCPError, UrlElicitationRequiredError
from mcp_types import URL_ELICITATION_REQUIRED, TextContent, TextResourceContents

from servers.core.app import KitMCP
from servers.core.auth import Principal, acting_as
from servers.core.scopes import (
    CUSTOMER_SCOPES,
    OPS_SCOPES,
    TICKETS_CATALOGUE,
    TICKETS_OPERATE,
)
from servers.ticket.rules import pricing_rules_text
from servers.ticket.server import build_server
from servers.ticket.service import Caller

from .conftest import Servers
from .support import JANE, JOHN, NOW

OPS_CLIENT = Principal("ops", "ops", frozenset({TICKETS_OPERATE}))

READ_TOOLS = {
    "get_upgrade_order",
    "list_my_orders",
    "list_my_tickets",
    "find_my_ticket",
    "get_ticket",
    "check_upgrade_eligibility",
    "get_upgrade_options",
    "get_availability_calendar",
    "quote_upgrade",
    "quote_change",
}
WRITE_TOOLS = {"select_upgrade", "pay_upgrade", "cancel_upgrade", "change_upgrade"}
CATALOGUE_TOOLS = {"get_price_calendar", "quote_price"}
OPERATOR_TOOLS = {
    "list_tickets_for_customer",
    "find_ticket_for_customer",
    "get_ticket_for_customer",
    "check_upgrade_eligibility_for_customer",
    "get_upgrade_options_for_customer",
    "get_availability_calendar_for_customer",
    "quote_upgrade_for_customer",
    "get_upgrade_order_for_customer",
    "list_orders_for_customer",
    "cancel_upgrade_for_customer",
}


def server_of(servers: Servers) -> KitMCP:
    journey = servers.journey
    return build_server(journey.tickets, journey, operator_client_ids=frozenset({"ops"}))


def as_customer(caller: Caller, scopes: Iterable[str] = CUSTOMER_SCOPES) -> Principal:
    assert caller.customer_id is not None
    return Principal("web", caller.customer_id, frozenset(scopes))


@pytest.fixture
async def client(servers: Servers) -> AsyncIterator[Client[FastMCPTransport]]:
    with acting_as(as_customer(JOHN)):
        async with Client(server_of(servers)) as c:
            yield c


@pytest.fixture
async def operator(servers: Servers) -> AsyncIterator[Client[FastMCPTransport]]:
    with acting_as(OPS_CLIENT):
        async with Client(server_of(servers)) as c:
            yield c


async def call(client: Client[FastMCPTransport], tool: str, **args: Any) -> Any:
    result = await client.call_tool(tool, args, raise_on_error=False)
    return result


async def test_every_tool_is_described_scoped_and_annotated(
    client: Client[FastMCPTransport],
) -> None:
    tools = {t.name: t for t in await client.list_tools()}
    assert set(tools) >= READ_TOOLS | WRITE_TOOLS | CATALOGUE_TOOLS
    for name in READ_TOOLS:
        tool = tools[name]
        assert tool.description
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert (tool.meta or {}).get("scopes") == ["tickets/read"]
        for param, schema in tool.input_schema["properties"].items():
            assert schema.get("description"), f"{name}.{param} has no description"


async def test_options_through_the_tool_are_structured(client: Client[FastMCPTransport]) -> None:
    result = await call(client, "get_upgrade_options", ticket_number="TKT-JD0001")
    assert not result.is_error
    tiers = result.structured_content["tiers"]
    assert [t["tier"] for t in tiers] == ["standard", "non_stop", "double_fun"]


@pytest.mark.parametrize(
    ("tool", "args", "code"),
    [
        ("get_ticket", {"ticket_number": "TKT-NOPE0000"}, "TICKET_NOT_FOUND"),
        ("get_ticket", {"ticket_number": "nope"}, "TICKET_NOT_FOUND"),
        ("get_ticket", {"ticket_number": "TKT\nJD0001"}, "INVALID_ARGUMENT"),
        ("get_ticket", {"ticket_number": "TKT-JD0001", "customer_id": "x"}, "INVALID_ARGUMENT"),
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
    result = await call(client, tool, **args)
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
    )
    assert not selected.is_error, selected.content
    order_id = selected.structured_content["order_id"]
    paid = await call(
        client,
        "pay_upgrade",
        order_id=order_id,
        payment_method="pm_card_chargeDeclined",
        idempotency_key="pay-mcp-0001",
    )
    assert not paid.is_error, "a decline is an answer, not an error"
    assert paid.structured_content["payment_status"] == "declined"
    assert paid.structured_content["decline_code"] == "generic_decline"
    mine = await call(client, "list_my_orders")
    assert [o["order_id"] for o in mine.structured_content["orders"]] == [order_id]


async def text_of(client: Client[FastMCPTransport], uri: str) -> str:
    [content] = await client.read_resource(uri)
    assert isinstance(content, TextResourceContents)
    return content.text


async def test_resources_and_the_upgrade_prompt(
    servers: Servers, client: Client[FastMCPTransport]
) -> None:
    resources = {str(r.uri) for r in await client.list_resources()}
    assert resources == {
        "tickets://tiers",
        "tickets://pricing-rules",
        "ui://ticket/calendar.html",  # the MCP Apps: tests/ticket/test_apps.py
        "ui://ticket/summary.html",
    }
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
    async with Client(server_of(servers)) as anonymous:
        result = await call(anonymous, "get_ticket", ticket_number="TKT-JD0001")
    assert result.is_error
    assert result.content[0].text == "NOT_ALLOWED: this call carries no access token"


async def test_a_customer_acts_for_themself_only(servers: Servers) -> None:
    with acting_as(as_customer(JOHN)):
        async with Client(server_of(servers)) as customer:
            mine = await call(customer, "get_ticket", ticket_number="TKT-JD0001")
            theirs = await call(customer, "list_tickets_for_customer", customer_id=JANE.customer_id)
    assert not mine.is_error, mine.content
    assert mine.structured_content["ticket_number"] == "TKT-JD0001"
    assert theirs.content[0].text.startswith("NOT_ALLOWED: ")


async def test_a_service_token_on_a_customer_tool_is_not_allowed(servers: Servers) -> None:
    # A client-credentials token's subject is its client id: before, that id was taken for a
    # customer's and refused as "INVALID_ARGUMENT: customer_id ...".
    with acting_as(Principal("host-agent", "host-agent")):
        async with Client(server_of(servers)) as service:
            result = await call(service, "get_ticket", ticket_number="TKT-JD0001")
    assert result.is_error
    text = result.content[0].text
    assert text.startswith("NOT_ALLOWED: "), text
    assert "customer_id" not in text


async def names(server: FastMCP, principal: Principal) -> set[str]:
    with acting_as(principal):
        async with Client(server) as c:
            return {t.name for t in await c.list_tools()}


async def test_each_caller_is_listed_exactly_the_tools_its_scopes_reach(servers: Servers) -> None:
    server = server_of(servers)
    everything = {t.name for t in await server.list_tools()}
    customer = await names(server, as_customer(JOHN))
    assert customer == READ_TOOLS | WRITE_TOOLS | CATALOGUE_TOOLS
    assert await names(server, as_customer(JOHN, [TICKETS_CATALOGUE])) == CATALOGUE_TOOLS
    operator = await names(server, Principal("ops", "ops", frozenset(OPS_SCOPES)))
    assert operator == everything
    assert everything >= OPERATOR_TOOLS
    with acting_as(as_customer(JOHN)):
        async with Client(server) as c:
            for tool in await c.list_tools():
                assert "customer_id" not in tool.input_schema["properties"], tool.name


async def test_operators_act_for_the_customer_they_name(
    operator: Client[FastMCPTransport],
) -> None:
    tickets = await call(operator, "list_tickets_for_customer", customer_id=JOHN.customer_id)
    assert len(tickets.structured_content["tickets"]) == 4
    found = await call(
        operator, "get_ticket_for_customer", customer_id=JANE.customer_id, ticket_number="js0003"
    )
    assert found.structured_content["ticket_number"] == "TKT-JS0003"
    own_tool = await call(operator, "get_ticket", ticket_number="TKT-JD0001")
    assert own_tool.is_error
    text = own_tool.content[0].text
    assert text.startswith("NOT_ALLOWED: "), text
    assert "_for_customer" in text


async def test_public_prices_need_no_ticket(servers: Servers) -> None:
    with acting_as(Principal("host-agent", "host-agent", frozenset({TICKETS_CATALOGUE}))):
        async with Client(server_of(servers)) as visitor:
            calendar = await call(
                visitor, "get_price_calendar", ticket_type="general", tier="double_fun"
            )
            quote = await call(
                visitor, "quote_price", ticket_type="general", tier="double_fun", date="2026-12-24"
            )
            premium = await call(
                visitor, "quote_price", ticket_type="premium", tier="standard", date="2026-12-24"
            )
    days = calendar.structured_content["days"]
    assert len(days) == 60
    eve = next(d for d in days if d["date"] == "2026-12-24")
    assert (eve["price_cents"], eve["band"], eve["multiplier"]) == (11250, "peak", "1.5")
    assert quote.structured_content["total_cents"] == 11250
    assert quote.structured_content["ticket_type"] == "general"
    assert premium.content[0].text.startswith("NO_UPGRADE_PATH: ")
    assert NOW.date().isoformat() not in {d["date"] for d in days}


async def test_a_loose_reference_and_a_search_find_the_customers_own_ticket(
    client: Client[FastMCPTransport],
) -> None:
    for written in ("tkt-jd0001", "TKT JD 0001", "jd0001", " JD-00-01 "):
        got = await call(client, "get_ticket", ticket_number=written)
        assert got.structured_content["ticket_number"] == "TKT-JD0001", written
    theirs = await call(client, "get_ticket", ticket_number="js0001")
    missing = await call(client, "get_ticket", ticket_number="zz0001")
    assert theirs.content[0].text == missing.content[0].text.replace("zz0001", "js0001")
    assert "list_my_tickets" in theirs.content[0].text
    by_type = await call(client, "find_my_ticket", query="VIP")
    assert [t["ticket_number"] for t in by_type.structured_content["tickets"]] == ["TKT-JD0003"]
    by_part = await call(client, "find_my_ticket", query="jd 000")
    assert len(by_part.structured_content["tickets"]) == 4
    visit = by_type.structured_content["tickets"][0]["visit_date"]
    by_date = await call(client, "find_my_ticket", query=visit)
    assert [t["ticket_number"] for t in by_date.structured_content["tickets"]] == ["TKT-JD0003"]
    nothing = await call(client, "find_my_ticket", query="js0001")
    assert nothing.structured_content["tickets"] == []
    assert "list_my_tickets" in nothing.structured_content["message"]


async def test_a_client_that_opens_urls_is_asked_to_open_the_checkout_page(
    servers: Servers,
) -> None:
    """MCP URL-mode elicitation: a client that declared it gets error -32042 naming the
    checkout page (its user pays there, then it retries); one that did not gets the page in the
    answer (``test_paying_without_a_method_answers_with_the_orders_checkout_page``)."""

    async def never_called(*_: Any) -> Any:
        raise AssertionError("URL mode is an error response, not a request to the client")

    journey = servers.journey
    day = date(2026, 12, 24)
    order = await journey.select_upgrade(JOHN, "TKT-JD0001", "standard", day, "select-url-01")
    with acting_as(as_customer(JOHN)):
        async with Client(server_of(servers), elicitation_handler=never_called) as opener:
            with pytest.raises(MCPError) as asked:
                await opener.call_tool(
                    "pay_upgrade", {"order_id": order.order_id, "idempotency_key": "pay-url-01"}
                )
        async with Client(server_of(servers)) as plain:
            answered = await plain.call_tool(
                "pay_upgrade", {"order_id": order.order_id, "idempotency_key": "pay-url-02"}
            )
    assert asked.value.code == URL_ELICITATION_REQUIRED
    [elicitation] = UrlElicitationRequiredError.from_error(asked.value.error).elicitations
    assert answered.structured_content["payment_status"] == "requires_checkout"
    assert elicitation.url == answered.structured_content["checkout_url"]
    assert elicitation.elicitation_id == f"pay:{order.order_id}"
