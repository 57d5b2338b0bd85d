"""Demo data for development: five customers with tickets of every type and status.

Idempotent (fixed ids, ``ON CONFLICT DO NOTHING``) and relative to the day it first runs, so a
fresh database always has tickets to upgrade. A second run changes nothing, which keeps any
upgrades made meanwhile.

A seeded upgrade is paid through the payment server's own code (``pay``, which the caller
supplies: this server does not know the payment server), so that its payment can be refunded
like any other; a made-up payment id once made the seeded upgrade impossible to cancel.
"""

from __future__ import annotations

import hashlib
from base64 import b32encode
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from servers.core.db import Database, Json, Transaction


@dataclass(frozen=True)
class SeedTicket:
    number: str
    ticket_type: str
    status: str
    days_ahead: int
    price_cents: int
    upgraded_to: str | None = None


CUSTOMERS: dict[str, tuple[str, list[SeedTicket]]] = {
    "john.doe@example.com": (
        "John Doe",
        [
            SeedTicket("TKT-JD0001", "general", "active", 10, 4900),
            SeedTicket("TKT-JD0002", "standard", "active", 30, 6900),
            SeedTicket("TKT-JD0003", "vip", "active", 45, 9900),
            SeedTicket("TKT-JD0004", "premium", "active", 20, 14900),
        ],
    ),
    "jane.smith@example.com": (
        "Jane Smith",
        [
            SeedTicket("TKT-JS0001", "general", "active", 0, 4900),
            SeedTicket("TKT-JS0002", "standard", "used", -10, 6900),
            SeedTicket("TKT-JS0003", "general", "active", 14, 4900, upgraded_to="non_stop"),
        ],
    ),
    "bob.johnson@example.com": (
        "Bob Johnson",
        [
            SeedTicket("TKT-BJ0001", "general", "cancelled", 5, 4900),
            SeedTicket("TKT-BJ0002", "vip", "expired", -30, 9900),
            SeedTicket("TKT-BJ0003", "general", "active", 3, 4900),
        ],
    ),
    "alice.brown@example.com": (
        "Alice Brown",
        [
            SeedTicket("TKT-AB0001", "standard", "active", 7, 6900),
            SeedTicket("TKT-AB0002", "premium", "active", 60, 14900),
        ],
    ),
    "charlie.wilson@example.com": (
        "Charlie Wilson",
        [
            SeedTicket("TKT-CW0001", "general", "active", 25, 4900),
            SeedTicket("TKT-CW0002", "vip", "active", 2, 9900),
        ],
    ),
}

UPGRADE_PRICES = {("general", "non_stop"): 5000}


@dataclass(frozen=True)
class SeededUpgrade:
    """A confirmed upgrade of the seed, to be paid before it is recorded."""

    order_id: str
    ticket_number: str
    customer_id: str
    tier: str
    visit_date: date
    amount_cents: int
    currency: str


PayForUpgrade = Callable[[SeededUpgrade], Awaitable[str]]
"""Pays a seeded upgrade (idempotently: the same upgrade twice is one payment) and returns the
id of its succeeded payment intent."""


def seed_id(prefix: str, name: str) -> str:
    """A stable id of the same shape as random ones, so seeded rows pass every CHECK."""
    digest = b32encode(hashlib.sha256(name.encode()).digest()).decode().lower()
    return f"{prefix}_{digest[:26]}"


async def seed(db: Database, today: date, *, pay: PayForUpgrade) -> int:
    """Insert whatever of the seed is missing; returns the number of rows inserted."""
    inserted = 0
    created = datetime.combine(today, time(0, 0), tzinfo=UTC)
    paid = await _pay_missing_upgrades(db, today, pay)
    async with db.transaction() as tx:
        for email, (name, tickets) in CUSTOMERS.items():
            customer_id = seed_id("cus", email)
            inserted += await tx.execute(
                "INSERT INTO data.customers (customer_id, email, full_name, created_at) "
                "VALUES (:id, :email, :name, :at) ON CONFLICT DO NOTHING",
                {"id": customer_id, "email": email, "name": name, "at": created},
            )
            for t in tickets:
                inserted += await _seed_ticket(tx, customer_id, t, today, created, paid)
    return inserted


def _upgrade(customer_id: str, t: SeedTicket, today: date) -> SeededUpgrade | None:
    if t.upgraded_to is None:
        return None
    return SeededUpgrade(
        order_id=seed_id("ord", t.number),
        ticket_number=t.number,
        customer_id=customer_id,
        tier=t.upgraded_to,
        visit_date=today + timedelta(days=t.days_ahead),
        amount_cents=UPGRADE_PRICES[(t.ticket_type, t.upgraded_to)],
        currency="USD",
    )


async def _pay_missing_upgrades(db: Database, today: date, pay: PayForUpgrade) -> dict[str, str]:
    """The payment intent of each seeded upgrade whose ticket is still to be inserted, paid
    before the seed's transaction: paying goes through the payment server's own connections,
    which a transaction held open here could starve."""
    paid: dict[str, str] = {}
    for email, (_, tickets) in CUSTOMERS.items():
        for t in tickets:
            upgrade = _upgrade(seed_id("cus", email), t, today)
            if upgrade is None:
                continue
            async with db.read() as tx:
                present = await tx.fetch_one(
                    "SELECT 1 FROM data.tickets WHERE ticket_number = :n", {"n": t.number}
                )
            if present is None:
                paid[t.number] = await pay(upgrade)
    return paid


async def _seed_ticket(
    tx: Transaction,
    customer_id: str,
    t: SeedTicket,
    today: date,
    created: datetime,
    paid: dict[str, str],
) -> int:
    visit = today + timedelta(days=t.days_ahead)
    count = await tx.execute(
        "INSERT INTO data.tickets (ticket_number, customer_id, ticket_type, status, visit_date,"
        " upgrade_tier, original_price_cents, currency, metadata, created_at, updated_at) "
        "VALUES (:n, :c, :type, :status, :visit, :tier, :price, 'USD', :meta, :at, :at) "
        "ON CONFLICT DO NOTHING",
        {
            "n": t.number,
            "c": customer_id,
            "type": t.ticket_type,
            "status": t.status,
            "visit": visit,
            "tier": t.upgraded_to,
            "price": t.price_cents,
            "meta": Json({"seeded": True}),
            "at": created,
        },
    )
    upgrade = _upgrade(customer_id, t, today)
    if count and upgrade is not None:
        payment_intent_id = paid.get(t.number)
        if payment_intent_id is None:
            # Inserted by this run though present when the payments were made: a concurrent
            # seed removed it meanwhile. Rolling back leaves no unpaid upgrade behind.
            raise RuntimeError(f"the seeded upgrade of {t.number} has not been paid")
        count += await tx.execute(
            "INSERT INTO data.upgrade_orders (order_id, ticket_number, customer_id, tier,"
            " visit_date, amount_cents, currency, status, hold_expires_at, payment_intent_id,"
            " confirmation_code, previous_tier, previous_visit_date, created_at, updated_at,"
            " confirmed_at) "
            "VALUES (:o, :n, :c, :tier, :visit, :amount, 'USD', 'confirmed', :hold, :pi, :code,"
            " NULL, :visit, :at, :at, :at) ON CONFLICT DO NOTHING",
            {
                "o": upgrade.order_id,
                "n": t.number,
                "c": customer_id,
                "tier": upgrade.tier,
                "visit": visit,
                "amount": upgrade.amount_cents,
                "hold": created + timedelta(minutes=15),
                "pi": payment_intent_id,
                "code": "UPG-SEED" + t.number[-4:],
                "at": created,
            },
        )
    return count
