"""Types of the ticket server: tool arguments and the answers customers and assistants see."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .rules import Band, TicketType, Tier

TicketNumber = Annotated[str, StringConstraints(pattern=r"^TKT-[0-9A-Z]{4,16}$")]
CustomerId = Annotated[str, StringConstraints(pattern=r"^cus_[a-z2-7]{26}$")]


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
