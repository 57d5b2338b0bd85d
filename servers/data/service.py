"""The data server's rules: what may be written, atomically, whatever the concurrency.

It knows nothing of MCP: it takes plain, already-validated values and returns records or raises
:class:`~servers.core.errors.DomainError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from servers.core.clock import Clock, utc_now
from servers.core.db import UNIQUE_VIOLATION, Database, DatabaseError, Transaction
from servers.core.errors import NOT_FOUND, DomainError, invalid_argument
from servers.core.idempotency import IdempotencyStore
from servers.core.ids import new_code, new_id

from . import repository as repo
from .models import (
    TIERS,
    ConfirmedOrder,
    Customer,
    ExpiredHolds,
    IntegrityReport,
    Inventory,
    InventoryDay,
    Order,
    OrderList,
    ReleaseReason,
    Ticket,
    TicketDetail,
    TicketInventory,
    TicketList,
    TicketType,
    Tier,
    Violation,
)

CUSTOMER_NOT_FOUND = "CUSTOMER_NOT_FOUND"
TICKET_NOT_FOUND = "TICKET_NOT_FOUND"
ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
EMAIL_TAKEN = "EMAIL_TAKEN"
TICKET_NOT_ACTIVE = "TICKET_NOT_ACTIVE"
TICKET_NOT_ELIGIBLE = "TICKET_NOT_ELIGIBLE"
SOLD_OUT = "SOLD_OUT"
ORDER_EXISTS = "ORDER_EXISTS"
CAPACITY_BELOW_COMMITTED = "CAPACITY_BELOW_COMMITTED"
INVALID_STATE = "INVALID_STATE"
PAYMENT_MISMATCH = "PAYMENT_MISMATCH"
AMOUNT_MISMATCH = "AMOUNT_MISMATCH"
HOLD_EXPIRED = "HOLD_EXPIRED"
HOLD_ACTIVE = "HOLD_ACTIVE"
REFUND_MISMATCH = "REFUND_MISMATCH"

MAX_INVENTORY_DAYS = 366
MAX_LIST = 500


@dataclass(frozen=True)
class CapacityDefaults:
    standard: int = 200
    non_stop: int = 100
    double_fun: int = 50

    def of(self, tier: Tier) -> int:
        value: int = getattr(self, tier)
        return value

    def as_dict(self) -> dict[str, int]:
        return {tier: self.of(tier) for tier in TIERS}


@dataclass
class DataService:
    db: Database
    clock: Clock = utc_now
    capacity: CapacityDefaults = field(default_factory=CapacityDefaults)
    idempotency: IdempotencyStore = field(default_factory=lambda: IdempotencyStore("data"))

    # Customers --------------------------------------------------------------------------------

    async def find_customer(self, email: str) -> Customer:
        async with self.db.read() as tx:
            customer = await repo.customer_by_email(tx, email.lower())
        if customer is None:
            raise DomainError(CUSTOMER_NOT_FOUND, f"no customer with e-mail {email.lower()}")
        return customer

    async def get_customer(self, customer_id: str) -> Customer:
        async with self.db.read() as tx:
            return await _customer(tx, customer_id)

    async def create_customer(
        self, *, email: str, full_name: str, idempotency_key: str, caller: str
    ) -> Customer:
        email = email.lower()

        async def work(tx: Transaction) -> Customer:
            created = await repo.insert_customer(tx, new_id("cus"), email, full_name, self.clock())
            if created is None:
                raise DomainError(EMAIL_TAKEN, f"a customer with e-mail {email} already exists")
            return created

        return await self.idempotency.run_once(
            self.db,
            caller=caller,
            tool="create_customer",
            key=idempotency_key,
            arguments={"email": email, "full_name": full_name},
            model=Customer,
            work=work,
        )

    # Tickets ----------------------------------------------------------------------------------

    async def list_tickets(self, customer_id: str, status: str | None) -> TicketList:
        async with self.db.read() as tx:
            tickets = await repo.tickets_of(tx, customer_id, status)
            if not tickets:
                # No tickets, or no such customer: only then is it worth a second statement.
                await _customer(tx, customer_id)
            return TicketList(tickets=tickets)

    async def get_ticket(self, ticket_number: str, owner: str | None = None) -> TicketDetail:
        """The ticket and its open order; with ``owner``, another customer's ticket is
        TICKET_NOT_FOUND, exactly as a missing one is."""
        async with self.db.read() as tx:
            return await _ticket_detail(tx, ticket_number, owner, self.clock())

    async def get_ticket_and_inventory(
        self, ticket_number: str, owner: str | None, start: date, end: date, tier: Tier
    ) -> TicketInventory:
        """:meth:`get_ticket` and :meth:`get_date_inventory` of one tier in one read: what a
        ticket's calendar needs, in one call instead of two."""
        _check_range(start, end)
        now = self.clock()
        async with self.db.read() as tx:
            ticket = await _ticket_detail(tx, ticket_number, owner, now)
            days = await repo.inventory(tx, start, end, tier, now, self.capacity.as_dict())
        return TicketInventory(ticket=ticket, days=days)

    async def issue_ticket(
        self,
        *,
        customer_id: str,
        ticket_type: TicketType,
        visit_date: date,
        price_cents: int,
        currency: str,
        idempotency_key: str,
        caller: str,
    ) -> Ticket:
        arguments = {
            "customer_id": customer_id,
            "ticket_type": ticket_type,
            "visit_date": visit_date.isoformat(),
            "price_cents": price_cents,
            "currency": currency,
        }

        async def work(tx: Transaction) -> Ticket:
            await _customer(tx, customer_id)
            for _ in range(5):
                created = await repo.insert_ticket(
                    tx,
                    {
                        "ticket_number": f"TKT-{new_code(10)}",
                        "customer_id": customer_id,
                        "ticket_type": ticket_type,
                        "status": "active",
                        "visit_date": visit_date,
                        "original_price_cents": price_cents,
                        "currency": currency,
                        "now": self.clock(),
                    },
                )
                if created is not None:
                    return created
            raise RuntimeError("could not draw a free ticket number")

        return await self.idempotency.run_once(
            self.db,
            caller=caller,
            tool="issue_ticket",
            key=idempotency_key,
            arguments=arguments,
            model=Ticket,
            work=work,
        )

    # Capacity ---------------------------------------------------------------------------------

    async def get_date_inventory(self, start: date, end: date, tier: Tier | None) -> Inventory:
        _check_range(start, end)
        async with self.db.read() as tx:
            days = await repo.inventory(tx, start, end, tier, self.clock(), self.capacity.as_dict())
        return Inventory(days=days)

    async def set_capacity(self, day: date, tier: Tier, capacity: int) -> InventoryDay:
        now = self.clock()
        async with self.db.transaction() as tx:
            await repo.lock_capacity(tx, day, tier, self.capacity.of(tier))
            held, sold = await repo.seats_taken(tx, day, tier, now)
            if capacity < held + sold:
                raise DomainError(
                    CAPACITY_BELOW_COMMITTED,
                    f"{day} {tier} already has {sold} sold and {held} held seats; "
                    f"capacity cannot go below {held + sold}",
                )
            await repo.set_capacity(tx, day, tier, capacity, now)
        return InventoryDay(
            date=day,
            tier=tier,
            capacity=capacity,
            held=held,
            sold=sold,
            seats_left=capacity - held - sold,
        )

    # Orders -----------------------------------------------------------------------------------

    async def reserve_upgrade(
        self,
        *,
        ticket_number: str,
        tier: Tier,
        visit_date: date,
        prices: dict[TicketType, int],
        currency: str,
        hold_minutes: int,
        idempotency_key: str,
        caller: str,
        owner: str | None = None,
        ticket_visit_from: date | None = None,
    ) -> Order:
        """Holds a seat for the upgrade of a ticket of ``owner`` (any customer's when None)
        priced in ``prices`` whose visit is on or after ``ticket_visit_from``: the caller's
        conditions, checked under the ticket's lock, so that it needs no read of its own first.
        Another customer's ticket is TICKET_NOT_FOUND, as a missing one."""
        arguments = {
            "ticket_number": ticket_number,
            "tier": tier,
            "visit_date": visit_date.isoformat(),
            "prices": prices,
            "currency": currency,
            "hold_minutes": hold_minutes,
            "owner": owner,
            # Not ticket_visit_from: it moves on with the clock, and a retry that crosses
            # that moment still means the same hold.
        }

        async def work(tx: Transaction) -> Order:
            now = self.clock()
            ticket = await _ticket(tx, ticket_number, owner=owner, lock=True)
            # In the order the ticket server refuses in: no price (no upgrade path), not
            # active, too late; an open order only once everything else would allow it.
            amount_cents = prices.get(ticket.ticket_type)
            if amount_cents is None:
                raise DomainError(
                    TICKET_NOT_ELIGIBLE,
                    f"ticket {ticket_number} is a {ticket.ticket_type} ticket, which has no "
                    "price given",
                )
            if ticket.status != "active":
                raise DomainError(
                    TICKET_NOT_ACTIVE, f"ticket {ticket_number} is {ticket.status}, not active"
                )
            if ticket_visit_from is not None and ticket.visit_date < ticket_visit_from:
                raise DomainError(
                    TICKET_NOT_ELIGIBLE,
                    f"ticket {ticket_number} is for {ticket.visit_date}, before "
                    f"{ticket_visit_from}",
                )
            check = await repo.check_hold(
                tx, ticket_number, visit_date, tier, self.capacity.of(tier), now
            )
            # A ticket that already holds the last seat must hear that it has an order, not
            # that the date is sold out.
            if check.open_order is not None:
                raise _order_exists(ticket_number)
            # Decided without the capacity lock: when a burst of buyers meets a sold-out date,
            # each is told so at once instead of queueing for the lock behind all the others
            # (bench_race). A seat that looks free is counted again under the lock.
            if check.sold_out:
                raise _sold_out(tier, visit_date)
            capacity = await repo.lock_capacity(tx, visit_date, tier, self.capacity.of(tier))
            held, sold = await repo.seats_taken(tx, visit_date, tier, now)
            if held + sold >= capacity:
                raise _sold_out(tier, visit_date)
            try:
                return await repo.insert_order(
                    tx,
                    {
                        "order_id": new_id("ord"),
                        "ticket_number": ticket_number,
                        "customer_id": ticket.customer_id,
                        "tier": tier,
                        "visit_date": visit_date,
                        "amount_cents": amount_cents,
                        "currency": currency,
                        "hold_expires_at": now + timedelta(minutes=hold_minutes),
                        "previous_tier": ticket.upgrade_tier,
                        "previous_visit_date": ticket.visit_date,
                        "now": now,
                    },
                )
            except DatabaseError as exc:
                if exc.sqlstate == UNIQUE_VIOLATION:
                    raise _order_exists(ticket_number) from None
                raise

        return await self.idempotency.run_once(
            self.db,
            caller=caller,
            tool="reserve_upgrade",
            key=idempotency_key,
            arguments=arguments,
            model=Order,
            work=work,
        )

    async def get_order(self, order_id: str, owner: str | None = None) -> Order:
        """The order; with ``owner``, another customer's is ORDER_NOT_FOUND, as a missing one."""
        async with self.db.read() as tx:
            return await _order(tx, order_id, owner=owner)

    async def list_orders(
        self,
        *,
        customer_id: str | None,
        ticket_number: str | None,
        status: str | None,
        limit: int = MAX_LIST,
    ) -> OrderList:
        async with self.db.read() as tx:
            return OrderList(
                orders=await repo.orders(tx, customer_id, ticket_number, status, limit)
            )

    async def attach_payment(self, order_id: str, payment_intent_id: str) -> Order:
        # One conditional UPDATE makes the change; the read after it, only when it changed
        # nothing, takes a snapshot of its own inside a transaction too. So no transaction.
        async with self.db.autocommit() as tx:
            attached = await repo.attach_payment(tx, order_id, payment_intent_id, self.clock())
            if attached is not None:
                return attached
            # Nothing attached: say why, from the order as it is now.
            order = await _order(tx, order_id)
            if order.payment_intent_id == payment_intent_id:
                return order
            if order.payment_intent_id is not None:
                raise DomainError(
                    PAYMENT_MISMATCH,
                    f"order {order_id} is already paid through {order.payment_intent_id}",
                )
            raise DomainError(INVALID_STATE, f"order {order_id} is {order.status}")

    async def confirm_order(
        self, order_id: str, payment_intent_id: str, amount_cents: int
    ) -> Order:
        now = self.clock()
        async with self.db.transaction() as tx:
            order = await _lock_order_and_ticket(tx, order_id)
            if order.payment_intent_id not in (None, payment_intent_id):
                raise DomainError(
                    PAYMENT_MISMATCH,
                    f"order {order_id} belongs to payment {order.payment_intent_id}, "
                    f"not {payment_intent_id}",
                )
            if amount_cents != order.amount_cents:
                raise DomainError(
                    AMOUNT_MISMATCH,
                    f"order {order_id} costs {order.amount_cents} cents, "
                    f"the payment was {amount_cents}",
                )
            if order.status == "confirmed":
                return order
            if order.status != "awaiting_payment":
                raise DomainError(
                    HOLD_EXPIRED if order.status == "expired" else INVALID_STATE,
                    f"order {order_id} is {order.status} and can no longer be confirmed",
                )
            if now >= order.hold_expires_at:
                # The hold lapsed but was not swept yet: its seat is only ours if still free.
                capacity = await repo.lock_capacity(
                    tx, order.visit_date, order.tier, self.capacity.of(order.tier)
                )
                held, sold = await repo.seats_taken(
                    tx, order.visit_date, order.tier, now, excluding=order_id
                )
                if held + sold >= capacity:
                    raise DomainError(
                        HOLD_EXPIRED,
                        f"the hold of order {order_id} expired and the date is now sold out",
                    )
            return await repo.confirm_order(
                tx, order_id, payment_intent_id, f"UPG-{new_code(8)}", now
            )

    async def confirm_order_with_customer(
        self, order_id: str, payment_intent_id: str, amount_cents: int
    ) -> ConfirmedOrder:
        """:meth:`confirm_order`, answered with the order's customer: the paying service e-mails
        them the confirmation without a call of its own to look them up."""
        confirmed = await self.confirm_order(order_id, payment_intent_id, amount_cents)
        async with self.db.read() as tx:
            customer = await _customer(tx, confirmed.customer_id)
        return ConfirmedOrder(**confirmed.model_dump(), customer=customer)

    async def release_order(self, order_id: str, reason: ReleaseReason) -> Order:
        now = self.clock()
        async with self.db.transaction() as tx:
            order = await _order(tx, order_id, lock=True)
            if order.status == reason:
                return order
            if order.status != "awaiting_payment":
                raise DomainError(
                    INVALID_STATE,
                    f"order {order_id} is {order.status}; only an order awaiting payment "
                    "can be released (cancel a confirmed upgrade with a refund)",
                )
            if reason == "expired" and now < order.hold_expires_at:
                raise DomainError(
                    HOLD_ACTIVE,
                    f"the hold of order {order_id} lasts until {order.hold_expires_at.isoformat()}",
                )
            return await repo.update_order(
                tx, order_id, {"status": reason, "closed_at": now, "updated_at": now}
            )

    async def mark_refunded(self, order_id: str, refund_id: str) -> Order:
        now = self.clock()
        async with self.db.transaction() as tx:
            order = await _lock_order_and_ticket(tx, order_id)
            if order.status == "refunded":
                if order.refund_id != refund_id:
                    raise DomainError(
                        REFUND_MISMATCH, f"order {order_id} was refunded by {order.refund_id}"
                    )
                return order
            if order.status != "confirmed":
                raise DomainError(
                    INVALID_STATE,
                    f"order {order_id} is {order.status}; only confirmed orders are refunded",
                )
            previous_tier, previous_date = await repo.previous_state(tx, order_id)
            refunded = await repo.update_order(
                tx,
                order_id,
                {"status": "refunded", "refund_id": refund_id, "closed_at": now, "updated_at": now},
            )
            await repo.apply_upgrade(tx, order.ticket_number, previous_tier, previous_date, now)
            # A change under way of this upgrade cannot be applied any more: free its seat.
            await repo.release_held_changes(tx, order_id, "cancelled", now)
            return refunded

    async def expire_holds(self, limit: int = MAX_LIST) -> ExpiredHolds:
        async with self.db.transaction() as tx:
            return ExpiredHolds(expired=await repo.expire_due_holds(tx, self.clock(), limit))

    async def check_integrity(
        self, hold_grace: timedelta = timedelta(minutes=5)
    ) -> IntegrityReport:
        now = self.clock()
        violations: list[Violation] = []
        async with self.db.transaction() as tx:
            for r in await repo.oversold(tx, now, self.capacity.as_dict()):
                violations.append(
                    Violation(
                        kind="oversold",
                        ref=f"{r['visit_date']}/{r['tier']}",
                        detail=f"{r['taken']} seats taken of {r['capacity']}",
                    )
                )
            for r in await repo.ticket_order_mismatches(tx):
                violations.append(
                    Violation(
                        kind="ticket_order_mismatch",
                        ref=r["order_id"],
                        detail=f"order says {r['tier']} on {r['visit_date']}, ticket "
                        f"{r['ticket_number']} says {r['upgrade_tier']} "
                        f"on {r['ticket_visit_date']}",
                    )
                )
            for r in await repo.upgrades_without_order(tx):
                violations.append(
                    Violation(
                        kind="upgrade_without_order",
                        ref=r["ticket_number"],
                        detail=f"ticket is upgraded to {r['upgrade_tier']} "
                        "without a confirmed order",
                    )
                )
            for r in await repo.stale_holds(tx, now - hold_grace):
                violations.append(
                    Violation(
                        kind="stale_hold",
                        ref=r["order_id"],
                        detail=f"hold expired at {r['hold_expires_at'].isoformat()} "
                        "but the order still awaits payment",
                    )
                )
        return IntegrityReport(ok=not violations, violations=violations)


