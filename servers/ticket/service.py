"""The upgrade engine's reads: what a customer may upgrade, to what, when, and at what price.

Knows nothing of MCP: callers pass a :class:`Caller` and plain values; answers are models;
refusals are :class:`~servers.core.errors.DomainError` with stable codes. The writes (select,
pay, cancel) are the :class:`~servers.ticket.journey.Journey`, which quotes through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from servers.core.clock import Clock, utc_now
from servers.core.errors import NOT_ALLOWED, DomainError, invalid_argument

from . import rules
from .gateways import DataGateway, RemoteOrder, RemoteTicket, RemoteTicketDetail
from .models import (
    Calendar,
    CalendarDay,
    Eligibility,
    MyTicket,
    MyTickets,
    Quote,
    TierOption,
    TierReason,
    UpgradeOptions,
)
from .rules import CATALOGUE, CURRENCY, TIERS, Tier

TICKET_NOT_FOUND = "TICKET_NOT_FOUND"
SOLD_OUT = "SOLD_OUT"
DATE_NOT_BOOKABLE = "DATE_NOT_BOOKABLE"


@dataclass(frozen=True)
class Caller:
    """Who is asking: a customer (their id is the token's subject) or an operator."""

    customer_id: str | None
    operator: bool = False

    def acting_for(self, customer_id: str | None) -> str:
        """The customer whose things this call is about."""
        if customer_id is None or customer_id == self.customer_id:
            if self.customer_id is None:
                if not self.operator:
                    # A service's own token (client credentials) is no customer's.
                    raise DomainError(
                        NOT_ALLOWED, "this tool acts for a customer: call it with their token"
                    )
                raise invalid_argument("operators must say which customer (customer_id)")
            return self.customer_id
        if not self.operator:
            raise DomainError(NOT_ALLOWED, "only operators may act for another customer")
        return customer_id


@dataclass
class TicketService:
    data: DataGateway
    clock: Clock = utc_now
    venue_tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    hold_minutes: int = 15

    async def list_my_tickets(self, caller: Caller, customer_id: str | None = None) -> MyTickets:
        tickets = await self.data.list_tickets(caller.acting_for(customer_id))
        return MyTickets(tickets=[_mine(t) for t in tickets])

    async def get_ticket(
        self, caller: Caller, ticket_number: str, customer_id: str | None = None
    ) -> MyTicket:
        return _mine(await self._ticket(caller, ticket_number, customer_id))

    async def check_upgrade_eligibility(
        self, caller: Caller, ticket_number: str, customer_id: str | None = None
    ) -> Eligibility:
        ticket = await self._ticket(caller, ticket_number, customer_id)
        facts = self._facts(ticket)
        now = self.clock()
        reasons = []
        for tier in TIERS:
            refusal = rules.tier_refusal(facts, tier, now, self.venue_tz)
            reasons.append(TierReason(tier=tier, available=refusal is None, reason=_text(refusal)))
        return Eligibility(
            ticket_number=ticket_number,
            eligible=any(r.available for r in reasons),
            reasons=reasons,
        )

    async def get_upgrade_options(
        self, caller: Caller, ticket_number: str, customer_id: str | None = None
    ) -> UpgradeOptions:
        ticket = await self._ticket(caller, ticket_number, customer_id)
        facts = self._facts(ticket)
        now = self.clock()
        first = rules.first_bookable_date(now, self.venue_tz)
        window = [first + timedelta(days=i) for i in range(rules.DEFAULT_CALENDAR_DAYS)]
        options = []
        for tier in TIERS:
            info = CATALOGUE[tier]
            refusal = rules.tier_refusal(facts, tier, now, self.venue_tz)
            prices = [p for d in window if (p := rules.price(ticket.ticket_type, tier, d))]
            options.append(
                TierOption(
                    tier=tier,
                    name=info.name,
                    description=info.description,
                    includes=list(info.includes),
                    from_price_cents=min(prices) if prices else None,
                    currency=CURRENCY,
                    available=refusal is None,
                    reason=_text(refusal),
                )
            )
        return UpgradeOptions(ticket_number=ticket_number, tiers=options)

    async def get_availability_calendar(
        self,
        caller: Caller,
        ticket_number: str,
        tier: Tier,
        start_date: date | None = None,
        end_date: date | None = None,
        customer_id: str | None = None,
    ) -> Calendar:
        ticket = await self._ticket(caller, ticket_number, customer_id)
        facts = self._facts(ticket)
        now = self.clock()
        first = rules.first_bookable_date(now, self.venue_tz)
        start = max(start_date or first, first)
        if end_date is not None:
            if end_date < start:
                raise invalid_argument(
                    f"end_date must not be before {start} (the first date that can be booked)"
                )
            if (end_date - start).days + 1 > rules.MAX_CALENDAR_DAYS:
                raise invalid_argument(f"a calendar covers at most {rules.MAX_CALENDAR_DAYS} days")
        last = rules.last_bookable_date(now, self.venue_tz)
        if start > last:
            raise DomainError(DATE_NOT_BOOKABLE, f"{start} is too far ahead; {self._window(now)}")
        # The calendar shows only dates that can be selected: it stops at the last one.
        end = min(end_date or start + timedelta(days=rules.DEFAULT_CALENDAR_DAYS - 1), last)
        refusal = rules.tier_refusal(facts, tier, now, self.venue_tz)
        if refusal is not None and refusal.code == rules.NO_UPGRADE_PATH:
            raise DomainError(refusal.code, refusal.message)
        seats = await self.data.seats(start, end, tier)
        days = []
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            left = seats.get(day, 0)
            reason = _text(refusal) or (
                None if left > 0 else f"{SOLD_OUT}: no {CATALOGUE[tier].name} seats left"
            )
            total = rules.price(ticket.ticket_type, tier, day)
            assert total is not None
            days.append(
                CalendarDay(
                    date=day,
                    price_cents=total,
                    currency=CURRENCY,
                    band=rules.band(day),
                    seats_left=left,
                    available=reason is None,
                    reason=reason,
                )
            )
        return Calendar(ticket_number=ticket_number, tier=tier, days=days)

    async def quote_upgrade(
        self,
        caller: Caller,
        ticket_number: str,
        tier: Tier,
        day: date,
        customer_id: str | None = None,
        *,
        open_order_allowed: bool = False,
    ) -> Quote:
        """The price of an upgrade on a date. ``open_order_allowed`` skips the one-open-order
        rule, which the data server enforces atomically when the seat is taken; a retried
        selection must not be refused because of the hold its first attempt made."""
        ticket = await self._ticket(caller, ticket_number, customer_id)
        facts = self._facts(ticket)
        if open_order_allowed:
            facts = replace(facts, open_order=None)
        now = self.clock()
        refusal = rules.tier_refusal(facts, tier, now, self.venue_tz)
        if refusal is not None:
            raise DomainError(refusal.code, refusal.message)
        if not rules.offered(day, now, self.venue_tz):
            soon = not rules.bookable(day, now, self.venue_tz)
            why = "less than 24 hours away or past" if soon else "too far ahead"
            raise DomainError(DATE_NOT_BOOKABLE, f"{day} is {why}; {self._window(now)}")
        base = rules.base_price(ticket.ticket_type, tier)
        assert base is not None
        band = rules.band(day)
        return Quote(
            ticket_number=ticket_number,
            tier=tier,
            date=day,
            base_cents=base,
            band=band,
            multiplier=str(rules.MULTIPLIERS[band]),
            total_cents=rules.apply_multiplier(base, rules.MULTIPLIERS[band]),
            currency=CURRENCY,
            hold_minutes=self.hold_minutes,
        )

    def _window(self, now: datetime) -> str:
        """The dates that can be booked at ``now``, in words, for a refusal's message."""
        first = rules.first_bookable_date(now, self.venue_tz)
        last = rules.last_bookable_date(now, self.venue_tz)
        return (
            f"upgrades can be booked for {first} to {last} (from more than 24 hours ahead, "
            f"for up to {rules.MAX_CALENDAR_DAYS} days)"
        )

    async def _ticket(
        self, caller: Caller, ticket_number: str, customer_id: str | None
    ) -> RemoteTicketDetail:
        """The caller's ticket. Another customer's answers exactly like one that does not
        exist: the data server is asked for the owner's ticket, so both are the same refusal
        of the same query, with the same code and message here."""
        ticket = await self.data.get_ticket(ticket_number, caller.acting_for(customer_id))
        if ticket is None:
            raise DomainError(TICKET_NOT_FOUND, f"no ticket {ticket_number}")
        return ticket

    def _facts(self, ticket: RemoteTicketDetail) -> rules.TicketFacts:
        return rules.TicketFacts(
            ticket_type=ticket.ticket_type,
            status=ticket.status,
            visit_date=ticket.visit_date,
            open_order=_open_order(ticket.open_order, self.clock()),
        )


def _open_order(order: RemoteOrder | None, now: datetime) -> rules.OrderState | None:
    """What the ticket's open order means for a new one, by this server's clock."""
    if order is None:
        return None
    if order.status == "confirmed":
        return "confirmed"
    if order.status == "awaiting_payment" and order.hold_expires_at > now:
        return "awaiting_payment"
    return None


def _mine(ticket: RemoteTicket) -> MyTicket:
    return MyTicket.model_validate(ticket.model_dump())


def _text(refusal: rules.Refusal | None) -> str | None:
    return None if refusal is None else str(refusal)
