"""Types of the ticket server: tool arguments and the answers customers and assistants see."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from servers.core.ids import ID_BODY, id_pattern

from .rules import Band, TicketType, Tier

TicketNumber = Annotated[str, StringConstraints(pattern=r"^TKT-[0-9A-Z]{4,16}$")]
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
    seats_left: int
    available: bool
    reason: str | None


class Calendar(Answer):
    ticket_number: str
    tier: Tier
    days: list[CalendarDay]


class Quote(Answer):
    ticket_number: str
    tier: Tier
    date: date
    base_cents: int
    band: Band
    multiplier: str = Field(description="Exact decimal, e.g. '1.5'.")
    total_cents: int
    currency: str
    hold_minutes: int


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
