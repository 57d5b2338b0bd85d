"""Public prices: what any visitor may ask, signed in or not, about no customer at all."""

from __future__ import annotations

from fastmcp import FastMCP

from servers.core.app import READ_ONLY, requires
from servers.core.scopes import TICKETS_CATALOGUE

from .models import PriceCalendar, PriceQuote
from .params import EndDate, Kind, StartDate, UpgradeTier, VisitDate
from .service import TicketService


def register_catalogue_tools(mcp: FastMCP, service: TicketService) -> None:
    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_CATALOGUE))
    async def get_price_calendar(
        ticket_type: Kind,
        tier: UpgradeTier,
        start_date: StartDate = None,
        end_date: EndDate = None,
    ) -> PriceCalendar:
        """Public prices: for a ticket type and tier, each bookable date's price, band,
        multiplier and seats left (no ticket or sign-in needed)."""
        return await service.get_price_calendar(ticket_type, tier, start_date, end_date)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_CATALOGUE))
    async def quote_price(ticket_type: Kind, tier: UpgradeTier, date: VisitDate) -> PriceQuote:
        """Public prices: the price of upgrading a ticket type to a tier on a date: base,
        band, multiplier and total."""
        return await service.quote_price(ticket_type, tier, date)
