"""The upgrade journey: select, pay, cancel, and the reconciling that heals a broken one.

The writes of an upgrade, each safe to retry; the reads (tickets, options, calendar, quotes)
are the :class:`~servers.ticket.service.TicketService`. Every answer is in this server's own
words: when another server refuses a step because a concurrent call got there first, the
journey looks at where the order now stands and answers with that.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial

from servers.core.errors import IDEMPOTENCY_MISMATCH, DomainError

from . import lookup, rules
from .change_gateways import ChangeGateway, refund_everything
from .gateways import (
    PAYMENT_TRANSIENT_ERRORS,
    DataGateway,
    HoldLapsed,
    IntentPastConfirming,
    KeyReused,
    NotifyGateway,
    OrderExists,
    PaymentGateway,
    RemoteConfirmedOrder,
    RemoteIntent,
    RemoteOrder,
    TicketRefused,
)
from .models import MyOrders, Payment, UpgradeOrder
from .rules import ALREADY_UPGRADED, CATALOGUE, HOLD_EXISTS, Tier
from .service import Caller, HoldTerms, TicketService

log = logging.getLogger(__name__)

ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
HOLD_EXPIRED = "HOLD_EXPIRED"
ORDER_CLOSED = "ORDER_CLOSED"
PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"
PAYMENT_NOT_OPENED = "PAYMENT_NOT_OPENED"
ORDER_INCONSISTENT = "ORDER_INCONSISTENT"
TICKET_CHANGED = "TICKET_CHANGED"

Sleep = Callable[[float], Awaitable[None]]
_REMEMBERED_SETTLEMENTS = 10_000
_REMEMBERED_ORDERS = 10_000


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
    # Orders this process confirmed and e-mailed lately, so that the payment webhook which
    # follows every confirmation costs no call to learn what this process already knows.
    _settled: OrderedDict[str, None] = field(default_factory=OrderedDict, init=False, repr=False)
    # Confirmation e-mails being queued after the payer was answered, by order (_settle_paid).
    _emailing: dict[str, asyncio.Task[None]] = field(default_factory=dict, init=False, repr=False)
    # Orders this process opened lately (held, their payment attached), by id. What paying
    # needs of an open order never changes (whose it is, its payment, its price, when its hold
    # ends), so paying one of them goes to the payment server without asking the data server
    # first. Its status is never taken from here: the payment server refuses the intent of an
    # order that was paid or closed since, and the data server confirms the order as it stands.
    _opened: OrderedDict[str, RemoteOrder] = field(
        default_factory=OrderedDict, init=False, repr=False
    )

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
        order = None
        if self.tickets.offers(day) and lookup.is_canonical(ticket_number):
            # The hot path: the data server checks the ticket against the terms as it holds
            # the seat, so no read of the ticket comes first.
            terms = self.tickets.hold_terms(tier, day)
            order = await self._hold(ticket_number, owner, tier, day, terms, idempotency_key)
        if order is None:
            # Refused, or the customer wrote the ticket loosely, or the date is not offered:
            # the quote resolves which ticket is meant and words any refusal (the ticket's own
            # first, then the date's) as the other tools do.
            quote = await self.tickets.quote_upgrade(
                caller, ticket_number, tier, day, customer_id, open_order_allowed=True
            )
            terms = self.tickets.hold_terms(tier, day)
            order = await self._hold(quote.ticket_number, owner, tier, day, terms, idempotency_key)
            if order is None:
                # The ticket changed between the quote and the hold (used, cancelled): the
                # quote words how it stands now.
                await self.tickets.quote_upgrade(
                    caller, ticket_number, tier, day, customer_id, open_order_allowed=True
                )
                raise DomainError(
                    TICKET_CHANGED,
                    f"ticket {quote.ticket_number} changed while it was being upgraded; "
                    "select the upgrade again",
                )
        ticket_number = order.ticket_number
        intent = await self.payments.create_intent(
            amount_cents=order.amount_cents,
            currency=order.currency,
            description=f"Upgrade of {ticket_number} to {CATALOGUE[tier].name} on {day}",
            customer_ref=owner,
            metadata={"order_id": order.order_id, "ticket_number": ticket_number},
            idempotency_key=f"intent:{order.order_id}",
        )
        order = await self.data.attach_payment(order.order_id, intent.id)
        if order.status == "awaiting_payment":
            self._opened[order.order_id] = order
            if len(self._opened) > _REMEMBERED_ORDERS:
                self._opened.popitem(last=False)
        return _order_view(order, client_secret=intent.client_secret)

    async def _hold(
        self,
        ticket_number: str,
        owner: str,
        tier: Tier,
        day: date,
        terms: HoldTerms,
        idempotency_key: str,
    ) -> RemoteOrder | None:
        """The seat held for ``owner``'s ticket on ``terms``; None when the data server refuses
        the ticket itself (not theirs, or its type, state or visit), which the caller words."""
        try:
            return await self.data.reserve(
                ticket_number=ticket_number,
                owner=owner,
                tier=tier,
                visit_date=day,
                prices=terms.prices,
                ticket_visit_from=terms.ticket_visit_from,
                currency=terms.currency,
                hold_minutes=terms.hold_minutes,
                idempotency_key=f"select:{owner}:{idempotency_key}",
            )
        except TicketRefused as exc:
            log.info("hold of %s refused: %s", ticket_number, exc)
            return None
        except OrderExists:
            raise await self._open_order_refusal(ticket_number, owner) from None

    async def _open_order_refusal(self, ticket_number: str, owner: str) -> DomainError:
        """The refusal of a selection beside the ticket's open order, in this server's terms:
        already upgraded, or an upgrade already awaiting payment."""
        ticket = await self.data.get_ticket(ticket_number, owner)
        if ticket is not None and ticket.upgrade_tier is not None:
            return DomainError(ALREADY_UPGRADED, "the ticket has already been upgraded")
        return DomainError(
            HOLD_EXISTS,
            "an upgrade of this ticket is already awaiting payment; pay or cancel it first "
            "(list_my_orders)",
        )

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
        payment_method: str | None,
        idempotency_key: str,
        customer_id: str | None = None,
    ) -> Payment:
        """Pays with a saved or new payment method; without one, answers with the payment
        server's checkout page, where the customer enters the card themself."""
        owner = caller.acting_for(customer_id)
        order = None if payment_method is None else self._opened_order(order_id, owner)
        if order is None:
            order = await self._order(caller, order_id, customer_id)
            if order.status == "confirmed":
                return _paid(order)
            if order.status != "awaiting_payment":
                raise DomainError(ORDER_CLOSED, f"order {order_id} is {order.status}")
            if self.tickets.clock() >= order.hold_expires_at:
                raise DomainError(
                    HOLD_EXPIRED,
                    f"the hold of order {order_id} expired at "
                    f"{order.hold_expires_at.isoformat()}; select the upgrade again",
                )
        if order.payment_intent_id is None:
            # The selection stopped between holding the seat and opening its payment.
            raise DomainError(
                PAYMENT_NOT_OPENED,
                f"order {order_id} has no payment yet; select the upgrade again with the same "
                "idempotency_key to open it",
            )
        try:
            if payment_method is None:
                return await self._checkout(order, order.payment_intent_id)
            intent = await self._charge(
                order.payment_intent_id, payment_method, f"pay:{order_id}:{idempotency_key}"
            )
        except IntentPastConfirming as exc:
            # Another call (a parallel pay, a cancel) moved the payment on first.
            log.info("payment of order %s raced another call: %s", order_id, exc)
            return await self._after_race(caller, order, order.payment_intent_id, customer_id)
        except KeyReused as exc:
            log.info("payment of order %s reused a key: %s", order_id, exc)
            raise DomainError(
                IDEMPOTENCY_MISMATCH,
                "this idempotency_key was used for a different payment; use a new key for a "
                "new attempt",
            ) from None
        if intent.status == "succeeded":
            return _paid(await self._settle_paid(order, intent))
        if intent.status == "requires_action":
            return Payment(
                order=_order_view(order),
                payment_status="requires_action",
                decline_code=None,
                message="The card needs the customer's approval (3-D Secure): they open "
                "checkout_url and approve the payment there; the upgrade is then confirmed and "
                "e-mailed.",
                checkout_url=intent.next_action.url if intent.next_action else None,
            )
        error = intent.last_payment_error
        transient = error is not None and error.code in PAYMENT_TRANSIENT_ERRORS
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

    def _opened_order(self, order_id: str, owner: str) -> RemoteOrder | None:
        """The order as this process opened it, if it is ``owner``'s and its hold lasts; else
        None, and the data server is asked (and words any refusal)."""
        order = self._opened.get(order_id)
        if order is None or order.customer_id != owner:
            return None
        if self.tickets.clock() >= order.hold_expires_at:
            return None
        return order

    async def _checkout(self, order: RemoteOrder, payment_intent_id: str) -> Payment:
        """The order's one checkout page, open until its hold ends; paid there, the payment
        webhook confirms the order as for any payment."""
        page = await self.payments.open_checkout(
            payment_intent_id, order.hold_expires_at, f"checkout:{order.order_id}"
        )
        return Payment(
            order=_order_view(order),
            payment_status="requires_checkout",
            decline_code=None,
            message="Open checkout_url to pay by card on the secure payment page (never type "
            f"a card number into the chat). It is open until {page.expires_at:%H:%M UTC}; "
            "once paid, the upgrade is confirmed and e-mailed.",
            checkout_url=page.url,
            checkout_expires_at=page.expires_at,
        )

    async def _charge(self, payment_intent_id: str, payment_method: str, key: str) -> RemoteIntent:
        """Confirms the intent, retrying the processor's own failures with backoff."""
        attempt = 1
        while True:
            intent = await self.payments.confirm(
                payment_intent_id, payment_method, f"{key}:{attempt}"
            )
            error = intent.last_payment_error
            if error is None or error.code not in PAYMENT_TRANSIENT_ERRORS:
                return intent
            if attempt >= self.payment_attempts:
                return intent
            await self.sleep(self.retry_delay * 2 ** (attempt - 1))
            attempt += 1

    async def _after_race(
        self, caller: Caller, order: RemoteOrder, payment_intent_id: str, customer_id: str | None
    ) -> Payment:
        """The answer to a payment the payment server refused because its intent had moved on:
        the paid order when it was paid, else why the order cannot be paid now. The order is
        read first: the one paying may have known it only as this process opened it."""
        current = await self._order(caller, order.order_id, customer_id)
        if current.status == "confirmed":
            return _paid(current)
        if current.status != "awaiting_payment":
            raise DomainError(ORDER_CLOSED, f"order {order.order_id} is {current.status}")
        intent = await self.payments.get_intent(payment_intent_id)
        if intent.status == "succeeded":
            return _paid(await self._settle_paid(current, intent))
        if intent.status == "canceled":
            raise DomainError(ORDER_CLOSED, f"order {order.order_id} is {current.status}")
        raise DomainError(
            PAYMENT_IN_PROGRESS,
            f"a payment of order {order.order_id} is in progress; look at the order again in a "
            "moment before paying again",
        )

    async def _settle_paid(self, order: RemoteOrder, intent: RemoteIntent) -> RemoteOrder:
        """:meth:`settle` for the customer who paid, who is answered once the order is
        confirmed: the confirmation e-mail is queued after that, off the call's path. A payment
        which came too late for its seat is refunded and answered ``HOLD_EXPIRED``.

        The e-mail is never lost: the payment webhook that follows every successful payment
        settles the order again unless this process has e-mailed it (``_settled``), and the
        notify server takes each order's confirmation once, however often it is sent."""
        try:
            confirmed = await self._confirm(order, intent)
        except HoldLapsed:
            await self._refund_lapsed(order, intent)
            raise DomainError(
                HOLD_EXPIRED,
                f"the hold of order {order.order_id} expired before the payment went through "
                "and the date is now sold out; the payment was refunded",
            ) from None
        if confirmed.order_id not in self._emailing:
            task = asyncio.create_task(self._email_confirmed(confirmed))
            self._emailing[confirmed.order_id] = task
            task.add_done_callback(partial(self._emailed, confirmed.order_id))
        return confirmed

    def _emailed(self, order_id: str, task: asyncio.Task[None]) -> None:
        del self._emailing[order_id]
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.warning(
                "confirmation e-mail of order %s not queued (%s); the payment webhook sends it",
                order_id,
                type(exc).__name__,
            )

    async def drain(self) -> None:
        """Wait for the confirmation e-mails still being queued: before shutting down (and
        in tests, before looking for them)."""
        while self._emailing:
            await asyncio.wait(list(self._emailing.values()))

    async def settle(self, order: RemoteOrder, intent: RemoteIntent) -> RemoteOrder:
        """Confirm a paid order and send its one confirmation e-mail; safe to run twice (the
        payment webhook and the paying call may both get here)."""
        confirmed = await self._confirm(order, intent)
        await self._email_confirmed(confirmed)
        return confirmed

    async def _confirm(self, order: RemoteOrder, intent: RemoteIntent) -> RemoteConfirmedOrder:
        # Confirming answers with the customer to e-mail: no call of its own to look them up.
        confirmed = await self.data.confirm_order(
            order.order_id, intent.id, intent.amount_received_cents
        )
        self._opened.pop(order.order_id, None)
        return confirmed

    async def _email_confirmed(self, confirmed: RemoteConfirmedOrder) -> None:
        customer = confirmed.customer
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
        self._opened.pop(order_id, None)  # whatever comes of it, paying asks first from now
        refunded_cents = 0
        if order.status == "awaiting_payment":
            if order.payment_intent_id is not None:
                try:
                    await self.payments.cancel(order.payment_intent_id, f"cancel:{order_id}")
                except IntentPastConfirming:
                    # Paid while being cancelled: confirm it, then cancel it as an upgrade.
                    if await self.reconcile(order_id) != "confirmed":
                        raise DomainError(
                            PAYMENT_IN_PROGRESS,
                            f"a payment of order {order_id} is in progress; cancel it again "
                            "in a moment",
                        ) from None
                    return await self.cancel_upgrade(caller, order_id, idempotency_key, customer_id)
            closed = await self.data.release_order(order_id, "cancelled")
        else:
            now = self.tickets.clock()
            if not rules.bookable(order.visit_date, now, self.tickets.venue_tz):
                raise DomainError(
                    rules.TOO_LATE,
                    "an upgrade can be cancelled until 24 hours before the visit",
                )
            if order.payment_intent_id is None:
                # The data server confirms an order only with its payment: never expected.
                log.error("confirmed order %s has no payment intent", order_id)
                raise DomainError(
                    ORDER_INCONSISTENT,
                    f"order {order_id} is confirmed but has no payment on record; it cannot be "
                    "refunded automatically",
                )
            # Changes of the upgrade may have charged differences on payments of their own.
            refund = await refund_everything(
                ChangeGateway(self.data.client, self.payments.client),
                order_id,
                order.payment_intent_id,
            )
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

    async def reconcile(self, order_id: str) -> str | None:
        """Bring an order awaiting payment in line with its payment; returns its status, or
        None when there is no such order.

        Run by the payment webhook and by the hold sweeper, so that a crash between "payment
        succeeded" and "order confirmed" heals itself, and a hold is never expired while its
        payment went through: the payment server is asked first. An order this process has
        confirmed and e-mailed itself needs nothing more; any other confirmed order is settled
        again, so that its confirmation e-mail is never lost.
        """
        if (emailing := self._emailing.get(order_id)) is not None:
            # The payer's call is queueing the e-mail right now (the webhook often arrives
            # meanwhile): its outcome says whether anything is left to do.
            await asyncio.wait([emailing])
        if order_id in self._settled:
            return "confirmed"
        order = await self.data.get_order(order_id)
        if order is None:
            return None
        if order.status == "confirmed" and order.payment_intent_id is not None:
            # Confirmed by another process, or here by a call that stopped before its e-mail
            # went out (the notify server down, a crash): settling again sends the e-mail if it
            # never went, and never twice (its key is the order's).
            intent = await self.payments.get_intent(order.payment_intent_id)
            return (await self.settle(order, intent)).status
        if order.status != "awaiting_payment" or order.payment_intent_id is None:
            return order.status
        intent = await self.payments.get_intent(order.payment_intent_id)
        if intent.status == "succeeded":
            try:
                return (await self.settle(order, intent)).status
            except HoldLapsed:
                return (await self._refund_lapsed(order, intent)).status
        if self.tickets.clock() < order.hold_expires_at or intent.status == "processing":
            return order.status
        if intent.status in ("requires_payment_method", "requires_action"):
            try:
                await self.payments.cancel(intent.id, f"expire:{order_id}")
            except IntentPastConfirming:
                # Paid at the last moment: the next reconciling confirms it.
                return order.status
        self._opened.pop(order_id, None)
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

    async def _refund_lapsed(self, order: RemoteOrder, intent: RemoteIntent) -> RemoteOrder:
        """Paid after the hold lapsed and the date filled up: give the money back."""
        self._opened.pop(order.order_id, None)
        await self.payments.refund(intent.id, f"lapsed:{order.order_id}")
        return await self.data.release_order(order.order_id, "expired")

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
        order = await self.data.get_order(order_id, caller.acting_for(customer_id))
        if order is None:
            raise DomainError(ORDER_NOT_FOUND, f"no order {order_id}")
        return order


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
