"""The internal calls each customer call of the upgrade journey makes, pinned.

In AWS every call from the ticket server to another server crosses the AgentCore front door
(tens of ms), so these counts, not CPU, set the journey's latency there; bench_journey measures
what they cost. They are counted at the ticket server's client boundary, over the real data,
payment and notify servers in memory: a change that adds a call to the hot path fails here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastmcp import Client

from servers.core.client import ServiceClient, ToolCaller
from servers.core.db.postgres import PostgresDatabase
from servers.data.server import build_server as build_data_server
from servers.data.service import DataService
from servers.notify.server import build_server as build_notify_server
from servers.notify.service import NotifyService
from servers.payment.server import build_server as build_payment_server
from servers.payment.service import PaymentService
from servers.ticket.gateways import DataGateway, NotifyGateway, PaymentGateway
from servers.ticket.journey import Journey
from servers.ticket.service import TicketService
from ticketing.db import seed_all

from .support import JOHN, NOW, TICKET_SERVER, TODAY

DAY = date(2026, 12, 24)
TICKET = "TKT-JD0001"


@dataclass
class Calls:
    """Every call the ticket server makes, in order, as (server, tool)."""

    made: list[tuple[str, str]] = field(default_factory=list)

    def taken(self) -> list[tuple[str, str]]:
        """The calls made since the last look."""
        made, self.made = self.made, []
        return made


@dataclass
class Counting:
    """A client of one server that notes each call on its way through."""

    server: str
    inner: ToolCaller
    calls: Calls

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
        self.calls.made.append((self.server, tool))
        return await self.inner.call(tool, arguments)


@dataclass
class Counted:
    tickets: TicketService
    journey: Journey
    calls: Calls


@pytest.fixture
async def counted(database_url: str) -> AsyncIterator[Counted]:
    db = await PostgresDatabase(database_url, max_size=10).open()
    await seed_all(db, TODAY)
    data = DataService(db, clock=lambda: NOW)
    payments = PaymentService(db, fingerprint_key=b"test-fingerprint-key", clock=lambda: NOW)
    notify = NotifyService(
        db, sender="upgrades@example.com", message_id_domain="example.com", clock=lambda: NOW
    )
    calls = Calls()
    try:
        async with (
            ServiceClient(Client(build_data_server(data)), caller=TICKET_SERVER) as data_client,
            ServiceClient(
                Client(build_payment_server(payments)), caller=TICKET_SERVER
            ) as payment_client,
            ServiceClient(
                Client(build_notify_server(notify)), caller=TICKET_SERVER
            ) as notify_client,
        ):
            gateway = DataGateway(Counting("data", data_client, calls))
            tickets = TicketService(gateway, clock=lambda: NOW, venue_tz=ZoneInfo("UTC"))
            journey = Journey(
                tickets,
                gateway,
                PaymentGateway(Counting("payment", payment_client, calls)),
                NotifyGateway(Counting("notify", notify_client, calls)),
            )
            yield Counted(tickets, journey, calls)
    finally:
        await db.close()


async def test_each_step_of_the_journey_makes_the_calls_it_needs_and_no_more(
    counted: Counted,
) -> None:
    tickets, journey, calls = counted.tickets, counted.journey, counted.calls

    mine = await tickets.list_my_tickets(JOHN)
    assert TICKET in {t.ticket_number for t in mine.tickets}
    assert calls.taken() == [("data", "list_tickets")]

    options = await tickets.get_upgrade_options(JOHN, TICKET)
    assert any(o.available for o in options.tiers)
    assert calls.taken() == [("data", "get_ticket")]

    calendar = await tickets.get_availability_calendar(JOHN, TICKET, "standard")
    assert any(d.date == DAY and d.available for d in calendar.days)
    # The ticket and the seats of its calendar in one call.
    assert calls.taken() == [("data", "get_ticket_and_inventory")]

    order = await journey.select_upgrade(JOHN, TICKET, "standard", DAY, "select-hops-0001")
    assert order.status == "awaiting_payment"
    # Not one: the intent's metadata names the order, which must exist first, and the order
    # records the intent (bench/README.md, "Internal hops").
    assert calls.taken() == [
        ("data", "get_ticket"),
        ("data", "reserve_upgrade"),
        ("payment", "create_payment_intent"),
        ("data", "attach_payment"),
    ]

    paid = await journey.pay_upgrade(JOHN, order.order_id, "pm_card_visa", "pay-hops-0001")
    assert (paid.payment_status, paid.order.status) == ("succeeded", "confirmed")
    # Confirming answers with the customer to e-mail: no call of its own to look them up.
    assert calls.taken() == [
        ("data", "get_order"),
        ("payment", "confirm_payment_intent"),
        ("data", "confirm_order"),
        ("notify", "send_email"),
    ]


async def test_a_loosely_written_ticket_number_still_finds_the_calendar(
    counted: Counted,
) -> None:
    calendar = await counted.tickets.get_availability_calendar(JOHN, "jd0001", "standard")
    assert calendar.ticket_number == TICKET
    # Not a ticket number as written: the customer's tickets are listed to resolve it.
    assert counted.calls.taken() == [
        ("data", "list_tickets"),
        ("data", "get_ticket_and_inventory"),
    ]
