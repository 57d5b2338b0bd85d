"""The operators' variants of the customer tools: the same answers, for the customer they name.

Under their own scope (``tickets/operate``, which only our service clients may hold), so that
a customer's client is never shown them, nor their ``customer_id`` argument; and only the
clients in ``TICKET_OPERATOR_CLIENT_IDS`` may call them even with that scope. Operators look
and cancel (support's refunds); selecting and paying stay the customer's own acts.
"""

from __future__ import annotations

from collections.abc import Callable

from fastmcp import FastMCP

from servers.core.app import READ_ONLY, UPDATES, requires
from servers.core.scopes import TICKETS_OPERATE

from .journey import Journey
from .models import (
    Calendar,
    Eligibility,
    MyOrders,
    MyTicket,
    MyTickets,
    Quote,
    TicketSearch,
    UpgradeOptions,
    UpgradeOrder,
)
from .params import (
    EndDate,
    ForCustomer,
    Key,
    Order,
    SearchQuery,
    StartDate,
    Ticket,
    UpgradeTier,
    VisitDate,
)
from .service import Caller, TicketService

OPERATE = requires(TICKETS_OPERATE)


def register_operator_tools(
    mcp: FastMCP, service: TicketService, journey: Journey, caller: Callable[[], Caller]
) -> None:
    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def list_tickets_for_customer(customer_id: ForCustomer) -> MyTickets:
        """Operators: list a customer's tickets, soonest visit first."""
        return await service.list_my_tickets(caller(), customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def find_ticket_for_customer(
        customer_id: ForCustomer, query: SearchQuery
    ) -> TicketSearch:
        """Operators: find a customer's tickets by visit date, ticket type or part of the
        number."""
        return await service.find_my_ticket(caller(), query, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def get_ticket_for_customer(customer_id: ForCustomer, ticket_number: Ticket) -> MyTicket:
        """Operators: get one of a customer's tickets."""
        return await service.get_ticket(caller(), ticket_number, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def check_upgrade_eligibility_for_customer(
        customer_id: ForCustomer, ticket_number: Ticket
    ) -> Eligibility:
        """Operators: whether a customer's ticket can be upgraded now, and why not."""
        return await service.check_upgrade_eligibility(caller(), ticket_number, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def get_upgrade_options_for_customer(
        customer_id: ForCustomer, ticket_number: Ticket
    ) -> UpgradeOptions:
        """Operators: the three upgrade tiers of a customer's ticket."""
        return await service.get_upgrade_options(caller(), ticket_number, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def get_availability_calendar_for_customer(
        customer_id: ForCustomer,
        ticket_number: Ticket,
        tier: UpgradeTier,
        start_date: StartDate = None,
        end_date: EndDate = None,
    ) -> Calendar:
        """Operators: the calendar of a customer's ticket for a tier."""
        return await service.get_availability_calendar(
            caller(), ticket_number, tier, start_date, end_date, customer_id
        )

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def quote_upgrade_for_customer(
        customer_id: ForCustomer, ticket_number: Ticket, tier: UpgradeTier, date: VisitDate
    ) -> Quote:
        """Operators: the exact price of upgrading a customer's ticket on a date."""
        return await service.quote_upgrade(caller(), ticket_number, tier, date, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def get_upgrade_order_for_customer(
        customer_id: ForCustomer, order_id: Order
    ) -> UpgradeOrder:
        """Operators: one of a customer's upgrade orders."""
        return await journey.get_upgrade_order(caller(), order_id, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=OPERATE)
    async def list_orders_for_customer(customer_id: ForCustomer) -> MyOrders:
        """Operators: a customer's upgrade orders, newest first."""
        return await journey.list_my_orders(caller(), customer_id)

    @mcp.tool(annotations=UPDATES, meta=OPERATE)
    async def cancel_upgrade_for_customer(
        customer_id: ForCustomer, order_id: Order, idempotency_key: Key
    ) -> UpgradeOrder:
        """Operators: cancel a customer's upgrade (a held seat is released, a confirmed
        upgrade refunded until 24 hours before the visit)."""
        return await journey.cancel_upgrade(caller(), order_id, idempotency_key, customer_id)
