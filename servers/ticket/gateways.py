"""The other servers as the ticket server sees them: typed calls over a ServiceClient.

Records are parsed into this server's own small models (extra fields ignored) rather than
imported from the data server, so that each server deploys and evolves on its own.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from servers.core.client import ServiceClient

from .rules import TicketType, Tier


class Remote(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class RemoteTicket(Remote):
    ticket_number: str
    customer_id: str
    ticket_type: TicketType
    status: str
    visit_date: date
    upgrade_tier: Tier | None
    original_price_cents: int
    currency: str


class RemoteOrder(Remote):
    order_id: str
    ticket_number: str
    customer_id: str
    tier: Tier
    visit_date: date
    amount_cents: int
    currency: str
    status: str
    hold_expires_at: datetime
    payment_intent_id: str | None
    confirmation_code: str | None


class RemoteSeats(Remote):
    date: date
    tier: Tier
    seats_left: int


class DataGateway:
    """The data server's tools that the ticket server uses."""

    def __init__(self, client: ServiceClient):
        self.client = client

    async def get_ticket(self, ticket_number: str) -> RemoteTicket:
        return RemoteTicket.model_validate(
            await self.client.call("get_ticket", {"ticket_number": ticket_number})
        )

    async def list_tickets(self, customer_id: str) -> list[RemoteTicket]:
        found = await self.client.call("list_tickets", {"customer_id": customer_id})
        return [RemoteTicket.model_validate(t) for t in found["tickets"]]

    async def orders_of_ticket(self, ticket_number: str) -> list[RemoteOrder]:
        found = await self.client.call("list_orders", {"ticket_number": ticket_number})
        return [RemoteOrder.model_validate(o) for o in found["orders"]]

    async def seats(self, start: date, end: date, tier: Tier) -> dict[date, int]:
        found = await self.client.call(
            "get_date_inventory",
            {"start_date": start.isoformat(), "end_date": end.isoformat(), "tier": tier},
        )
        days = [RemoteSeats.model_validate(d) for d in found["days"]]
        return {d.date: d.seats_left for d in days}
