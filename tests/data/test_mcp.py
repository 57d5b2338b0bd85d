"""The data server as an MCP client sees it: its tools, their descriptions, annotations and scopes,
structured outputs, and errors that start with a stable code and never leak internals."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import mcp_types
import pytest
from fastmcp import Client
from fastmcp.client.client import CallToolResult
from fastmcp.client.transports import FastMCPTransport
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

from servers.core.auth import Principal, acting_as
from servers.core.client import RemoteToolError, ServiceClient
from servers.core.db import Database, DatabaseError, DatabaseUnavailable, Transaction
from servers.data.models import (
    ConfirmedOrder,
    Customer,
    ExpiredHolds,
    IntegrityReport,
    Inventory,
    InventoryDay,
    Order,
    OrderList,
    Ticket,
    TicketDetail,
    TicketInventory,
    TicketList,
)
from servers.data.server import build_server
from servers.data.service import DataService

TICKET_SERVER = Principal("ticket-server")
"""The in-memory server is called as the ticket server would call it over HTTP."""

MCPClient = Client[FastMCPTransport]

READ_TOOLS = {
    "find_customer",
    "get_customer",
    "list_tickets",
    "get_ticket",
    "get_ticket_and_inventory",
    "get_date_inventory",
    "get_order",
    "list_orders",
    "check_integrity",
    "get_support_case",
    "list_support_cases",
    "get_order_payments",
}
WRITE_TOOLS = {
    "create_customer",
    "sign_in_customer",
    "issue_ticket",
    "set_capacity",
    "reserve_upgrade",
    "attach_payment",
    "confirm_order",
    "release_order",
    "mark_refunded",
    "expire_holds",
    "open_support_case",
    "close_support_case",
    "hold_change",
    "apply_change",
    "release_change",
}
CODE = re.compile(r"^[A-Z][A-Z_]+: \S")
MISSING_CUSTOMER = "cus_" + "a" * 26
MISSING_ORDER = "ord_" + "a" * 26
SECRET = "secret password=hunter2 SELECT card_number FROM payment.cards"


class NoDatabase:
    """A database no call may reach. A server over it shows that a refusal happens before any
    storage is touched: a call that got that far would fail with INTERNAL instead."""

    def transaction(self) -> AbstractAsyncContextManager[Transaction]:
        raise AssertionError("this call should never have reached the database")

    def read(self) -> AbstractAsyncContextManager[Transaction]:
        raise AssertionError("this call should never have reached the database")

    def autocommit(self) -> AbstractAsyncContextManager[Transaction]:
        raise AssertionError("this call should never have reached the database")

    async def close(self) -> None:
        return None


@pytest.fixture
async def client(db: Database) -> AsyncIterator[MCPClient]:
    with acting_as(TICKET_SERVER):
        async with Client(build_server(DataService(db))) as c:
            yield c


@pytest.fixture
async def offline() -> AsyncIterator[MCPClient]:
    with acting_as(TICKET_SERVER):
        async with Client(build_server(DataService(NoDatabase()))) as c:
            yield c


@pytest.fixture
async def tools(offline: MCPClient) -> dict[str, mcp_types.Tool]:
    return {t.name: t for t in await offline.list_tools()}


def key() -> str:
    return f"mcp-{uuid.uuid4().hex}"


def text_of(result: CallToolResult) -> str:
    assert result.content, result
    block = result.content[0]
    assert isinstance(block, mcp_types.TextContent), block
    return block.text


async def ok(client: MCPClient, tool: str, model: type[BaseModel], **args: Any) -> Any:
    """Calls a tool that must succeed; checks its output is structured and returns it parsed."""
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict), f"{tool} returned no structured content"
    assert json.loads(text_of(result)) == result.structured_content
    return model.model_validate(result.structured_content)


async def error(client: MCPClient, tool: str, **args: Any) -> str:
    """Calls a tool that must fail; returns its error text."""
    result = await client.call_tool(tool, args, raise_on_error=False)
    assert result.is_error, f"{tool} unexpectedly succeeded: {result.structured_content}"
    assert result.structured_content is None
    text = text_of(result)
    assert CODE.match(text), text
    assert "Traceback" not in text
    return text


# What the server offers ----------------------------------------------------------------------


async def test_the_tools_are_exactly_the_documented_ones(tools: dict[str, mcp_types.Tool]) -> None:
    assert set(tools) == READ_TOOLS | WRITE_TOOLS
    assert len(tools) == 27


async def test_every_tool_and_parameter_is_described(tools: dict[str, mcp_types.Tool]) -> None:
    for name, tool in tools.items():
        assert tool.description, name
        assert len(tool.description) > 15, name
        schema = tool.input_schema
        assert schema["type"] == "object"
        assert schema.get("additionalProperties") is False, f"{name} accepts unknown arguments"
        for param, spec in schema.get("properties", {}).items():
            assert spec.get("description"), f"{name}.{param} has no description"


async def test_annotations_are_set_honestly(tools: dict[str, mcp_types.Tool]) -> None:
    for name, tool in tools.items():
        hints = tool.annotations
        assert hints is not None, name
        assert hints.read_only_hint is (name in READ_TOOLS), name
        assert hints.idempotent_hint is True, f"{name} must be safe to retry"
        assert hints.open_world_hint is False, name
        assert hints.destructive_hint is not None, name
        if name in READ_TOOLS:
            assert hints.destructive_hint is False, name


async def test_scopes_are_declared_and_writes_need_data_write(
    tools: dict[str, mcp_types.Tool],
) -> None:
    for name, tool in tools.items():
        scopes = (tool.meta or {}).get("scopes")
        assert isinstance(scopes, list), f"{name} declares no scopes"
        assert scopes, f"{name} declares no scopes"
        assert set(scopes) <= {"data/read", "data/write"}, name
        if name in WRITE_TOOLS:
            # Any one listed scope suffices, so a write tool must list data/write alone.
            assert scopes == ["data/write"], name
        else:
            assert "data/read" in scopes, name


async def test_every_tool_declares_an_object_output_schema(
    tools: dict[str, mcp_types.Tool],
) -> None:
    for name, tool in tools.items():
        assert tool.output_schema is not None, name
        assert tool.output_schema.get("type") == "object", name
        assert tool.output_schema.get("properties"), name


# Structured results --------------------------------------------------------------------------


async def test_a_whole_upgrade_through_the_tools_is_structured(client: MCPClient) -> None:
    customer = await ok(
        client,
        "create_customer",
        Customer,
        email="Ada.Lovelace@Example.com",
        full_name="  Ada Lovelace ",
        idempotency_key=key(),
    )
    assert (customer.email, customer.full_name) == ("ada.lovelace@example.com", "Ada Lovelace")
    assert await ok(client, "find_customer", Customer, email="ADA.lovelace@example.com") == customer
    assert await ok(client, "get_customer", Customer, customer_id=customer.customer_id) == customer
    ticket = await ok(
        client,
        "issue_ticket",
        Ticket,
        customer_id=customer.customer_id,
        ticket_type="general",
        visit_date="2031-03-10",
        price_cents=4900,
        idempotency_key=key(),
    )
    assert (ticket.status, ticket.currency, ticket.upgrade_tier) == ("active", "USD", None)
    assert await ok(client, "get_ticket", Ticket, ticket_number=ticket.ticket_number) == ticket
    listed = await ok(
        client, "list_tickets", TicketList, customer_id=customer.customer_id, status="active"
    )
    assert listed.tickets == [ticket]

    day = await ok(
        client, "set_capacity", InventoryDay, date="2031-03-12", tier="non_stop", capacity=5
    )
    assert (day.capacity, day.seats_left) == (5, 5)
    order = await ok(
        client,
        "reserve_upgrade",
        Order,
        ticket_number=ticket.ticket_number,
        tier="non_stop",
        visit_date="2031-03-12",
        prices={"general": 5000},
        currency="USD",
        idempotency_key=key(),
    )
    assert order.status == "awaiting_payment"
    inventory = await ok(
        client,
        "get_date_inventory",
        Inventory,
        start_date="2031-03-12",
        end_date="2031-03-12",
        tier="non_stop",
    )
    assert [(d.held, d.seats_left) for d in inventory.days] == [(1, 4)]
    both = await ok(
        client,
        "get_ticket_and_inventory",
        TicketInventory,
        ticket_number=ticket.ticket_number,
        customer_id=customer.customer_id,
        start_date="2031-03-12",
        end_date="2031-03-12",
        tier="non_stop",
    )
    assert both.days == inventory.days
    assert both.ticket == await ok(
        client, "get_ticket", TicketDetail, ticket_number=ticket.ticket_number
    )
    assert both.ticket.open_order == order
    await ok(
        client,
        "attach_payment",
        Order,
        order_id=order.order_id,
        payment_intent_id="pi_mcp000000001",
    )
    confirming = {
        "order_id": order.order_id,
        "payment_intent_id": "pi_mcp000000001",
        "amount_cents": 5000,
    }
    with_customer = await ok(client, "confirm_order", ConfirmedOrder, **confirming)
    # The customer to e-mail comes with the confirmation, and again when it is repeated.
    assert with_customer.customer == customer
    assert await ok(client, "confirm_order", ConfirmedOrder, **confirming) == with_customer
    confirmed = Order.model_validate(with_customer.model_dump(exclude={"customer"}))
    assert confirmed.status == "confirmed"
    assert await ok(client, "get_order", Order, order_id=order.order_id) == confirmed
    orders = await ok(client, "list_orders", OrderList, customer_id=customer.customer_id)
    assert orders.orders == [confirmed]
    refunded = await ok(
        client, "mark_refunded", Order, order_id=order.order_id, refund_id="re_mcp000000001"
    )
    assert refunded.status == "refunded"

    second = await ok(
        client,
        "reserve_upgrade",
        Order,
        ticket_number=ticket.ticket_number,
        tier="double_fun",
        visit_date="2031-03-12",
        prices={"general": 7500},
        currency="USD",
        hold_minutes=1,
        idempotency_key=key(),
    )
    released = await ok(
        client, "release_order", Order, order_id=second.order_id, reason="cancelled"
    )
    assert released.status == "cancelled"
    assert (await ok(client, "expire_holds", ExpiredHolds)).expired == []
    report = await ok(client, "check_integrity", IntegrityReport)
    assert (report.ok, report.violations) == (True, [])


# Errors --------------------------------------------------------------------------------------


async def test_domain_errors_start_with_their_code(client: MCPClient) -> None:
    assert (await error(client, "get_customer", customer_id=MISSING_CUSTOMER)).startswith(
        "CUSTOMER_NOT_FOUND: "
    )
    assert (await error(client, "find_customer", email="nobody@example.com")).startswith(
        "CUSTOMER_NOT_FOUND: "
    )
    assert (await error(client, "get_ticket", ticket_number="TKT-NOSUCH1")).startswith(
        "TICKET_NOT_FOUND: "
    )
    assert (await error(client, "get_order", order_id=MISSING_ORDER)).startswith(
        "ORDER_NOT_FOUND: "
    )
    k = key()
    await ok(
        client,
        "create_customer",
        Customer,
        email="taken@example.com",
        full_name="First",
        idempotency_key=k,
    )
    taken = await error(
        client,
        "create_customer",
        email="TAKEN@example.com",
        full_name="Second",
        idempotency_key=key(),
    )
    assert taken.startswith("EMAIL_TAKEN: ")
    mismatch = await error(
        client,
        "create_customer",
        email="other@example.com",
        full_name="First",
        idempotency_key=k,
    )
    assert mismatch.startswith("IDEMPOTENCY_MISMATCH: ")
    backwards = await error(
        client, "get_date_inventory", start_date="2031-03-12", end_date="2031-03-11"
    )
    assert backwards.startswith("INVALID_ARGUMENT: ")
    assert "end_date" in backwards


async def test_sold_out_and_order_exists_through_the_tools(client: MCPClient) -> None:
    customer = await ok(
        client,
        "create_customer",
        Customer,
        email="seats@example.com",
        full_name="Seats",
        idempotency_key=key(),
    )
    tickets = [
        await ok(
            client,
            "issue_ticket",
            Ticket,
            customer_id=customer.customer_id,
            ticket_type="standard",
            visit_date="2031-04-01",
            price_cents=6900,
            idempotency_key=key(),
        )
        for _ in range(2)
    ]
    await ok(client, "set_capacity", InventoryDay, date="2031-04-02", tier="double_fun", capacity=1)

    def reserve_args(ticket: Ticket) -> dict[str, Any]:
        return {
            "ticket_number": ticket.ticket_number,
            "tier": "double_fun",
            "visit_date": "2031-04-02",
            "prices": {"standard": 5000},
            "currency": "USD",
            "idempotency_key": key(),
        }

    order = await ok(client, "reserve_upgrade", Order, **reserve_args(tickets[0]))
    sold_out = await error(client, "reserve_upgrade", **reserve_args(tickets[1]))
    assert sold_out.startswith("SOLD_OUT: ")
    assert "2031-04-02" in sold_out
    # (Another tier: on a sold-out date SOLD_OUT is answered first, see test_service.)
    exists = await error(
        client, "reserve_upgrade", **{**reserve_args(tickets[0]), "tier": "non_stop"}
    )
    assert exists.startswith("ORDER_EXISTS: ")
    below = await error(client, "set_capacity", date="2031-04-02", tier="double_fun", capacity=0)
    assert below.startswith("CAPACITY_BELOW_COMMITTED: ")
    hold = await error(client, "release_order", order_id=order.order_id, reason="expired")
    assert hold.startswith("HOLD_ACTIVE: ")


async def test_an_unknown_tool_is_a_protocol_error_naming_it(offline: MCPClient) -> None:
    """MCP answers an unknown tool with JSON-RPC error -32602, not with a tool result."""
    with pytest.raises(MCPError) as refused:
        await offline.call_tool("drop_everything", {}, raise_on_error=False)
    assert refused.value.code == mcp_types.INVALID_PARAMS
    assert refused.value.message.startswith("UNKNOWN_TOOL: ")
    assert "drop_everything" in refused.value.message


BAD_ARGUMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("get_customer", {"customer_id": "customer-1"}, "customer_id"),
    ("get_customer", {}, "customer_id: required argument is missing"),
    ("get_ticket", {"ticket_number": "TKT-OK12", "verbose": True}, "verbose: unknown argument"),
    ("find_customer", {"email": "not-an-email"}, "email"),
    (
        "issue_ticket",
        {
            "customer_id": MISSING_CUSTOMER,
            "ticket_type": "platinum",
            "visit_date": "2031-01-01",
            "price_cents": 100,
            "idempotency_key": "key-00000001",
        },
        "ticket_type",
    ),
    (
        "issue_ticket",
        {
            "customer_id": MISSING_CUSTOMER,
            "ticket_type": "vip",
            "visit_date": "2031-02-30",
            "price_cents": 100,
            "idempotency_key": "key-00000001",
        },
        "visit_date",
    ),
    (
        "issue_ticket",
        {
            "customer_id": MISSING_CUSTOMER,
            "ticket_type": "vip",
            "visit_date": "2031-02-03",
            "price_cents": -1,
            "idempotency_key": "key-00000001",
        },
        "price_cents",
    ),
    (
        "issue_ticket",
        {
            "customer_id": MISSING_CUSTOMER,
            "ticket_type": "vip",
            "visit_date": "2031-02-03",
            "price_cents": 100,
            "currency": "usd",
            "idempotency_key": "key-00000001",
        },
        "currency",
    ),
    ("set_capacity", {"date": "2031-02-03", "tier": "standard", "capacity": -5}, "capacity"),
    (
        "reserve_upgrade",
        {
            "ticket_number": "TKT-OK12",
            "tier": "standard",
            "visit_date": "2031-02-03",
            "prices": {"general": 100},
            "currency": "USD",
            "hold_minutes": 0,
            "idempotency_key": "key-00000001",
        },
        "hold_minutes",
    ),
    ("release_order", {"order_id": MISSING_ORDER, "reason": "bored"}, "reason"),
    # Lax parsing would read these as 1 January 1970 and as one cent.
    ("get_date_inventory", {"start_date": "0", "end_date": "2031-02-03"}, "start_date"),
    ("set_capacity", {"date": "2031-02-03", "tier": "standard", "capacity": True}, "capacity"),
    (
        "confirm_order",
        {"order_id": MISSING_ORDER, "payment_intent_id": "pi_12345678", "amount_cents": True},
        "amount_cents",
    ),
    (
        "issue_ticket",
        {
            "customer_id": MISSING_CUSTOMER,
            "ticket_type": "vip",
            "visit_date": "2031-02-03",
            "price_cents": 19.99,
            "idempotency_key": "key-00000001",
        },
        "price_cents",
    ),
    (
        "create_customer",
        {"email": "a@example.com", "full_name": "   ", "idempotency_key": "short"},
        "idempotency_key",
    ),
]


@pytest.mark.parametrize(("tool", "args", "expected"), BAD_ARGUMENTS)
async def test_bad_arguments_are_named_in_a_readable_message(
    offline: MCPClient, tool: str, args: dict[str, Any], expected: str
) -> None:
    text = await error(offline, tool, **args)
    assert text.startswith("INVALID_ARGUMENT: "), text
    assert expected in text
    assert len(text) < 600, text
    assert "pydantic" not in text.lower()


async def test_a_huge_argument_is_not_echoed_back(offline: MCPClient) -> None:
    huge = "Z" * 10_000
    cases: list[tuple[str, dict[str, Any], str]] = [
        (
            "create_customer",
            {"email": "a@b.co", "full_name": huge, "idempotency_key": key()},
            "full_name",
        ),
        ("find_customer", {"email": huge + "@example.com"}, "email"),
        ("get_ticket", {"ticket_number": "TKT-" + huge}, "ticket_number"),
        ("get_customer", {"customer_id": MISSING_CUSTOMER, huge: 1}, "unknown argument"),
    ]
    for tool, args, field in cases:
        text = await error(offline, tool, **args)
        assert text.startswith("INVALID_ARGUMENT: "), text
        assert field in text
        assert "Z" * 100 not in text
        assert len(text) < 600


# Unexpected failures -------------------------------------------------------------------------


class Exploding(DataService):
    """A service whose reads fail the way a bug or a broken database would."""

    async def get_customer(self, customer_id: str) -> Customer:
        raise RuntimeError(SECRET)

    async def find_customer(self, email: str) -> Customer:
        raise DatabaseError(
            f'new row violates check constraint "x": {SECRET}',
            sqlstate="23514",
            constraint="x",
        )

    async def get_ticket(self, ticket_number: str, owner: str | None = None) -> TicketDetail:
        raise DatabaseUnavailable(f"connection to server failed: {SECRET}")

    async def get_order(self, order_id: str, owner: str | None = None) -> Order:
        # A statement error without a SQLSTATE (psycopg's client-side checks) is a bug to
        # report, not an outage to retry.
        raise DatabaseError(f"string literal cannot contain NUL: {SECRET}")


@pytest.fixture
async def exploding() -> AsyncIterator[MCPClient]:
    with acting_as(TICKET_SERVER):
        async with Client(build_server(Exploding(NoDatabase()))) as c:
            yield c


def assert_no_secret(text: str) -> None:
    assert "hunter2" not in text
    assert "password" not in text
    assert "SELECT" not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert "DatabaseError" not in text


async def test_an_unexpected_exception_is_internal_with_a_request_id(
    exploding: MCPClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="servers.core.app")
    first = await error(exploding, "get_customer", customer_id=MISSING_CUSTOMER)
    second = await error(exploding, "get_customer", customer_id=MISSING_CUSTOMER)
    for text in (first, second):
        assert text.startswith("INTERNAL: "), text
        assert re.search(r"\(request id [0-9a-f]{8,}\)$", text), text
        assert_no_secret(text)
    assert first != second, "each failed call has its own request id"
    # The details go to the logs instead.
    logged = [
        r
        for r in caplog.records
        if r.name == "servers.core.app" and r.exc_info and "get_customer" in r.getMessage()
    ]
    assert len(logged) == 2
    assert all(SECRET in str(r.exc_info[1]) for r in logged if r.exc_info)


async def test_an_unexpected_database_error_is_internal_without_sql(exploding: MCPClient) -> None:
    text = await error(exploding, "find_customer", email="someone@example.com")
    assert text.startswith("INTERNAL: "), text
    assert "request id" in text
    assert "constraint" not in text
    assert_no_secret(text)


async def test_a_statement_error_without_sqlstate_is_not_an_outage(
    exploding: MCPClient,
) -> None:
    text = await error(exploding, "get_order", order_id="ord_" + "a" * 26)
    assert text.startswith("INTERNAL: "), text
    assert_no_secret(text)


async def test_a_lost_database_is_unavailable_without_details(exploding: MCPClient) -> None:
    text = await error(exploding, "get_ticket", ticket_number="TKT-ABCD1234")
    assert text.startswith("UNAVAILABLE: "), text
    assert "request id" in text
    assert_no_secret(text)


async def test_the_kit_service_client_works_over_an_in_memory_client(db: Database) -> None:
    async with ServiceClient(Client(build_server(DataService(db))), caller=TICKET_SERVER) as data:
        report = await data.call("check_integrity")
        with pytest.raises(RemoteToolError) as refused:
            await data.call("get_ticket", {"ticket_number": "TKT-NONE0000"})
    assert report == {"ok": True, "violations": []}
    assert refused.value.code == "TICKET_NOT_FOUND"
