"""Types of the ticket server: tool arguments and the answers customers and assistants see."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from servers.core.ids import ID_BODY, id_pattern

from .rules import Band, TicketType, Tier

TicketRef = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9 ._#/-]{1,40}$")]
"""A ticket number as people write it (``TKT-JD0001``, ``tkt jd 0001``, ``jd0001``); the
service resolves it among the caller's own tickets."""
CustomerId = Annotated[str, StringConstraints(pattern=id_pattern("cus"))]


class Answer(BaseModel):
    model_config = ConfigDict(frozen=True)


class MyTicket(Answer):
    ticket_number: str
    ticket_type: TicketType
    status: str
    visit_date: date
    upgrade_tier: Tier | None
    original_price_cents: int
    currency: str


class MyTickets(Answer):
    tickets: list[MyTicket]


class TierReason(Answer):
    tier: Tier
    available: bool
    reason: str | None = Field(description="Why not, as 'CODE: message'; null when available.")


class Eligibility(Answer):
    ticket_number: str
    eligible: bool = Field(description="True when at least one tier can be booked now.")
    reasons: list[TierReason]


class TierOption(Answer):
    tier: Tier
    name: str
    description: str
    includes: list[str]
    from_price_cents: int | None = Field(
        description="Lowest price over the bookable dates; null without an upgrade path."
    )
    currency: str
    available: bool
    reason: str | None


class UpgradeOptions(Answer):
    ticket_number: str
    tiers: list[TierOption] = Field(description="Always standard, non_stop, double_fun.")


class CalendarDay(Answer):
    date: date
    price_cents: int
    currency: str
    band: Band
    multiplier: str = Field(description="Exact decimal, e.g. '1.5'.")
    seats_left: int
    available: bool
    reason: str | None


class Calendar(Answer):
    ticket_number: str
    tier: Tier
    days: list[CalendarDay]


class PriceCalendar(Answer):
    """Public prices: what an upgrade from a ticket type costs on each bookable date."""

    ticket_type: TicketType
    tier: Tier
    days: list[CalendarDay]


class PriceQuote(Answer):
    """The price of an upgrade from a ticket type to a tier on a date."""

    ticket_type: TicketType
    tier: Tier
    date: date
    base_cents: int
    band: Band
    multiplier: str = Field(description="Exact decimal, e.g. '1.5'.")
    total_cents: int
    currency: str


class Quote(PriceQuote):
    """The price of upgrading one ticket, and how long selecting it holds the seat."""

    ticket_number: str
    hold_minutes: int


class TicketSearch(Answer):
    query: str
    tickets: list[MyTicket] = Field(description="The customer's tickets that match, soonest first.")
    message: str = Field(description="What was matched, or what to try when nothing was.")


OrderId = Annotated[str, StringConstraints(pattern=id_pattern("ord"))]
PaymentMethodRef = Annotated[
    str, StringConstraints(pattern=rf"^(pm_{ID_BODY}|pm_card_[A-Za-z]{{1,60}})$")
]


class UpgradeOrder(Answer):
    order_id: str
    ticket_number: str
    tier: Tier
    visit_date: date
    amount_cents: int
    currency: str
    status: str = Field(description="awaiting_payment, confirmed, expired, cancelled or refunded.")
    hold_expires_at: datetime
    payment_intent_id: str | None
    confirmation_code: str | None
    client_secret: str | None = Field(
        None, description="For paying in the browser; only in select_upgrade's answer."
    )


class MyOrders(Answer):
    orders: list[UpgradeOrder]


class Payment(Answer):
    order: UpgradeOrder
    payment_status: str = Field(
        description="succeeded, declined, requires_checkout (pay at checkout_url), "
        "requires_action (approve 3-D Secure at checkout_url) or failed (try again)."
    )
    decline_code: str | None
    message: str = Field(description="What happened, for the customer.")
    checkout_url: str | None = Field(
        None,
        description="requires_checkout: the payment page where the customer enters a card; "
        "requires_action: where they approve 3-D Secure. Give it to the customer to open.",
    )
    checkout_expires_at: datetime | None = Field(
        None, description="requires_checkout: when the payment page closes (the hold's end)."
    )
