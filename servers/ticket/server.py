"""The ticket server's MCP tools: what customers, assistants and the web app call."""

from __future__ import annotations

import json
from typing import Annotated

from fastmcp import FastMCP
from mcp_types import ToolAnnotations
from pydantic import Field

from servers.core.app import CREATES, READ_ONLY, UPDATES, create_mcp, requires
from servers.core.auth import current_caller
from servers.core.scopes import TICKETS_READ, TICKETS_WRITE
from servers.core.types import IdempotencyKey, IsoDate

from .change import UpgradeChanges
from .change_tools import register_change_tools
from .help.desk import HelpDesk
from .help.tools import register_help_tools
from .journey import Journey
from .models import (
    Calendar,
    CustomerId,
    Eligibility,
    MyOrders,
    MyTicket,
    MyTickets,
    OrderId,
    Payment,
    PaymentMethodRef,
    Quote,
    TicketNumber,
    UpgradeOptions,
    UpgradeOrder,
)
from .rules import (
    BASE_PRICES,
    CATALOGUE,
    CURRENCY,
    UPGRADE_CUTOFF,
    VISIT_STARTS_AT,
    Tier,
    pricing_rules_text,
)
from .service import Caller, TicketService

RESOURCE = "tickets"
SCOPES = (TICKETS_READ, TICKETS_WRITE)

INSTRUCTIONS = f"""\
Ticket upgrades for the customer whose token this is. Look the ticket up, offer all three tiers
(Standard, Non-stop, Double Fun) with get_upgrade_options, show dates and prices with
get_availability_calendar, and quote before anything is booked. Prices are integer cents in
{CURRENCY}. Upgrades close {UPGRADE_CUTOFF.total_seconds() / 3600:.0f} hours before the visit \
({VISIT_STARTS_AT:%H:%M} on the visit date at the venue). Errors start with a stable code such \
as TICKET_NOT_FOUND, TOO_LATE or NO_UPGRADE_PATH."""

_TICKET = Field(description="Ticket number, e.g. TKT-JD0001.")
_FOR = Field(description="Operators only: the customer to act for. Customers leave it out.")
_ORDER = Field(description="Upgrade order id, ord_...")
_KEY = Field(
    description="A unique key per intended action (8-128 of A-Z a-z 0-9 _ . : -); retrying "
    "with the same key returns the first answer."
)
# Paying reaches the payment processor: an open world, and retry-safe only through its key.
PAYS = ToolAnnotations(
    readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=True
)


