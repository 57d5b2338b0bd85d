"""The ticket server's MCP tools: what customers, assistants and the web app call."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

from fastmcp import FastMCP
from pydantic import Field

from servers.core.app import KitMCP, create_mcp
from servers.core.auth import current_caller
from servers.core.scopes import (
    TICKETS_CATALOGUE,
    TICKETS_OPERATE,
    TICKETS_READ,
    TICKETS_WEBHOOKS,
    TICKETS_WRITE,
)

from .apps import APPS_DIR, register_apps
from .catalogue_tools import register_catalogue_tools
from .change import UpgradeChanges
from .change_tools import register_change_tools
from .customer_tools import register_customer_tools
from .help.desk import HelpDesk
from .help.tools import register_help_tools
from .journey import Journey
from .operator_tools import register_operator_tools
from .rules import (
    BASE_PRICES,
    CATALOGUE,
    CURRENCY,
    UPGRADE_CUTOFF,
    VISIT_STARTS_AT,
    pricing_rules_text,
)
from .service import Caller, TicketService
from .webhooks import PaymentEvents, register_event_tool

RESOURCE = "tickets"
SCOPES = (TICKETS_READ, TICKETS_WRITE, TICKETS_CATALOGUE, TICKETS_OPERATE, TICKETS_WEBHOOKS)

INSTRUCTIONS = f"""\
Ticket upgrades for the customer whose token this is. Look the ticket up (find_my_ticket when \
the customer is unsure of its number), offer all three tiers (Standard, Non-stop, Double Fun) \
with get_upgrade_options, show dates and prices with get_availability_calendar, and quote \
before anything is booked. Without a ticket or a sign-in, get_price_calendar and quote_price \
answer what an upgrade costs. Prices are integer cents in {CURRENCY}. Upgrades close \
{UPGRADE_CUTOFF.total_seconds() / 3600:.0f} hours before the visit \
({VISIT_STARTS_AT:%H:%M} on the visit date at the venue). Errors start with a stable code such \
as TICKET_NOT_FOUND, TOO_LATE or NO_UPGRADE_PATH."""

ToolsRegistrar = Callable[[FastMCP, Callable[[], Caller]], None]
"""Adds more tools to the server (another module's), given how to know who is calling."""


def build_server(
    service: TicketService,
    journey: Journey,
    *,
    operator_client_ids: frozenset[str],
    help_desk: HelpDesk | None = None,
    payment_events: PaymentEvents | None = None,
    extra_tools: Sequence[ToolsRegistrar] = (),
    apps_dir: Path = APPS_DIR,
) -> KitMCP:
    """The ticket server's tools; with ``help_desk``, also its help texts and the hand-off to a
    person (tests of the upgrade journey leave them out); with ``payment_events``, the REST
    edge's way in for payment events. Its MCP Apps are read from ``apps_dir``."""
    mcp = create_mcp("ticket", instructions=INSTRUCTIONS)

    def caller() -> Caller:
        calling = current_caller()
        operator = calling.client_id in operator_client_ids
        return Caller(customer_id=None if operator else calling.customer_id, operator=operator)

    register_customer_tools(mcp, service, journey, caller)
    register_operator_tools(mcp, service, journey, caller)
    register_catalogue_tools(mcp, service)
    register_change_tools(mcp, UpgradeChanges.over(journey), caller)
    if help_desk is not None:
        register_help_tools(mcp, help_desk)
    if payment_events is not None:
        register_event_tool(mcp, payment_events)
    for register in extra_tools:
        register(mcp, caller)
    register_apps(mcp, apps_dir)

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

    return mcp


UPGRADE_PROMPT = """Help the customer upgrade ticket {ticket_number}.

1. Call get_ticket and check_upgrade_eligibility (the number may be written loosely; if the
   customer is unsure of it, find_my_ticket by visit date or ticket type). If no tier is
   available, explain the reason in plain words and stop.
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
