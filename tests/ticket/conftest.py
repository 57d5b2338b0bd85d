"""Fixtures of the ticket server tests: the real data server, in memory, over a seeded DB."""

from __future__ import annotations

from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from fastmcp import Client

from servers.core.client import ServiceClient
from servers.core.db.postgres import PostgresDatabase
from servers.data.seed import seed
from servers.data.server import build_server as build_data_server
from servers.data.service import DataService
from servers.ticket.gateways import DataGateway
from servers.ticket.service import TicketService

from .support import NOW, TODAY


@pytest.fixture
async def data(database_url: str) -> AsyncIterator[DataService]:
    db = await PostgresDatabase(database_url, max_size=5).open()
    await seed(db, TODAY)
    try:
        yield DataService(db, clock=lambda: NOW)
    finally:
        await db.close()


@pytest.fixture
async def tickets(data: DataService) -> AsyncIterator[TicketService]:
    async with ServiceClient(Client(build_data_server(data))) as client:
        yield TicketService(DataGateway(client), clock=lambda: NOW, venue_tz=ZoneInfo("UTC"))
