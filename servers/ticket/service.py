"""The upgrade engine's reads: what a customer may upgrade, to what, when, and at what price.

Knows nothing of MCP: callers pass a :class:`Caller` and plain values; answers are models;
refusals are :class:`~servers.core.errors.DomainError` with stable codes. The writes (select,
pay, cancel) are the :class:`~servers.ticket.journey.Journey`, which quotes through here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from servers.core.clock import Clock, utc_now
from servers.core.errors import NOT_ALLOWED, DomainError, invalid_argument

from . import lookup, rules
from .gateways import DataGateway, RemoteOrder, RemoteTicket, RemoteTicketDetail
from .models import (
    Calendar,
    CalendarDay,
    Eligibility,
    MyTicket,
    MyTickets,
    PriceCalendar,
    PriceQuote,
    Quote,
    TicketSearch,
    TierOption,
    TierReason,
    UpgradeOptions,
)
from .rules import CATALOGUE, CURRENCY, TIERS, TicketType, Tier

TICKET_NOT_FOUND = "TICKET_NOT_FOUND"
SOLD_OUT = "SOLD_OUT"
DATE_NOT_BOOKABLE = "DATE_NOT_BOOKABLE"
LIST_HINT = "list_my_tickets shows your tickets and their numbers"

Found = TypeVar("Found")


@dataclass(frozen=True)
class Caller:
    """Who is asking: a customer (their id is the token's subject) or an operator."""

    customer_id: str | None
    operator: bool = False

    def acting_for(self, customer_id: str | None) -> str:
        """The customer whose things this call is about: the caller's own (``customer_id``
        None, the customer tools), or the one an operator names (the operator tools)."""
        if customer_id is None or customer_id == self.customer_id:
            if self.customer_id is None:
                # A service's own token (client credentials) is no customer's.
                hint = " (operators use the tools ending in _for_customer)" if self.operator else ""
                raise DomainError(
                    NOT_ALLOWED,
                    f"this tool acts for the signed-in customer: call it with their token{hint}",
                )
            return self.customer_id
        if not self.operator:
            raise DomainError(NOT_ALLOWED, "only operators may act for another customer")
        return customer_id


@dataclass(frozen=True)
class HoldTerms:
    """What a ticket must be for a hold of a seat to be taken for it (see
    :meth:`TicketService.hold_terms`): the price of the upgrade for each ticket type that has
    a path to the tier (none listed: no upgrade path), and the first date whose visit is more
    than 24 hours away (an earlier visit is too late to upgrade). The ticket's other
    conditions, being active and having no open order, are the data server's own."""

    prices: dict[TicketType, int]
    ticket_visit_from: date
    hold_minutes: int
    currency: str = CURRENCY


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
            ticket_number=ticket.ticket_number,
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
        return UpgradeOptions(ticket_number=ticket.ticket_number, tiers=options)

    async def get_availability_calendar(
        self,
        caller: Caller,
        ticket_number: str,
        tier: Tier,
        start_date: date | None = None,
        end_date: date | None = None,
        customer_id: str | None = None,
    ) -> Calendar:
        try:
            start, end = self._range(start_date, end_date)
        except DomainError:
            # The ticket is refused before its range, as ever: a reference to no ticket of
            # the caller's hears that, whatever the dates.
            await self._ticket(caller, ticket_number, customer_id)
            raise

        async def with_seats(
            number: str, owner: str
        ) -> tuple[RemoteTicketDetail, dict[date, int]] | None:
            # The ticket and its seats in one call to the data server.
            return await self.data.get_ticket_with_seats(number, owner, start, end, tier)

        ticket, seats = await self._find(caller, ticket_number, customer_id, with_seats)
        refusal = rules.tier_refusal(self._facts(ticket), tier, self.clock(), self.venue_tz)
        _refuse_without_path(refusal)
        days = _days(ticket.ticket_type, tier, start, end, refusal, seats)
        return Calendar(ticket_number=ticket.ticket_number, tier=tier, days=days)

    async def get_price_calendar(
        self,
        ticket_type: TicketType,
        tier: Tier,
        start_date: date | None = None,
        end_date: date | None = None,
    ) -> PriceCalendar:
        """Public prices: the calendar of any ticket of ``ticket_type``, about no customer."""
        refusal = rules.path_refusal(ticket_type, tier)
        start, end = self._range(start_date, end_date)
        _refuse_without_path(refusal)
        seats = await self.data.seats(start, end, tier)
        days = _days(ticket_type, tier, start, end, refusal, seats)
        return PriceCalendar(ticket_type=ticket_type, tier=tier, days=days)

    def _range(self, start_date: date | None, end_date: date | None) -> tuple[date, date]:
        """The dates a calendar asked for covers: from ``start_date`` (or the first bookable
        date) to ``end_date`` (or 60 days on), stopping at the last date that can be booked."""
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
        return start, end

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
        refusal = rules.tier_refusal(facts, tier, self.clock(), self.venue_tz)
        if refusal is not None:
            raise DomainError(refusal.code, refusal.message)
        priced = self._bookable_price(ticket.ticket_type, tier, day)
        return Quote(
            **priced.model_dump(),
            ticket_number=ticket.ticket_number,
            hold_minutes=self.hold_minutes,
        )

    def offers(self, day: date) -> bool:
        """Whether the calendar offers ``day`` now: the only dates an upgrade is held for."""
        return rules.offered(day, self.clock(), self.venue_tz)

    def hold_terms(self, tier: Tier, day: date) -> HoldTerms:
        """The conditions a hold of a seat of ``tier`` on ``day`` is taken on, for the data
        server to check under the ticket's lock: selecting then needs no read of the ticket
        first. DATE_NOT_BOOKABLE when the calendar does not offer ``day``."""
        now = self.clock()
        self._check_offered(day, now)
        return HoldTerms(
            prices={
                kind: price
                for kind in rules.TICKET_TYPES
                if (price := rules.price(kind, tier, day)) is not None
            },
            ticket_visit_from=rules.first_bookable_date(now, self.venue_tz),
            hold_minutes=self.hold_minutes,
        )

    async def quote_price(self, ticket_type: TicketType, tier: Tier, day: date) -> PriceQuote:
        """Public prices: the quote for any ticket of ``ticket_type``, about no customer."""
        refusal = rules.path_refusal(ticket_type, tier)
        if refusal is not None:
            raise DomainError(refusal.code, refusal.message)
        return self._bookable_price(ticket_type, tier, day)

    def _bookable_price(self, ticket_type: TicketType, tier: Tier, day: date) -> PriceQuote:
        """The price on ``day``, which must be a date the calendar offers."""
        self._check_offered(day, self.clock())
        return _priced(ticket_type, tier, day)

    def _check_offered(self, day: date, now: datetime) -> None:
        if not rules.offered(day, now, self.venue_tz):
            soon = not rules.bookable(day, now, self.venue_tz)
            why = "less than 24 hours away or past" if soon else "too far ahead"
            raise DomainError(DATE_NOT_BOOKABLE, f"{day} is {why}; {self._window(now)}")

    def _window(self, now: datetime) -> str:
        """The dates that can be booked at ``now``, in words, for a refusal's message."""
        first = rules.first_bookable_date(now, self.venue_tz)
        last = rules.last_bookable_date(now, self.venue_tz)
        return (
            f"upgrades can be booked for {first} to {last} (from more than 24 hours ahead, "
            f"for up to {rules.MAX_CALENDAR_DAYS} days)"
        )

    async def find_my_ticket(
        self, caller: Caller, query: str, customer_id: str | None = None
    ) -> TicketSearch:
        """The caller's tickets a loose query means: a visit date, a ticket type or part of
        the number. Only the caller's own tickets are searched."""
        tickets = await self.data.list_tickets(caller.acting_for(customer_id))
        found = lookup.search(
            query,
            [lookup.Candidate(t.ticket_number, t.ticket_type, t.visit_date) for t in tickets],
        )
        hits = [_mine(t) for t in tickets if t.ticket_number in found.numbers]
        if hits:
            message = f"{len(hits)} of your tickets {found.criterion}"
        else:
            message = f"none of your tickets {found.criterion}; {LIST_HINT}"
        return TicketSearch(query=query, tickets=hits, message=message)

    async def _ticket(
        self, caller: Caller, reference: str, customer_id: str | None
    ) -> RemoteTicketDetail:
        """The caller's ticket that ``reference`` writes, however loosely (see
        :mod:`~servers.ticket.lookup`)."""
        return await self._find(caller, reference, customer_id, self.data.get_ticket)

    async def _find(
        self,
        caller: Caller,
        reference: str,
        customer_id: str | None,
        fetch: Callable[[str, str], Awaitable[Found | None]],
    ) -> Found:
        """What ``fetch(ticket_number, owner)`` answers for the caller's ticket that
        ``reference`` writes. Another customer's answers exactly like one that does not exist:
        only the owner's tickets are ever asked for or matched, and the refusal's text depends
        on the reference alone."""
        owner = caller.acting_for(customer_id)
        if lookup.is_canonical(reference):
            found = await fetch(reference, owner)
            if found is not None:
                return found
        number = lookup.resolve(
            reference, [t.ticket_number for t in await self.data.list_tickets(owner)]
        )
        found = None if number is None else await fetch(number, owner)
        if found is None:
            raise DomainError(
                TICKET_NOT_FOUND, f"no ticket of yours matches {reference.strip()!r}; {LIST_HINT}"
            )
        return found

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


def _refuse_without_path(refusal: rules.Refusal | None) -> None:
    """Without an upgrade path there is no calendar at all."""
    if refusal is not None and refusal.code == rules.NO_UPGRADE_PATH:
        raise DomainError(refusal.code, refusal.message)


def _days(
    ticket_type: TicketType,
    tier: Tier,
    start: date,
    end: date,
    refusal: rules.Refusal | None,
    seats: dict[date, int],
) -> list[CalendarDay]:
    """The calendar both the ticket's and the public one show; ``refusal`` is why no date can
    be booked (shown on every day)."""
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        left = seats.get(day, 0)
        reason = _text(refusal) or (
            None if left > 0 else f"{SOLD_OUT}: no {CATALOGUE[tier].name} seats left"
        )
        band, multiplier, total = _price_of(ticket_type, tier, day)
        days.append(
            CalendarDay(
                date=day,
                price_cents=total,
                currency=CURRENCY,
                band=band,
                multiplier=multiplier,
                seats_left=left,
                available=reason is None,
                reason=reason,
            )
        )
    return days


def _price_of(ticket_type: TicketType, tier: Tier, day: date) -> tuple[rules.Band, str, int]:
    """The date's band, its multiplier as exact decimal text, and the upgrade's price in cents
    (rules.price): what a quote and a calendar day show."""
    band = rules.band(day)
    total = rules.price(ticket_type, tier, day)
    assert total is not None, "callers refuse a missing upgrade path first"
    return band, str(rules.MULTIPLIERS[band]), total


def _priced(ticket_type: TicketType, tier: Tier, day: date) -> PriceQuote:
    """The price of the upgrade on ``day``, with how it was worked out."""
    base = rules.base_price(ticket_type, tier)
    assert base is not None, "callers refuse a missing upgrade path first"
    band, multiplier, total = _price_of(ticket_type, tier, day)
    return PriceQuote(
        ticket_type=ticket_type,
        tier=tier,
        date=day,
        base_cents=base,
        band=band,
        multiplier=multiplier,
        total_cents=total,
        currency=CURRENCY,
    )


def _mine(ticket: RemoteTicket) -> MyTicket:
    return MyTicket.model_validate(ticket.model_dump())


def _text(refusal: rules.Refusal | None) -> str | None:
    return None if refusal is None else str(refusal)