def _sold_out(tier: Tier, visit_date: date) -> DomainError:
    return DomainError(SOLD_OUT, f"no {tier} seats left on {visit_date}")


def _order_exists(ticket_number: str) -> DomainError:
    return DomainError(
        ORDER_EXISTS,
        f"ticket {ticket_number} already has an open upgrade order "
        "(a live hold or a confirmed upgrade)",
    )


async def _customer(tx: Transaction, customer_id: str) -> Customer:
    customer = await repo.customer_by_id(tx, customer_id)
    if customer is None:
        raise DomainError(CUSTOMER_NOT_FOUND, f"no customer {customer_id}")
    return customer


def _no_ticket(ticket_number: str) -> DomainError:
    return DomainError(TICKET_NOT_FOUND, f"no ticket {ticket_number}")


async def _ticket(
    tx: Transaction, ticket_number: str, *, owner: str | None = None, lock: bool = False
) -> Ticket:
    ticket = await repo.ticket(tx, ticket_number, owner=owner, lock=lock)
    if ticket is None:
        raise _no_ticket(ticket_number)
    return ticket


async def _ticket_detail(
    tx: Transaction, ticket_number: str, owner: str | None, now: datetime
) -> TicketDetail:
    """The ticket with its open order; with ``owner``, another customer's is TICKET_NOT_FOUND."""
    detail = await repo.ticket_detail(tx, ticket_number, owner, now)
    if detail is None:
        raise _no_ticket(ticket_number)
    return detail


def _check_range(start: date, end: date) -> None:
    if end < start:
        raise invalid_argument("end_date must not be before start_date")
    if (end - start).days + 1 > MAX_INVENTORY_DAYS:
        raise invalid_argument(f"a range covers at most {MAX_INVENTORY_DAYS} days")


async def _order(
    tx: Transaction, order_id: str, *, owner: str | None = None, lock: bool = False
) -> Order:
    order = await repo.order(tx, order_id, owner=owner, lock=lock)
    if order is None:
        raise DomainError(ORDER_NOT_FOUND, f"no order {order_id}")
    return order


async def _lock_order_and_ticket(tx: Transaction, order_id: str) -> Order:
    """Locks an order's ticket, then the order: the lock order ``reserve_upgrade`` uses too,
    so that writers of the same ticket queue up instead of deadlocking."""
    await repo.lock_ticket_of_order(tx, order_id)
    return await _order(tx, order_id, lock=True)  # ORDER_NOT_FOUND when nothing was locked


__all__ = ["NOT_FOUND", "CapacityDefaults", "DataService"]
