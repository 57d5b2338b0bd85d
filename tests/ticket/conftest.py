"""Fixtures of the ticket server tests: the real data server, in memory, over a seeded DB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from fastmcp import Client

from servers.core.client import ServiceClient
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

from .support import NOW, TICKET_SERVER, TODAY


@pytest.fixture
async def data(database_url: str) -> AsyncIterator[DataService]:
    db = await PostgresDatabase(database_url, max_size=5).open()
    await seed_all(db, TODAY)
    try:
        yield DataService(db, clock=lambda: NOW)
    finally:
        await db.close()


@pytest.fixture
async def tickets(data: DataService) -> AsyncIterator[TicketService]:
    async with ServiceClient(Client(build_data_server(data)), caller=TICKET_SERVER) as client:
        yield TicketService(DataGateway(client), clock=lambda: NOW, venue_tz=ZoneInfo("UTC"))


@dataclass
class Servers:
    """The real data, payment and notify servers in memory over one database."""

    data: DataService
    payments: PaymentService
    notify: NotifyService
    journey: Journey
    clock: MovableClock

    async def emails(self, order_id: str) -> list[str]:
        """The templates of the e-mails queued for an order, sorted."""
        # A paid upgrade's confirmation is queued after the payer is answered.
        await self.journey.drain()
        found = await self.notify.list_messages(reference=order_id)
        return sorted(m.template for m in found.messages)


@dataclass
class MovableClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


async def _no_wait(seconds: float) -> None:
    return None


@pytest.fixture
async def servers(database_url: str) -> AsyncIterator[Servers]:
    db = await PostgresDatabase(database_url, max_size=10).open()
    await seed_all(db, TODAY)
    clock = MovableClock(NOW)
    data = DataService(db, clock=clock)
    payments = PaymentService(db, fingerprint_key=b"test-fingerprint-key", clock=clock)
    notify = NotifyService(
        db, sender="upgrades@example.com", message_id_domain="example.com", clock=clock
    )
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
            gateway = DataGateway(data_client)
            tickets = TicketService(gateway, clock=clock, venue_tz=ZoneInfo("UTC"))
            journey = Journey(
                tickets,
                gateway,
                PaymentGateway(payment_client),
                NotifyGateway(notify_client),
                sleep=_no_wait,
            )
            yield Servers(data, payments, notify, journey, clock)
    finally:
        await db.close()
