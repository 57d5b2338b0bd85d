"""The help tools and resources through an in-memory MCP client, over the real data and notify
servers: resources per topic, search_help, and request_human_help opening one case and two
e-mails however often it is retried, only about the customer's own ticket and order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastmcp import Client
from fastmcp.client.transports import FastMCPTransport
from mcp_types import TextResourceContents

from servers.core.auth import Principal, acting_as
from servers.data.cases import SupportCases
from servers.data.server import build_server as build_data_server
from servers.ticket.help.desk import HelpDesk, venue_library
from servers.ticket.help.gateway import SupportGateway
from servers.ticket.help.hours import SupportHours
from servers.ticket.help.search import HelpIndex
from servers.ticket.server import build_server

from .conftest import Servers
from .support import JANE, JOHN, NOW

INBOX = "support@example.com"
JOHN_EMAIL = "john.doe@example.com"
SUPPORT = SupportHours(
    venue_tz=ZoneInfo("UTC"),
    opens=time(9),
    closes=time(17),
    days=frozenset(range(5)),
    response_hours=4,
)
MCPClient = Client[FastMCPTransport]


@pytest.fixture
async def client(servers: Servers) -> AsyncIterator[MCPClient]:
    journey = servers.journey
    library = venue_library(
        hold_minutes=journey.tickets.hold_minutes, support=SUPPORT, support_email=INBOX
    )
    desk = HelpDesk(
        index=HelpIndex(library),
        tickets=journey.tickets,
        cases=SupportGateway(journey.data.client),
        notify=journey.notify,
        support=SUPPORT,
        support_inbox=INBOX,
    )
    server = build_server(
        journey.tickets, journey, operator_client_ids=frozenset({"ops"}), help_desk=desk
    )
    async with Client(server) as c:
        yield c


def as_customer(customer_id: str | None) -> Any:
    return acting_as(Principal("web", customer_id or "web"))


async def call(client: MCPClient, tool: str, **args: Any) -> Any:
    return await client.call_tool(tool, args, raise_on_error=False)


async def test_every_topic_is_a_resource_and_the_index_lists_them(client: MCPClient) -> None:
    with as_customer(JOHN.customer_id):
        resources = {str(r.uri): r for r in await client.list_resources()}
        [index] = await client.read_resource("help://topics")
        assert isinstance(index, TextResourceContents)
        listed = json.loads(index.text)
        assert {t["uri"] for t in listed["topics"]} | {"help://topics"} <= set(resources)
        assert "help://policies/refunds" in resources
        [refunds] = await client.read_resource("help://policies/refunds")
    assert isinstance(refunds, TextResourceContents)
    assert refunds.mime_type == "text/markdown"
    assert refunds.text.startswith("# Cancellations and refunds\n")
    assert "24 hours before the visit" in " ".join(refunds.text.split())


async def test_search_help_ranks_topics_with_their_source(client: MCPClient) -> None:
    with as_customer(JOHN.customer_id):
        found = await call(client, "search_help", query="Can I get a refund?", limit=2)
        nothing = await call(client, "search_help", query="xyzzy")
    assert not found.is_error, found.content
    answer = found.structured_content
    assert answer["results"][0]["uri"] == "help://policies/refunds"
    assert len(answer["results"]) <= 2
    assert answer["version"]
    assert "refunded" in answer["results"][0]["snippet"]
    assert nothing.structured_content["results"] == []
    assert "request_human_help" in nothing.structured_content["next_step"]


async def mails(servers: Servers, reference: str) -> list[tuple[str, str]]:
    listed = await servers.notify.list_messages(reference=reference)
    return sorted((m.template, m.to) for m in listed.messages)


async def test_a_request_opens_one_case_and_two_mails_however_often_retried(
    servers: Servers, client: MCPClient
) -> None:
    args = {
        "summary": "I want to move my upgrade and the tool says no.",
        "preferred_contact": "+1 555 0100",
        "ticket_number": "TKT-JD0001",
        "idempotency_key": "help-mcp-0001",
    }
    with as_customer(JOHN.customer_id):
        first = await call(client, "request_human_help", **args)
        again = await call(client, "request_human_help", **args)
        other = await call(client, "request_human_help", **{**args, "summary": "Another thing."})
    assert not first.is_error, first.content
    case = first.structured_content
    assert again.structured_content == case
    assert case["reference"].startswith("SUP-")
    assert case["status"] == "open"
    # Wednesday 25 November 2026, 12:00 UTC: four working hours later.
    assert datetime(2026, 11, 25, 12, 0, tzinfo=UTC) == NOW
    assert case["answer_by"] == "2026-11-25T16:00:00Z"
    assert "by phone" in case["message"]
    assert await mails(servers, case["reference"]) == [
        ("support_case_opened", INBOX),
        ("support_request_received", JOHN_EMAIL),
    ]
    assert other.is_error
    text = other.content[0].text
    assert text.startswith("IDEMPOTENCY_MISMATCH: this idempotency_key was used for a different")
    assert "help:" not in text
    assert "open_support_case" not in text
    stored = await SupportCases(servers.data.db, servers.data.idempotency).list_cases(
        status="open", customer_id=JOHN.customer_id
    )
    assert [c.reference for c in stored.cases] == [case["reference"]]


async def test_another_customers_ticket_or_order_answers_like_a_missing_one(
    servers: Servers, client: MCPClient
) -> None:
    janes = await servers.data.list_orders(
        customer_id=JANE.customer_id, ticket_number=None, status=None
    )
    answers = []
    with as_customer(JOHN.customer_id):
        for ticket in ("TKT-JS0001", "TKT-ZZ0000"):
            result = await call(
                client,
                "request_human_help",
                summary="Is this ticket mine?",
                preferred_contact="email",
                ticket_number=ticket,
                idempotency_key=f"help-{ticket}",
            )
            answers.append(result.content[0].text.replace(ticket, "X"))
        order_ids = (janes.orders[0].order_id, "ord_" + "a" * 26)
        for order_id in order_ids:
            result = await call(
                client,
                "request_human_help",
                summary="Is this order mine?",
                preferred_contact="email",
                order_id=order_id,
                idempotency_key=f"help-{order_id[-8:]}",
            )
            answers.append(result.content[0].text.replace(order_id, "X"))
    # Jane's ticket reads exactly as one nobody has; so does her order.
    assert answers[0] == answers[1]
    assert answers[0].startswith("TICKET_NOT_FOUND: ")
    assert answers[2:] == ["ORDER_NOT_FOUND: no order X"] * 2
    assert (await servers.notify.list_messages(recipient=INBOX)).messages == []


async def test_a_token_of_no_customer_may_not_ask_for_help(client: MCPClient) -> None:
    with acting_as(Principal("ops")):
        result = await call(
            client,
            "request_human_help",
            summary="Operators are no customers.",
            preferred_contact="email",
            idempotency_key="help-ops-0001",
        )
    assert result.is_error
    assert result.content[0].text.startswith("NOT_ALLOWED: ")


@pytest.mark.parametrize(
    "args",
    [
        {"summary": "short", "preferred_contact": "email"},
        {"summary": "A long enough summary.", "preferred_contact": "pigeon"},
        {"summary": "A long enough summary.", "preferred_contact": "email", "customer_id": "x"},
    ],
)
async def test_bad_arguments_are_invalid(client: MCPClient, args: dict[str, Any]) -> None:
    with as_customer(JOHN.customer_id):
        result = await call(client, "request_human_help", idempotency_key="help-bad-0001", **args)
    assert result.is_error
    assert result.content[0].text.startswith("INVALID_ARGUMENT: ")


async def test_ops_list_and_close_cases_on_the_data_server(
    servers: Servers, client: MCPClient
) -> None:
    with as_customer(JOHN.customer_id):
        opened = await call(
            client,
            "request_human_help",
            summary="Please phone me about Double Fun.",
            preferred_contact="email",
            idempotency_key="help-ops-list-01",
        )
    reference = opened.structured_content["reference"]
    with acting_as(Principal("ops")):
        async with Client(build_data_server(servers.data)) as data:
            listed = await call(data, "list_support_cases", status="open")
            closed = await call(
                data, "close_support_case", reference=reference, resolution="Phoned back."
            )
            still_open = await call(data, "list_support_cases", status="open")
    assert [c["reference"] for c in listed.structured_content["cases"]] == [reference]
    assert closed.structured_content["status"] == "closed"
    assert closed.structured_content["closed_by"] == "ops"
    assert still_open.structured_content["cases"] == []
