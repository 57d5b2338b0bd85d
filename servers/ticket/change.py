"""Changing a confirmed upgrade to another date and/or tier: quote it, then do it in one step.

A change runs in four steps, each safe to retry, all keyed by the change the data server
holds for the customer's idempotency key:

1. hold a seat on the new date and tier (the data server's ``hold_change``: the order, its
   ticket and the old seat stay as they are);
2. a dearer change charges the difference to the card that paid the upgrade; a decline
   releases the held seat and is answered as a result, the old upgrade untouched;
3. apply: the data server moves the order and its ticket to the held seat and frees the old one
   in one transaction (see :mod:`servers.data.changes` for the locks);
4. a cheaper change refunds the difference (the refunds the data server planned when it held
   the seat, newest payment first, never more than is left of any payment); then exactly one
   ``upgrade_changed`` e-mail.

A repeated call with the same key finds the same change and carries on from where it stands,
so a crash between steps heals on the next try, and the answer is the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Literal

from pydantic import Field

from servers.core.client import RemoteToolError
from servers.core.errors import IDEMPOTENCY_MISMATCH, DomainError

from . import rules
from .change_gateways import ChangeGateway, ChangeRefused, RemoteChange
from .gateways import (
    PAYMENT_METHOD_NOT_FOUND,
    PAYMENT_TRANSIENT_ERRORS,
    RemoteOrder,
    RemoteTicketDetail,
)
from .journey import ORDER_NOT_FOUND, Journey, _order_view
from .models import Answer, UpgradeOrder
from .rules import CATALOGUE, Band, Tier
from .service import DATE_NOT_BOOKABLE, SOLD_OUT, TICKET_NOT_FOUND, Caller

log = logging.getLogger(__name__)

NOT_CONFIRMED = "NOT_CONFIRMED"
NO_CHANGE = "NO_CHANGE"
CHANGE_IN_PROGRESS = "CHANGE_IN_PROGRESS"
ORDER_CLOSED = "ORDER_CLOSED"
HOLD_EXPIRED = "HOLD_EXPIRED"


class ChangeQuote(Answer):
    order_id: str
    ticket_number: str
    current_tier: Tier
    current_date: date
    paid_cents: int = Field(description="What the customer has paid for the current upgrade.")
    tier: Tier
    date: date
    band: Band
    new_price_cents: int
    difference_cents: int = Field(description="new price - paid: > 0 is charged, < 0 refunded.")
    charge_cents: int = Field(description="What the change would charge (0 or more).")
    refund_cents: int = Field(description="What the change would refund (0 or more).")
    currency: str
    seats_left: int
    available: bool
    reason: str | None = Field(description="Why the change cannot be made now, as CODE: text.")


class UpgradeChange(Answer):
    change_id: str
    status: Literal["changed", "declined", "failed"] = Field(
        description="changed; or declined/failed: the card was not charged and the upgrade "
        "stays as it was."
    )
    order: UpgradeOrder = Field(description="The upgrade as it stands after the call.")
    from_tier: Tier
    from_date: date
    tier: Tier
    date: date
    charged_cents: int
    refunded_cents: int
    currency: str
    decline_code: str | None
    message: str = Field(description="What happened, for the customer.")


@dataclass(frozen=True)
class _Target:
    order: RemoteOrder
    ticket: RemoteTicketDetail
    tier: Tier
    day: date
    price_cents: int


@dataclass
class UpgradeChanges:
    journey: Journey
    gateway: ChangeGateway

    @classmethod
    def over(cls, journey: Journey) -> UpgradeChanges:
        """The changes of the journey's upgrades, over the same clients of the other servers."""
        return cls(journey, ChangeGateway(journey.data.client, journey.payments.client))

    async def quote_change(
        self, caller: Caller, order_id: str, day: date, tier: Tier | None
    ) -> ChangeQuote:
        target = await self._target(caller, order_id, day, tier)
        order = target.order
        if (order.tier, order.visit_date) == (target.tier, day):
            raise DomainError(NO_CHANGE, f"the upgrade is already {target.tier} on {day}")
        left = (await self.journey.data.seats(day, day, target.tier)).get(day, 0)
        difference = target.price_cents - order.amount_cents
        return ChangeQuote(
            order_id=order.order_id,
            ticket_number=order.ticket_number,
            current_tier=order.tier,
            current_date=order.visit_date,
            paid_cents=order.amount_cents,
            tier=target.tier,
            date=day,
            band=rules.band(day),
            new_price_cents=target.price_cents,
            difference_cents=difference,
            charge_cents=max(difference, 0),
            refund_cents=max(-difference, 0),
            currency=order.currency,
            seats_left=left,
            available=left > 0,
            reason=None if left > 0 else f"{SOLD_OUT}: no {CATALOGUE[target.tier].name} seats left",
        )

    async def change_upgrade(
        self, caller: Caller, order_id: str, day: date, tier: Tier | None, idempotency_key: str
    ) -> UpgradeChange:
        target = await self._target(caller, order_id, day, tier)
        owner = caller.acting_for(None)
        try:
            change = await self.gateway.hold(
                order_id=order_id,
                tier=target.tier,
                visit_date=day,
                amount_cents=target.price_cents,
                hold_minutes=self.journey.tickets.hold_minutes,
                idempotency_key=f"change:{owner}:{idempotency_key}",
            )
        except ChangeRefused as refused:
            raise _refusal(refused, target) from None
        if change.status == "released":
            return await self._released(caller, change)
        charge_intent_id = None
        if change.status == "held" and change.to_amount_cents > change.from_amount_cents:
            outcome = await self._charge(target.order, change)
            if isinstance(outcome, UpgradeChange):
                return outcome
            charge_intent_id = outcome
        if change.status == "held":
            change = await self._apply(change, charge_intent_id)
        return await self._finish(caller, target.order, change)

    async def _order(self, caller: Caller, order_id: str) -> RemoteOrder:
        """The caller's order; another customer's answers exactly like a missing one."""
        order = await self.journey.data.get_order(order_id, caller.acting_for(None))
        if order is None:
            raise DomainError(ORDER_NOT_FOUND, f"no order {order_id}")
        return order

    async def _target(self, caller: Caller, order_id: str, day: date, tier: Tier | None) -> _Target:
        """The caller's confirmed order, its ticket and the price of the date and tier it
        would move to, or why it cannot move there."""
        order = await self._order(caller, order_id)
        if order.status != "confirmed":
            raise DomainError(
                NOT_CONFIRMED,
                f"order {order_id} is {order.status}; only a confirmed upgrade can be changed",
            )
        ticket = await self.journey.data.get_ticket(order.ticket_number, order.customer_id)
        if ticket is None:
            raise DomainError(TICKET_NOT_FOUND, f"no ticket {order.ticket_number}")
        new_tier = tier or order.tier
        now = self.journey.tickets.clock()
        venue_tz = self.journey.tickets.venue_tz
        if ticket.status != "active":
            raise DomainError(rules.TICKET_NOT_ACTIVE, f"the ticket is {ticket.status}")
        if not rules.bookable(order.visit_date, now, venue_tz):
            raise DomainError(
                rules.TOO_LATE,
                "an upgrade can be changed until 24 hours before its visit "
                f"({order.visit_date} {rules.VISIT_STARTS_AT:%H:%M})",
            )
        if not rules.offered(day, now, venue_tz):
            first = rules.first_bookable_date(now, venue_tz)
            last = rules.last_bookable_date(now, venue_tz)
            raise DomainError(
                DATE_NOT_BOOKABLE,
                f"{day} cannot be booked; an upgrade can move to {first} to {last} (more than "
                "24 hours ahead)",
            )
        # The tier is priced for the ticket's own type, never for the tier it was upgraded to.
        price = rules.price(ticket.ticket_type, new_tier, day)
        if price is None:
            raise DomainError(
                rules.NO_UPGRADE_PATH,
                f"a {ticket.ticket_type} ticket has no upgrade to {CATALOGUE[new_tier].name}",
            )
        return _Target(order, ticket, new_tier, day, price)

    async def _charge(self, order: RemoteOrder, change: RemoteChange) -> str | UpgradeChange:
        """Charge the difference to the card that paid the upgrade: the paying intent's id, or
        the answer to a decline (the held seat released, the upgrade as it was)."""
        assert order.payment_intent_id is not None  # a confirmed order is paid
        method = await self.gateway.paid_with(order.payment_intent_id)
        difference = change.to_amount_cents - change.from_amount_cents
        intent = await self.journey.payments.create_intent(
            amount_cents=difference,
            currency=change.currency,
            description=f"Change of upgrade {order.order_id} to "
            f"{CATALOGUE[change.to_tier].name} on {change.to_visit_date}",
            customer_ref=order.customer_id,
            metadata={"order_id": order.order_id, "change_id": change.change_id},
            idempotency_key=f"change-intent:{change.change_id}",
        )
        if intent.status == "succeeded":
            return intent.id
        unusable = method is None
        if method is not None:
            # The journey's own charging: the processor's transient failures retried with
            # backoff, each attempt under its own key derived from this one.
            try:
                intent = await self.journey._charge(
                    intent.id, method, f"change-pay:{change.change_id}"
                )
            except RemoteToolError as exc:
                # A card given for that one payment (a test token, a card not saved) or since
                # removed by the customer cannot be charged again without them.
                if exc.code != PAYMENT_METHOD_NOT_FOUND:
                    raise
                unusable = True
        if intent.status == "succeeded":
            return intent.id
        error = intent.last_payment_error
        if unusable:
            decline = NO_SAVED_CARD
        elif error is not None and error.decline_code:
            decline = error.decline_code
        else:
            decline = "authentication_required"
        await self.gateway.cancel_intent(intent.id, f"change-cancel:{change.change_id}")
        released = await self.gateway.release(change.change_id, "declined", decline)
        log.info("change %s of order %s declined: %s", change.change_id, order.order_id, decline)
        return _declined(released, order)

    async def _apply(self, change: RemoteChange, charge_intent_id: str | None) -> RemoteChange:
        """Move the order to the held seat; a paid difference whose seat is gone is given
        back, and the customer hears that the upgrade stands as it was."""
        try:
            return await self.gateway.apply(change.change_id, charge_intent_id)
        except ChangeRefused as refused:
            if charge_intent_id is not None:
                await self.gateway.refund(charge_intent_id, None, f"change-undo:{change.change_id}")
            reason = "expired" if refused.reason == "lapsed" else "cancelled"
            await self.gateway.release(change.change_id, reason)
            log.info("change %s not applied: %s", change.change_id, refused)
            if refused.reason == "lapsed":
                raise DomainError(
                    HOLD_EXPIRED,
                    "the new seat's hold expired and the date is now sold out; your upgrade is "
                    "unchanged and any difference charged was refunded",
                ) from None
            raise DomainError(
                ORDER_CLOSED,
                f"order {change.order_id} was closed during the change; any difference charged "
                "was refunded",
            ) from None

    async def _finish(
        self, caller: Caller, order: RemoteOrder, change: RemoteChange
    ) -> UpgradeChange:
        """After the move: the planned refunds and the one e-mail, each once however often
        this runs."""
        refunded = 0
        for part in change.refund_plan:
            refund = await self.gateway.refund(
                part.payment_intent_id,
                part.amount_cents,
                f"change-refund:{change.change_id}:{part.payment_intent_id}",
            )
            # None: a cancellation of the upgrade refunded everything first.
            refunded += 0 if refund is None else refund.amount_cents
        charged = max(change.to_amount_cents - change.from_amount_cents, 0)
        moved = await self._order(caller, change.order_id)
        assert moved.confirmation_code is not None  # a changed upgrade is a confirmed one
        customer = await self.journey.data.get_customer(moved.customer_id)
        await self.journey.notify.send(
            "upgrade_changed",
            customer.email,
            {
                "customer_name": customer.full_name,
                "ticket_number": moved.ticket_number,
                "order_id": moved.order_id,
                "from_tier": change.from_tier,
                "from_visit_date": change.from_visit_date.isoformat(),
                "tier": change.to_tier,
                "visit_date": change.to_visit_date.isoformat(),
                "amount_cents": change.to_amount_cents,
                "charged_cents": charged,
                "refunded_cents": refunded,
                "currency": change.currency,
                "confirmation_code": moved.confirmation_code,
            },
            key=f"changed:{change.change_id}",
            reference=moved.order_id,
        )
        money = (
            f"{charged} cents were charged"
            if charged
            else f"{refunded} cents are refunded"
            if refunded
            else "the price is the same"
        )
        return UpgradeChange(
            change_id=change.change_id,
            status="changed",
            order=_order_view(moved),
            from_tier=change.from_tier,
            from_date=change.from_visit_date,
            tier=change.to_tier,
            date=change.to_visit_date,
            charged_cents=charged,
            refunded_cents=refunded,
            currency=change.currency,
            decline_code=None,
            message=f"Your upgrade is now {CATALOGUE[change.to_tier].name} on "
            f"{change.to_visit_date}; {money}. Confirmation code {moved.confirmation_code}.",
        )

    async def _released(self, caller: Caller, change: RemoteChange) -> UpgradeChange:
        """The answer again for a key whose change did not happen."""
        order = await self._order(caller, change.order_id)
        if change.release_reason == "declined":
            return _declined(change, order)
        raise DomainError(
            HOLD_EXPIRED if change.release_reason == "expired" else ORDER_CLOSED,
            "this change did not happen and your upgrade is as it was; use a new "
            "idempotency_key to try again",
        )


