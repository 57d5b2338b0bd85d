"""Changes of a confirmed upgrade to another date and/or tier, as the system of record sees them.

A change is three short transactions, so that no lock is held while another server is called:

1. :meth:`OrderChanges.hold` takes a seat on the new date and tier for the change itself (the
   ``data.seat_claims`` view counts it like any hold) and plans the refunds of a cheaper one.
2. The ticket server charges or refunds the difference through the payment server.
3. :meth:`OrderChanges.apply` moves the order and its ticket to the new date and tier, or
   :meth:`OrderChanges.release` gives the held seat back and nothing else moved.

Concurrency: every write of an order's change locks its ticket, then its order, then (when it
counts seats) the capacity row of the date and tier, the same lock order ``reserve_upgrade``,
``confirm_order`` and ``mark_refunded`` use, so writers of one ticket queue up instead of
deadlocking. At most one change of an order is held (a partial unique index), so two changes
can never both swap the same order's seat. Applying is one transaction: the old seat is freed
and the held one becomes the order's in the same commit, so the seats of either date are never
counted twice or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from servers.core.db import Transaction
from servers.core.errors import DomainError
from servers.core.ids import new_id

from . import repository as repo
from .models import (
    ChangeReleaseReason,
    Order,
    OrderChange,
    OrderPayment,
    OrderPayments,
    RefundPart,
    Tier,
)
from .service import (
    HOLD_EXPIRED,
    INVALID_STATE,
    ORDER_NOT_FOUND,
    SOLD_OUT,
    DataService,
    _lock_order_and_ticket,
)

CHANGE_NOT_FOUND = "CHANGE_NOT_FOUND"
CHANGE_IN_PROGRESS = "CHANGE_IN_PROGRESS"
NO_CHANGE = "NO_CHANGE"


@dataclass
class OrderChanges:
    data: DataService

    async def hold(
        self,
        *,
        order_id: str,
        tier: Tier,
        visit_date: date,
        amount_cents: int,
        hold_minutes: int,
        idempotency_key: str,
        caller: str,
    ) -> OrderChange:
        """Hold a seat for moving a confirmed order; a repeat with the same key answers the
        change as it stands now (held, applied or released)."""
        arguments = {
            "order_id": order_id,
            "tier": tier,
            "visit_date": visit_date.isoformat(),
            "amount_cents": amount_cents,
            "hold_minutes": hold_minutes,
        }

        async def work(tx: Transaction) -> OrderChange:
            now = self.data.clock()
            order = await _lock_order_and_ticket(tx, order_id)
            if order.status != "confirmed":
                raise DomainError(
                    INVALID_STATE,
                    f"order {order_id} is {order.status}; only a confirmed upgrade can be changed",
                )
            if (order.tier, order.visit_date) == (tier, visit_date):
                raise DomainError(NO_CHANGE, f"order {order_id} is already {tier} on {visit_date}")
            await self._expire_stale(tx, order_id)
            if await repo.changes_of(tx, order_id, "held"):
                raise DomainError(
                    CHANGE_IN_PROGRESS, f"another change of order {order_id} is under way"
                )
            capacity = await repo.lock_capacity(tx, visit_date, tier, self.data.capacity.of(tier))
            held, sold = await repo.seats_taken(tx, visit_date, tier, now)
            if held + sold >= capacity:
                raise DomainError(SOLD_OUT, f"no {tier} seats left on {visit_date}")
            plan = await self._refund_plan(tx, order, order.amount_cents - amount_cents)
            return await repo.insert_change(
                tx,
                {
                    "change_id": new_id("chg"),
                    "order_id": order_id,
                    "from_tier": order.tier,
                    "from_visit_date": order.visit_date,
                    "from_amount_cents": order.amount_cents,
                    "to_tier": tier,
                    "to_visit_date": visit_date,
                    "to_amount_cents": amount_cents,
                    "currency": order.currency,
                    "hold_expires_at": now + timedelta(minutes=hold_minutes),
                    "refund_plan": [p.model_dump() for p in plan],
                    "now": now,
                },
            )

        first = await self.data.idempotency.run_once(
            self.data.db,
            caller=caller,
            tool="hold_change",
            key=idempotency_key,
            arguments=arguments,
            model=OrderChange,
            work=work,
        )
        return await self.get(first.change_id)

    async def get(self, change_id: str) -> OrderChange:
        async with self.data.db.read() as tx:
            return await _change(tx, change_id)

    async def apply(self, change_id: str, charge_intent_id: str | None) -> OrderChange:
        """Move the order and its ticket to the held date and tier; applying twice is
        harmless. HOLD_EXPIRED when the hold lapsed and its seat went to someone else;
        INVALID_STATE when the change was released or the upgrade is no longer confirmed."""
        now = self.data.clock()
        async with self.data.db.transaction() as tx:
            found = await _change(tx, change_id)
            order = await _lock_order_and_ticket(tx, found.order_id)
            change = await _change(tx, change_id, lock=True)
            if change.status == "applied":
                return change
            if change.status != "held":
                raise DomainError(
                    INVALID_STATE, f"change {change_id} was released ({change.release_reason})"
                )
            if order.status != "confirmed":
                raise DomainError(INVALID_STATE, f"order {order.order_id} is {order.status}")
            needs_charge = change.to_amount_cents > change.from_amount_cents
            if needs_charge != (charge_intent_id is not None):
                raise DomainError(
                    INVALID_STATE,
                    f"change {change_id} "
                    + (
                        "needs the payment of its difference" if needs_charge else "charges nothing"
                    ),
                )
            if now >= change.hold_expires_at:
                # The hold lapsed: its seat is only this change's if it is still free.
                capacity = await repo.lock_capacity(
                    tx, change.to_visit_date, change.to_tier, self.data.capacity.of(change.to_tier)
                )
                held, sold = await repo.seats_taken(
                    tx, change.to_visit_date, change.to_tier, now, excluding=change_id
                )
                if held + sold >= capacity:
                    raise DomainError(
                        HOLD_EXPIRED,
                        f"the hold of change {change_id} expired and the date is now sold out",
                    )
            await repo.move_order(
                tx,
                order.order_id,
                change.to_tier,
                change.to_visit_date,
                change.to_amount_cents,
                now,
            )
            await repo.apply_upgrade(
                tx, order.ticket_number, change.to_tier, change.to_visit_date, now
            )
            return await repo.update_change(
                tx,
                change_id,
                {
                    "status": "applied",
                    "charge_intent_id": charge_intent_id,
                    "closed_at": now,
                    "updated_at": now,
                },
            )

    async def release(
        self, change_id: str, reason: ChangeReleaseReason, decline_code: str | None
    ) -> OrderChange:
        """Give the held seat back; the order and ticket stay as they are. Releasing twice is
        harmless; an applied change cannot be released."""
        now = self.data.clock()
        async with self.data.db.transaction() as tx:
            change = await _change(tx, change_id, lock=True)
            if change.status == "released":
                return change
            if change.status == "applied":
                raise DomainError(INVALID_STATE, f"change {change_id} is already applied")
            return await repo.update_change(
                tx,
                change_id,
                {
                    "status": "released",
                    "release_reason": reason,
                    "decline_code": decline_code,
                    "closed_at": now,
                    "updated_at": now,
                },
            )

    async def payments(self, order_id: str) -> OrderPayments:
        """The order's payments and what changes gave back of each."""
        async with self.data.db.read() as tx:
            order = await repo.order(tx, order_id)
            if order is None:
                raise DomainError(ORDER_NOT_FOUND, f"no order {order_id}")
            return OrderPayments(order_id=order_id, payments=await _payments(tx, order))

    async def _refund_plan(self, tx: Transaction, order: Order, cents: int) -> list[RefundPart]:
        """Which payments give back ``cents`` (nothing when not positive): the newest first,
        each no more than is left of it, so a refund never exceeds what was paid."""
        plan: list[RefundPart] = []
        for payment in reversed(await _payments(tx, order)):
            if cents <= 0:
                break
            part = min(cents, payment.charged_cents - payment.refunded_cents)
            if part > 0:
                plan.append(
                    RefundPart(payment_intent_id=payment.payment_intent_id, amount_cents=part)
                )
                cents -= part
        if cents > 0:
            raise RuntimeError(f"order {order.order_id} has less left to refund than it costs")
        return plan

    async def _expire_stale(self, tx: Transaction, order_id: str) -> None:
        """A held change whose hold lapsed without being applied is over: its seat is free."""
        now = self.data.clock()
        for change in await repo.changes_of(tx, order_id, "held"):
            if change.hold_expires_at <= now:
                await repo.update_change(
                    tx,
                    change.change_id,
                    {
                        "status": "released",
                        "release_reason": "expired",
                        "closed_at": now,
                        "updated_at": now,
                    },
                )


async def _payments(tx: Transaction, order: Order) -> list[OrderPayment]:
    """The order's first payment (for the price first paid), then each charged difference;
    refunded is what applied changes gave back of each."""
    applied = await repo.changes_of(tx, order.order_id, "applied")
    if order.payment_intent_id is None:
        return []
    first_paid = applied[0].from_amount_cents if applied else order.amount_cents
    charged = {order.payment_intent_id: first_paid}
    for change in applied:
        if change.charge_intent_id is not None:
            charged[change.charge_intent_id] = change.to_amount_cents - change.from_amount_cents
    refunded = dict.fromkeys(charged, 0)
    for change in applied:
        for part in change.refund_plan:
            refunded[part.payment_intent_id] += part.amount_cents
    return [
        OrderPayment(payment_intent_id=i, charged_cents=c, refunded_cents=refunded[i])
        for i, c in charged.items()
    ]


async def _change(tx: Transaction, change_id: str, *, lock: bool = False) -> OrderChange:
    change = await repo.change(tx, change_id, lock=lock)
    if change is None:
        raise DomainError(CHANGE_NOT_FOUND, f"no change {change_id}")
    return change
