"""The upgrade engine: what a customer may upgrade, to what, when, and at what price.

Knows nothing of MCP: callers pass a :class:`Caller` and plain values; answers are models;
refusals are :class:`~servers.core.errors.DomainError` with stable codes.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from servers.core.client import RemoteToolError
from servers.core.clock import Clock, utc_now
from servers.core.errors import DomainError, invalid_argument

from . import rules
from .gateways import (
    DataGateway,
    NotifyGateway,
    PaymentGateway,
    RemoteIntent,
    RemoteOrder,
    RemoteTicket,
    RemoteTicketDetail,
)
from .models import (
    Calendar,
    CalendarDay,
    Eligibility,
    MyOrders,
    MyTicket,
    MyTickets,
    Payment,
    Quote,
    TierOption,
    TierReason,
    UpgradeOptions,
    UpgradeOrder,
)
from .rules import CATALOGUE, CURRENCY, TIERS, Tier

TICKET_NOT_FOUND = "TICKET_NOT_FOUND"
NOT_ALLOWED = "NOT_ALLOWED"
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
        owner = caller.acting_for(customer_id)
        try:
            tickets = await self.data.list_tickets(owner)
        except RemoteToolError as exc:
            if exc.code == "CUSTOMER_NOT_FOUND":
                return MyTickets(tickets=[])
            raise
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
        # The default range stops at the last date there is rather than overflow past it.
        span = min(rules.DEFAULT_CALENDAR_DAYS - 1, (date.max - start).days)
        end = end_date or start + timedelta(days=span)
        if end < start:
            raise invalid_argument(
                f"end_date must not be before {start} (the first date that can be booked)"
            )
        if (end - start).days + 1 > rules.MAX_CALENDAR_DAYS:
            raise invalid_argument(f"a calendar covers at most {rules.MAX_CALENDAR_DAYS} days")
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
        if not rules.bookable(day, now, self.venue_tz):
            raise DomainError(
                DATE_NOT_BOOKABLE,
                f"{day} is less than 24 hours away or past; the first date that can be booked "
                f"is {rules.first_bookable_date(now, self.venue_tz)}",
            )
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

    async def _ticket(
        self, caller: Caller, ticket_number: str, customer_id: str | None
    ) -> RemoteTicketDetail:
        """The caller's ticket. Another customer's answers exactly like one that does not
        exist: the data server is asked for the owner's ticket, so both are the same refusal
        of the same query, with the same code and message here."""
        owner = caller.acting_for(customer_id)
        try:
            return await self.data.get_ticket(ticket_number, owner)
        except RemoteToolError as exc:
            if exc.code != "TICKET_NOT_FOUND":
                raise
        raise DomainError(TICKET_NOT_FOUND, f"no ticket {ticket_number}")

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


# The journey: select, pay, cancel -------------------------------------------------------------

ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
HOLD_EXPIRED = "HOLD_EXPIRED"
ORDER_CLOSED = "ORDER_CLOSED"
TRY_AGAIN = "PAYMENT_UNAVAILABLE"
TRANSIENT_PAYMENT_ERRORS = frozenset({"processing_error"})

Sleep = Callable[[float], Awaitable[None]]
_REMEMBERED_SETTLEMENTS = 10_000


@dataclass
class Journey:
    """Select, pay, cancel: the writes of an upgrade, each safe to retry.

    Every call into another server carries an idempotency key derived from the order (or from
    the customer's own key), so a retry after any failure replays rather than repeats: one seat,
    one charge, one e-mail per event.
    """

    tickets: TicketService
    data: DataGateway
    payments: PaymentGateway
    notify: NotifyGateway
    sleep: Sleep = asyncio.sleep
    payment_attempts: int = 3
    retry_delay: float = 0.2
    # Orders this process confirmed lately, so that the payment webhook which follows every
    # confirmation costs no call to learn what this process already knows.
    _settled: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False, repr=False)

    async def select_upgrade(
        self,
        caller: Caller,
        ticket_number: str,
        tier: Tier,
        day: date,
        idempotency_key: str,
        customer_id: str | None = None,
    ) -> UpgradeOrder:
        owner = caller.acting_for(customer_id)
        quote = await self.tickets.quote_upgrade(
            caller, ticket_number, tier, day, customer_id, open_order_allowed=True
        )
        order = await self.data.reserve(
            ticket_number=ticket_number,
            tier=tier,
            visit_date=day,
            amount_cents=quote.total_cents,
            currency=quote.currency,
            hold_minutes=quote.hold_minutes,
            idempotency_key=f"select:{owner}:{idempotency_key}",
        )
        intent = await self.payments.create_intent(
            amount_cents=order.amount_cents,
            currency=order.currency,
            description=f"Upgrade of {ticket_number} to {CATALOGUE[tier].name} on {day}",
            customer_ref=owner,
            metadata={"order_id": order.order_id, "ticket_number": ticket_number},
            idempotency_key=f"intent:{order.order_id}",
        )
        order = await self.data.attach_payment(order.order_id, intent.id)
        return _order_view(order, client_secret=intent.client_secret)

    async def get_upgrade_order(
        self, caller: Caller, order_id: str, customer_id: str | None = None
    ) -> UpgradeOrder:
        return _order_view(await self._order(caller, order_id, customer_id))

    async def list_my_orders(self, caller: Caller, customer_id: str | None = None) -> MyOrders:
        owner = caller.acting_for(customer_id)
        return MyOrders(orders=[_order_view(o) for o in await self.data.orders_of_customer(owner)])

    async def pay_upgrade(
        self,
        caller: Caller,
        order_id: str,
        payment_method: str,
        idempotency_key: str,
        customer_id: str | None = None,
        *,
        authenticated: bool = False,
    ) -> Payment:
        order = await self._order(caller, order_id, customer_id)
        if order.status == "confirmed":
            return _paid(order)
        if order.status != "awaiting_payment":
            raise DomainError(ORDER_CLOSED, f"order {order_id} is {order.status}")
        if self.tickets.clock() >= order.hold_expires_at:
            raise DomainError(
                HOLD_EXPIRED,
                f"the hold of order {order_id} expired at {order.hold_expires_at.isoformat()}; "
                "select the upgrade again",
            )
        assert order.payment_intent_id is not None
        intent = None
        for attempt in range(1, self.payment_attempts + 1):
            intent = await self.payments.confirm(
                order.payment_intent_id,
                payment_method,
                f"pay:{order_id}:{idempotency_key}:{attempt}",
                authenticated=authenticated,
            )
            error = intent.last_payment_error
            if error is None or error.code not in TRANSIENT_PAYMENT_ERRORS:
                break
            if attempt < self.payment_attempts:
                await self.sleep(self.retry_delay * 2 ** (attempt - 1))
        assert intent is not None
        if intent.status == "succeeded":
            return _paid(await self.settle(order, intent))
        if intent.status == "requires_action":
            return Payment(
                order=_order_view(order),
                payment_status="requires_action",
                decline_code=None,
                message="The card needs the customer's authentication (3-D Secure): once they "
                "have approved it, pay again with authenticated=true and a new idempotency key.",
            )
        error = intent.last_payment_error
        transient = error is not None and error.code in TRANSIENT_PAYMENT_ERRORS
        await self._notify_failure(order, intent, attempt_key=idempotency_key)
        return Payment(
            order=_order_view(order),
            payment_status="failed" if transient else "declined",
            decline_code=error.decline_code if error else None,
            message=(
                "The payment processor had a problem; nothing was charged. Try again in a moment."
                if transient
                else (error.message if error else "The payment did not go through.")
                + f" The seat stays held until {order.hold_expires_at:%H:%M UTC}."
            ),
        )

    async def settle(self, order: RemoteOrder, intent: RemoteIntent) -> RemoteOrder:
        """Confirm a paid order and send its one confirmation e-mail; safe to run twice (the
        payment webhook and the paying call may both get here)."""
        # The customer's address is looked up while the order is confirmed, not after.
        confirmed, customer = await asyncio.gather(
            self.data.confirm_order(order.order_id, intent.id, intent.amount_received_cents),
            self.data.get_customer(order.customer_id),
        )
        await self.notify.send(
            "upgrade_confirmed",
            customer.email,
            {
                "customer_name": customer.full_name,
                "ticket_number": confirmed.ticket_number,
                "order_id": confirmed.order_id,
                "tier": confirmed.tier,
                "visit_date": confirmed.visit_date.isoformat(),
                "amount_cents": confirmed.amount_cents,
                "currency": confirmed.currency,
                "confirmation_code": confirmed.confirmation_code,
            },
            key=f"confirmed:{confirmed.order_id}",
            reference=confirmed.order_id,
        )
        self._settled[confirmed.order_id] = None
        if len(self._settled) > _REMEMBERED_SETTLEMENTS:
            self._settled.popitem(last=False)
        return confirmed

    async def cancel_upgrade(
        self,
        caller: Caller,
        order_id: str,
        idempotency_key: str,
        customer_id: str | None = None,
    ) -> UpgradeOrder:
        order = await self._order(caller, order_id, customer_id)
        if order.status in ("cancelled", "refunded", "expired"):
            return _order_view(order)
        refunded_cents = 0
        if order.status == "awaiting_payment":
            if order.payment_intent_id is not None:
                await self.payments.cancel(order.payment_intent_id, f"cancel:{order_id}")
            closed = await self.data.release_order(order_id, "cancelled")
        else:
            now = self.tickets.clock()
            if not rules.bookable(order.visit_date, now, self.tickets.venue_tz):
                raise DomainError(
                    rules.TOO_LATE,
                    "an upgrade can be cancelled until 24 hours before the visit",
                )
            assert order.payment_intent_id is not None
            refund = await self.payments.refund(order.payment_intent_id, f"refund:{order_id}")
            closed = await self.data.mark_refunded(order_id, refund.id)
            refunded_cents = refund.amount_cents
        customer = await self.data.get_customer(closed.customer_id)
        await self.notify.send(
            "upgrade_cancelled",
            customer.email,
            {
                "customer_name": customer.full_name,
                "ticket_number": closed.ticket_number,
                "order_id": closed.order_id,
                "tier": closed.tier,
                "visit_date": closed.visit_date.isoformat(),
                "refund_cents": refunded_cents,
                "currency": closed.currency,
            },
            key=f"cancelled:{order_id}",
            reference=order_id,
        )
        return _order_view(closed)

    async def reconcile(self, order_id: str) -> str:
        """Bring an order awaiting payment in line with its payment; returns its status.

        Run by the payment webhook and by the hold sweeper, so that a crash between "payment
        succeeded" and "order confirmed" heals itself, and a hold is never expired while its
        payment went through: the payment server is asked first. An order this process has
        confirmed itself needs nothing more.
        """
        if order_id in self._settled:
            return "confirmed"
        order = await self.data.get_order(order_id)
        if order.status != "awaiting_payment" or order.payment_intent_id is None:
            return order.status
        intent = await self.payments.get_intent(order.payment_intent_id)
        if intent.status == "succeeded":
            try:
                return (await self.settle(order, intent)).status
            except RemoteToolError as exc:
                if exc.code != HOLD_EXPIRED:
                    raise
                # Paid after the hold lapsed and the date filled up: give the money back.
                await self.payments.refund(intent.id, f"lapsed:{order_id}")
                return (await self.data.release_order(order_id, "expired")).status
        if self.tickets.clock() < order.hold_expires_at or intent.status == "processing":
            return order.status
        if intent.status in ("requires_payment_method", "requires_action"):
            await self.payments.cancel(intent.id, f"expire:{order_id}")
        expired = await self.data.release_order(order_id, "expired")
        customer = await self.data.get_customer(expired.customer_id)
        await self.notify.send(
            "hold_expired",
            customer.email,
            {
                "customer_name": customer.full_name,
                "ticket_number": expired.ticket_number,
                "order_id": expired.order_id,
                "tier": expired.tier,
                "visit_date": expired.visit_date.isoformat(),
            },
            key=f"expired:{order_id}",
            reference=order_id,
        )
        return expired.status

    async def sweep_holds(self) -> int:
        """Reconcile every hold past its expiry; returns how many were looked at."""
        now = self.tickets.clock()
        due = [o for o in await self.data.awaiting_payment() if o.hold_expires_at <= now]
        for order in due:
            await self.reconcile(order.order_id)
        return len(due)

    async def _notify_failure(
        self, order: RemoteOrder, intent: RemoteIntent, *, attempt_key: str
    ) -> None:
        customer = await self.data.get_customer(order.customer_id)
        error = intent.last_payment_error
        await self.notify.send(
            "payment_failed",
            customer.email,
            {
                "customer_name": customer.full_name,
                "ticket_number": order.ticket_number,
                "order_id": order.order_id,
                "tier": order.tier,
                "visit_date": order.visit_date.isoformat(),
                "amount_cents": order.amount_cents,
                "currency": order.currency,
                "decline_code": error.decline_code if error else "unknown",
                "hold_expires_at": order.hold_expires_at.isoformat(),
            },
            # One notice per failed attempt the customer made, however often it is retried.
            key=f"failed:{order.order_id}:{attempt_key}",
            reference=order.order_id,
        )

    async def _order(self, caller: Caller, order_id: str, customer_id: str | None) -> RemoteOrder:
        """The caller's order; another customer's answers exactly like a missing one (the
        data server is asked for the owner's order)."""
        owner = caller.acting_for(customer_id)
        try:
            return await self.data.get_order(order_id, owner)
        except RemoteToolError as exc:
            if exc.code != "ORDER_NOT_FOUND":
                raise
        raise DomainError(ORDER_NOT_FOUND, f"no order {order_id}")


def _order_view(order: RemoteOrder, *, client_secret: str | None = None) -> UpgradeOrder:
    return UpgradeOrder(
        order_id=order.order_id,
        ticket_number=order.ticket_number,
        tier=order.tier,
        visit_date=order.visit_date,
        amount_cents=order.amount_cents,
        currency=order.currency,
        status=order.status,
        hold_expires_at=order.hold_expires_at,
        payment_intent_id=order.payment_intent_id,
        confirmation_code=order.confirmation_code,
        client_secret=client_secret,
    )


def _paid(order: RemoteOrder) -> Payment:
    return Payment(
        order=_order_view(order),
        payment_status="succeeded",
        decline_code=None,
        message=f"Upgrade confirmed. Confirmation code {order.confirmation_code}.",
    )