def build_server(
    service: TicketService,
    journey: Journey,
    *,
    operator_client_ids: frozenset[str],
    help_desk: HelpDesk | None = None,
) -> FastMCP:
    """The ticket server's tools; with ``help_desk``, also its help texts and the hand-off to a
    person (tests of the upgrade journey leave them out)."""
    mcp = create_mcp("ticket", instructions=INSTRUCTIONS)

    def caller() -> Caller:
        calling = current_caller()
        operator = calling.client_id in operator_client_ids
        return Caller(customer_id=None if operator else calling.customer_id, operator=operator)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def list_my_tickets(
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> MyTickets:
        """List the customer's tickets, soonest visit first."""
        return await service.list_my_tickets(caller(), customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def get_ticket(
        ticket_number: Annotated[TicketNumber, _TICKET],
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> MyTicket:
        """Get one of the customer's tickets."""
        return await service.get_ticket(caller(), ticket_number, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def check_upgrade_eligibility(
        ticket_number: Annotated[TicketNumber, _TICKET],
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> Eligibility:
        """Whether the ticket can be upgraded now, with the reason for each tier that can't."""
        return await service.check_upgrade_eligibility(caller(), ticket_number, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def get_upgrade_options(
        ticket_number: Annotated[TicketNumber, _TICKET],
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> UpgradeOptions:
        """The three upgrade tiers (Standard, Non-stop, Double Fun), always in that order, each
        with what it includes, its lowest price and whether it is available (or why not)."""
        return await service.get_upgrade_options(caller(), ticket_number, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def get_availability_calendar(
        ticket_number: Annotated[TicketNumber, _TICKET],
        tier: Annotated[Tier, Field(description="standard, non_stop or double_fun.")],
        start_date: Annotated[
            IsoDate | None, Field(description="First date; default the first bookable one.")
        ] = None,
        end_date: Annotated[
            IsoDate | None, Field(description="Last date; default 60 days on; at most 92.")
        ] = None,
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> Calendar:
        """Price, price band and seats left for each date an upgrade can be booked."""
        return await service.get_availability_calendar(
            caller(), ticket_number, tier, start_date, end_date, customer_id
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def quote_upgrade(
        ticket_number: Annotated[TicketNumber, _TICKET],
        tier: Annotated[Tier, Field(description="standard, non_stop or double_fun.")],
        date: Annotated[IsoDate, Field(description="The date of the upgraded visit.")],
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> Quote:
        """The exact price of an upgrade on a date: base, band, multiplier and total."""
        return await service.quote_upgrade(caller(), ticket_number, tier, date, customer_id)

    @mcp.tool(annotations=CREATES, meta=requires(TICKETS_WRITE))
    async def select_upgrade(
        ticket_number: Annotated[TicketNumber, _TICKET],
        tier: Annotated[Tier, Field(description="standard, non_stop or double_fun.")],
        date: Annotated[IsoDate, Field(description="The date of the upgraded visit.")],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> UpgradeOrder:
        """Hold a seat for the upgrade and open its payment: an order awaiting payment until
        hold_expires_at. Confirm the tier, date and price with the customer first."""
        return await journey.select_upgrade(
            caller(), ticket_number, tier, date, idempotency_key, customer_id
        )

    @mcp.tool(annotations=PAYS, meta=requires(TICKETS_WRITE))
    async def pay_upgrade(
        order_id: Annotated[OrderId, _ORDER],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        payment_method: Annotated[
            PaymentMethodRef | None,
            Field(
                description="A saved payment method (pm_...) or a test token such as "
                "pm_card_visa; leave it out to get a checkout page for the customer instead."
            ),
        ] = None,
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> Payment:
        """Pay a held upgrade. Without payment_method the answer is requires_checkout with a
        checkout_url: the customer pays there, and no card number passes through here. A
        declined card is a normal answer (payment_status 'declined' with the decline code); the
        order stays payable until its hold expires."""
        return await journey.pay_upgrade(
            caller(), order_id, payment_method, idempotency_key, customer_id
        )

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def get_upgrade_order(
        order_id: Annotated[OrderId, _ORDER],
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> UpgradeOrder:
        """One of the customer's upgrade orders."""
        return await journey.get_upgrade_order(caller(), order_id, customer_id)

    @mcp.tool(annotations=READ_ONLY, meta=requires(TICKETS_READ))
    async def list_my_orders(
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> MyOrders:
        """The customer's upgrade orders, newest first."""
        return await journey.list_my_orders(caller(), customer_id)

    @mcp.tool(annotations=UPDATES, meta=requires(TICKETS_WRITE))
    async def cancel_upgrade(
        order_id: Annotated[OrderId, _ORDER],
        idempotency_key: Annotated[IdempotencyKey, _KEY],
        customer_id: Annotated[CustomerId | None, _FOR] = None,
    ) -> UpgradeOrder:
        """Cancel an upgrade: releases a held seat, or refunds a confirmed upgrade (until 24
        hours before the visit) and puts the ticket back as it was."""
        return await journey.cancel_upgrade(caller(), order_id, idempotency_key, customer_id)

    register_change_tools(mcp, UpgradeChanges.over(journey), caller)

    @mcp.resource(
        "tickets://tiers",
        name="tier_catalogue",
        description="The three upgrade tiers: what each includes and costs from each ticket type.",
        mime_type="application/json",
    )
    def tier_catalogue() -> str:
        return json.dumps(
            [
                {
                    "tier": info.tier,
                    "name": info.name,
                    "description": info.description,
                    "includes": list(info.includes),
                    "base_price_cents": {
                        kind: prices[info.tier]
                        for kind, prices in BASE_PRICES.items()
                        if info.tier in prices
                    },
                    "currency": CURRENCY,
                }
                for info in CATALOGUE.values()
            ]
        )

    @mcp.resource(
        "tickets://pricing-rules",
        name="pricing_rules",
        description="How an upgrade's price depends on the date, and when upgrades close.",
        mime_type="text/markdown",
    )
    def pricing_rules() -> str:
        return pricing_rules_text(hold_minutes=service.hold_minutes)

    @mcp.prompt(
        name="upgrade_ticket",
        description="Walk a customer through upgrading one of their tickets.",
    )
    def upgrade_ticket(
        ticket_number: Annotated[str, Field(description="The ticket to upgrade, TKT-...")],
    ) -> str:
        return UPGRADE_PROMPT.format(ticket_number=ticket_number)

    if help_desk is not None:
        register_help_tools(mcp, help_desk)
    return mcp


UPGRADE_PROMPT = """Help the customer upgrade ticket {ticket_number}.

1. Call get_ticket and check_upgrade_eligibility. If no tier is available, explain the reason
   in plain words and stop.
2. Call get_upgrade_options and present all three tiers in order (Standard, Non-stop, Double
   Fun): what each includes, the from-price, and why any is unavailable.
3. When the customer picks a tier, call get_availability_calendar for it and offer dates with
   their prices and price bands; mention cheaper nearby dates.
4. Call quote_upgrade for the chosen date and read the total back. Do not go on until the
   customer clearly confirms the tier, the date and the amount.
5. Call select_upgrade (a new idempotency_key), then pay_upgrade: with a saved payment method
   of the customer's, or without one to get a checkout_url where they enter a card themselves
   (never ask for a card number in the conversation). A declined card is a normal answer:
   tell them the reason and that the seat stays held until hold_expires_at, and offer to try
   another card. For requires_checkout or requires_action, give them checkout_url to open.
6. On success, give the confirmation code and say a confirmation e-mail is on its way.
"""
