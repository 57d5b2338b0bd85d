"""Demo data for development: five customers with tickets of every type and status.

Idempotent (fixed ids, ``ON CONFLICT DO NOTHING``) and relative to the day it first runs, so a
fresh database always has tickets to upgrade. A second run changes nothing, which keeps any
upgrades made meanwhile.
"""

from __future__ import annotations

import hashlib
from base64 import b32encode
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


def seed_id(prefix: str, name: str) -> str:
    """A stable id of the same shape as random ones, so seeded rows pass every CHECK."""
    digest = b32encode(hashlib.sha256(name.encode()).digest()).decode().lower()
    return f"{prefix}_{digest[:26]}"


async def seed(db: Database, today: date) -> int:
    """Insert whatever of the seed is missing; returns the number of rows inserted."""
    inserted = 0
    created = datetime.combine(today, time(0, 0), tzinfo=UTC)
    async with db.transaction() as tx:
        for email, (name, tickets) in CUSTOMERS.items():
            customer_id = seed_id("cus", email)
            inserted += await tx.execute(
                "INSERT INTO data.customers (customer_id, email, full_name, created_at) "
                "VALUES (:id, :email, :name, :at) ON CONFLICT DO NOTHING",
                {"id": customer_id, "email": email, "name": name, "at": created},
            )
            for t in tickets:
                inserted += await _seed_ticket(tx, customer_id, t, today, created)
    return inserted


async def _seed_ticket(
    tx: Transaction, customer_id: str, t: SeedTicket, today: date, created: datetime
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
    if count and t.upgraded_to:
        count += await tx.execute(
            "INSERT INTO data.upgrade_orders (order_id, ticket_number, customer_id, tier,"
            " visit_date, amount_cents, currency, status, hold_expires_at, payment_intent_id,"
            " confirmation_code, previous_tier, previous_visit_date, created_at, updated_at,"
            " confirmed_at) "
            "VALUES (:o, :n, :c, :tier, :visit, :amount, 'USD', 'confirmed', :hold, :pi, :code,"
            " NULL, :visit, :at, :at, :at) ON CONFLICT DO NOTHING",
            {
                "o": seed_id("ord", t.number),
                "n": t.number,
                "c": customer_id,
                "tier": t.upgraded_to,
                "visit": visit,
                "amount": UPGRADE_PRICES[(t.ticket_type, t.upgraded_to)],
                "hold": created + timedelta(minutes=15),
                "pi": "pi_seed" + t.number.replace("-", ""),
                "code": "UPG-SEED" + t.number[-4:],
                "at": created,
            },
        )
    return count