# The decline code of a dearer change whose first payment's card cannot be charged again.
NO_SAVED_CARD = "no_saved_card"


def _declined(change: RemoteChange, order: RemoteOrder) -> UpgradeChange:
    """The answer to a change whose difference the card refused (the same on every retry)."""
    transient = change.decline_code in PAYMENT_TRANSIENT_ERRORS
    return UpgradeChange(
        change_id=change.change_id,
        status="failed" if transient else "declined",
        order=_order_view(order),
        from_tier=change.from_tier,
        from_date=change.from_visit_date,
        tier=change.to_tier,
        date=change.to_visit_date,
        charged_cents=0,
        refunded_cents=0,
        currency=change.currency,
        decline_code=change.decline_code,
        message="The payment processor had a problem; nothing was charged and your upgrade is "
        "unchanged. Try again in a moment with a new idempotency_key."
        if transient
        else "The card that paid the upgrade was not saved for later payments (or was removed), "
        "so the difference cannot be charged to it; nothing was charged and your upgrade is "
        "unchanged. To move it, cancel it (refunded in full) and upgrade for the new date."
        if change.decline_code == NO_SAVED_CARD
        else "The card that paid the upgrade did not accept the difference "
        f"({change.decline_code}); nothing was charged and your upgrade is unchanged.",
    )


def _refusal(refused: ChangeRefused, target: _Target) -> DomainError:
    """The data server's refusal to hold the change, in this server's words."""
    match refused.reason:
        case "sold_out":
            return DomainError(
                SOLD_OUT,
                f"no {CATALOGUE[target.tier].name} seats left on {target.day}; your upgrade "
                "is unchanged",
            )
        case "no_change":
            return DomainError(NO_CHANGE, f"the upgrade is already {target.tier} on {target.day}")
        case "in_progress":
            return DomainError(
                CHANGE_IN_PROGRESS,
                "another change of this upgrade is under way; look at the order again in a moment",
            )
        case "key_reused":
            return DomainError(
                IDEMPOTENCY_MISMATCH,
                "this idempotency_key was used for a different change; use a new key for a "
                "new change",
            )
        case "closed" | "lapsed":
            return DomainError(
                NOT_CONFIRMED, f"order {target.order.order_id} can no longer be changed"
            )
