"""The customer's tools: each acts for the customer whose token calls it, and takes no
customer argument (the operators' variants are in :mod:`~servers.ticket.operator_tools`)."""

from __future__ import annotations

from collections.abc import Callable

from fastmcp import Context, FastMCP
from mcp import UrlElicitationRequiredError
from mcp_types import ElicitRequestURLParams

from servers.core.app import CREATES, READ_ONLY, UPDATES, requires
from servers.core.scopes import TICKETS_READ, TICKETS_WRITE

from .apps import CALENDAR_APP, SUMMARY_APP
from .journey import Journey
from .models import (
    Calendar,
    Eligibility,
    MyOrders,
    MyTicket,
    MyTickets,
    Payment,
    Quote,
    TicketSearch,
    UpgradeOptions,
    UpgradeOrder,
)
from .params import (
    PAYS,
    EndDate,
    Key,
    Method,
    Order,
    SearchQuery,
    StartDate,
    Ticket,
    UpgradeTier,
    VisitDate,
)
from .service import Caller, TicketService


def register_customer_tools(
    mcp: FastMCP, service: TicketService, journey: Journey, caller: Callable[[], Caller]
) -> None:
    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def list_my_tickets() -> MyTickets:
        """List the customer's tickets, soonest visit first."""
        return await service.list_my_tickets(caller())

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def find_my_ticket(query: SearchQuery) -> TicketSearch:
        """Find the customer's tickets by visit date, ticket type or part of the number."""
        return await service.find_my_ticket(caller(), query)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def get_ticket(ticket_number: Ticket) -> MyTicket:
        """Get one of the customer's tickets."""
        return await service.get_ticket(caller(), ticket_number)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def check_upgrade_eligibility(ticket_number: Ticket) -> Eligibility:
        """Whether the ticket can be upgraded now, with the reason for each tier that can't."""
        return await service.check_upgrade_eligibility(caller(), ticket_number)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def get_upgrade_options(ticket_number: Ticket) -> UpgradeOptions:
        """The three upgrade tiers (Standard, Non-stop, Double Fun), always in that order, each
        with what it includes, its lowest price and whether it is available (or why not)."""
        return await service.get_upgrade_options(caller(), ticket_number)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ), app=CALENDAR_APP.link)
    async def get_availability_calendar(
        ticket_number: Ticket,
        tier: UpgradeTier,
        start_date: StartDate = None,
        end_date: EndDate = None,
    ) -> Calendar:
        """Price, price band and seats left for each date an upgrade can be booked."""
        return await service.get_availability_calendar(
            caller(), ticket_number, tier, start_date, end_date
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ), app=SUMMARY_APP.link)
    async def quote_upgrade(ticket_number: Ticket, tier: UpgradeTier, date: VisitDate) -> Quote:
        """The exact price of an upgrade on a date: base, band, multiplier and total."""
        return await service.quote_upgrade(caller(), ticket_number, tier, date)

    @mcp.tool(annotations=CREATES, meta=requires(TICKETS_WRITE))
    async def select_upgrade(
        ticket_number: Ticket, tier: UpgradeTier, date: VisitDate, idempotency_key: Key
    ) -> UpgradeOrder:
        """Hold a seat for the upgrade and open its payment: an order awaiting payment until
        hold_expires_at. Confirm the tier, date and price with the customer first."""
        return await journey.select_upgrade(caller(), ticket_number, tier, date, idempotency_key)

    @mcp.tool(annotations=PAYS, meta=requires(TICKETS_WRITE))
    async def pay_upgrade(
        order_id: Order,
        idempotency_key: Key,
        ctx: Context,
        payment_method: Method | None = None,
    ) -> Payment:
        """Pay a held upgrade. Without payment_method the answer is requires_checkout with a
        checkout_url: the customer pays there, and no card number passes through here. A
        declined card is a normal answer (payment_status 'declined' with the decline code); the
        order stays payable until its hold expires."""
        paid = await journey.pay_upgrade(caller(), order_id, payment_method, idempotency_key)
        if paid.checkout_url is not None and _opens_urls(ctx):
            # A client that can open a URL for its user is asked to (MCP URL-mode elicitation,
            # error -32042); it retries the call once the customer is done on the page.
            raise UrlElicitationRequiredError(
                [
                    ElicitRequestURLParams(
                        message=paid.message,
                        url=paid.checkout_url,
                        elicitation_id=f"pay:{paid.order.order_id}",
                    )
                ]
            )
        return paid

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def get_upgrade_order(order_id: Order) -> UpgradeOrder:
        """One of the customer's upgrade orders."""
        return await journey.get_upgrade_order(caller(), order_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def list_my_orders() -> MyOrders:
        """The customer's upgrade orders, newest first."""
        return await journey.list_my_orders(caller())

    @mcp.tool(annotations=UPDATES, meta=requires(TICKETS_WRITE))
    async def cancel_upgrade(order_id: Order, idempotency_key: Key) -> UpgradeOrder:
        """Cancel an upgrade: releases a held seat, or refunds a confirmed upgrade (until 24
        hours before the visit) and puts the ticket back as it was."""
        return await journey.cancel_upgrade(caller(), order_id, idempotency_key)


def _opens_urls(ctx: Context) -> bool:
    """Whether the calling client declared URL-mode elicitation. Known per request only where
    the protocol says it (a session's initialize, or a 2026-07-28 request's own capabilities);
    a stateless 2025-11-25 call does not, and gets the checkout_url in the answer instead."""
    try:
        capabilities = ctx.session.client_capabilities
    except RuntimeError:
        return False
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and elicitation.url is not None
